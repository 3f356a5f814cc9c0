"""Names that configs and the library share, in a module that imports nothing (so a config can
read them without importing jax)."""

# Coordinate-field models (``siren_jax.models.fields.make_field_model``).
FIELD_MODELS = ('siren', 'relu', 'tanh', 'relu_pe')
# Activation schedules of the conv colouriser (``siren_jax.colorize.colorizers``), and every
# colouriser: the schedules plus the fully connected SIREN 'FC'.
COLORIZER_SCHEDULES = ('FR', 'SRS', 'S130')
COLORIZER_MODELS = (*COLORIZER_SCHEDULES, 'FC')
# Parameter layouts on a device mesh (``siren_jax.sharding``).
PARAM_SHARDINGS = ('replicate', 'shard_kernels')
# Compute dtypes of a field model's hidden-layer matmuls (``siren_jax.layers.matmul``).
COMPUTE_DTYPES = ('float32', 'bfloat16')
# How sine layers compute sin (``siren_jax.fast_sine.sine``): per platform, or forced.
SINES = ('auto', 'fast_sine', 'jnp')
# Ways to colourise from hints (``siren_jax.colorize.levin``, ``siren_jax.colorize.hint_field``).
HINT_METHODS = ('levin', 'siren')
# Grid conventions: where the pixel centres of an image sit in [-1, 1]^2 (``siren_jax.grids``).
GRIDS = ('half_pixel', 'linspace')
# Resize methods of ``siren_jax.images.resize``: scikit-image bicubic with Gaussian
# anti-aliasing, or the SIREN reference's preparation (PIL bilinear, as torchvision's Resize).
RESIZE_METHODS = ('bicubic', 'reference')
