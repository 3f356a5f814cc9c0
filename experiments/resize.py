r"""Resizes images through the coordinate grid: SIREN super-resolution vs classical resampling.

  python -m experiments.resize --config=experiments/configs/resize.py --workdir=/tmp/resize
  python -m experiments.resize --config=experiments/configs/resize.py --workdir=/tmp/rp \
      --config.photos=corpus:test --config.data_dir=/tmp/siren_photos \
      --config.model_file=/tmp/sr/model.sr   # every method on the corpus's test photos
  python -m experiments.resize --config=experiments/configs/resize.py:upscale \
      --workdir=/tmp/up --config.input=photo.png --config.factor=3 --config.output=/tmp/big.png
  python -m experiments.resize --config=experiments/configs/resize.py:upscale \
      --workdir=/tmp/up2 --config.input=/tmp/up/fitted.inr --config.out_width=2000
  python -m experiments.resize --config=experiments/configs/resize.py:upscale \
      --workdir=/tmp/up3 --config.input=photo.png --config.factor=2.5 \
      --config.method=learned --config.model_file=/tmp/sr/model.sr   # experiments.sr trains it
"""

from experiments import common, resize_lib

if __name__ == '__main__':
  common.run(resize_lib.train_and_evaluate, default_config='experiments/configs/resize.py')
