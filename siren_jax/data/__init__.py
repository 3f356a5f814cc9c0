"""Photo sources and input pipelines.

``photos``: the colourisation pipeline (embedded photos, a folder or a TFDS data dir -> Lab
batches). Its names are re-exported here, so ``from siren_jax import data; data.Pipeline(...)``
reads as before.
"""

from siren_jax.data.photos import (EMBEDDED_SIDE_FACTOR, IMAGE_EXTENSIONS, NATURAL_PHOTOS, PHOTOS,
                                   SPLITS, SYNTHETIC_PHOTOS, TRAIN_SIDE_FACTOR, Pipeline,
                                   check_process_split, open_source, photo_short_side,
                                   photo_views, split_groups, split_indices, to_model_arrays)

__all__ = ['EMBEDDED_SIDE_FACTOR', 'IMAGE_EXTENSIONS', 'NATURAL_PHOTOS', 'PHOTOS', 'SPLITS',
           'SYNTHETIC_PHOTOS', 'TRAIN_SIDE_FACTOR', 'Pipeline', 'check_process_split',
           'open_source', 'photo_short_side', 'photo_views', 'split_groups', 'split_indices',
           'to_model_arrays']
