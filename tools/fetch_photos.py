r"""Fetches the photo corpus and builds it as the tfds dataset siren_photos (docs/corpus.md).

  python -m tools.fetch_photos --data_dir=~/tensorflow_datasets          # the corpus
  python -m tools.fetch_photos --data_dir=/data --folder=~/photos        # your own photos
  python -m tools.fetch_photos --data_dir=/data --folder=~/photos --splits=train,test

Downloads the manifest's Debian packages with `apt-get download` (no root), unpacks them with
`dpkg-deb -x`, takes the Python packages' photos from the installed packages, verifies every
file against siren_jax/data/corpus_manifest.json (sha256, size), builds
DATA_DIR/siren_photos/corpus/VERSION and prints photos, files and megapixels per split. Bad
input is one `error: ...` line and exit status 2, with nothing half-built left behind.
"""

from absl import app, flags, logging

from experiments import common
from siren_jax.data import corpus

flags.DEFINE_string('data_dir', None, 'tfds data dir to build siren_photos in (required).')
flags.DEFINE_string('folder', None, "Build the 'folder' config from the image files under this "
                    'folder instead of fetching the corpus.')
flags.DEFINE_list('splits', list(corpus.SPLITS), 'With --folder: the splits to make.')
flags.DEFINE_bool('allow_mismatch', False, 'Build from the kept files that match the manifest '
                  'when others differ or are missing.')
flags.DEFINE_string('download_dir', None, 'Keep the downloaded .deb files here for the next run '
                    '(default: a temporary folder, deleted).')
flags.DEFINE_string('manifest', None, 'Another manifest file (default: the packaged one).')
FLAGS = flags.FLAGS


def print_summary(summary: dict[str, dict[str, float]]) -> None:
  print(f'{"split":<12}{"photos":>8}{"files":>8}{"megapixels":>12}')
  for split, row in summary.items():
    print(f'{split:<12}{row["photos"]:>8}{row["files"]:>8}{row["megapixels"]:>12.2f}')
  total = {k: sum(row[k] for row in summary.values()) for k in ('photos', 'files', 'megapixels')}
  print(f'{"total":<12}{total["photos"]:>8}{total["files"]:>8}{total["megapixels"]:>12.2f}')


@common.main_with_clean_errors
def main(argv: list[str]) -> None:
  del argv  # Checked by main_with_clean_errors.
  logging.set_verbosity(logging.WARNING)  # tfds logs every file it writes at INFO.
  if not FLAGS.data_dir:
    raise ValueError('--data_dir is required (the tfds data dir to build siren_photos in)')
  summary = corpus.fetch_and_build(
      FLAGS.data_dir, folder=FLAGS.folder, splits=FLAGS.splits,
      allow_mismatch=FLAGS.allow_mismatch, download_dir=FLAGS.download_dir,
      manifest=FLAGS.manifest, log=lambda line: print(line, flush=True))
  print_summary(summary)


if __name__ == '__main__':
  app.run(main, flags_parser=common.parse_flags_cleanly)
