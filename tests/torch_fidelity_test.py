"""siren_jax and the SIREN reference in PyTorch, side by side: the same initial weights, the same
image and grid, the same optimiser; their losses must agree step by step.

Skipped without PyTorch (``pip install -e '.[bench]'``; .ci/run installs it). The PyTorch network
is ``bench.common.torch_siren``: ``nn.Linear`` layers and ``sin(omega0 * linear(x))`` as the
reference's ``explore_siren.ipynb`` writes them, holding a copy of siren_jax's weights; its loop
is the notebook's (zero_grad, MSE over the full image, backward, ``torch.optim.Adam`` step).
"""

import os

import jax
import numpy as np
import optax
import pytest

from siren_jax import fitting, grids, images, layers, models, training
from siren_jax.models import fields

# Before torch's first import, as bench.common.try_import_torch does: spinning OpenMP threads
# starve each other on a shared CPU.
os.environ.setdefault('OMP_WAIT_POLICY', 'PASSIVE')
torch = pytest.importorskip('torch')
from bench import common  # noqa: E402  pylint: disable=g-import-not-at-top

SIZE, STEPS, LEARNING_RATE = 32, 50, 1e-4
# Float32 in both, summed in different orders (256-term dot products, the mean of 1024 squared
# errors): the first losses agree to ~1e-7 relative. Adam then turns rounding into whole steps
# for weights whose gradient is near zero (m / sqrt(v) is +-1 for any tiny gradient), and the
# loss falls ~2000x in these 50 steps, so the same absolute difference weighs more: measured up
# to 9e-5 relative (step 30) on a 2-core CPU, jax 0.10.2, torch 2.13.0. 1e-3 leaves 10x for
# other machines and library versions, and is 3x below the smallest deliberate change tried:
# Adam's eps 1e-6 instead of 1e-8 gave 3.6e-3, eps under the square root (optax's eps_root)
# 1.2e-2, a learning rate 1% larger 2.8e-2.
RELATIVE_TOLERANCE = 1e-3


@pytest.fixture(scope='module')
def problem():
  """The reference's preparation of the 32x32 cameraman (PIL bilinear, linspace grid), the
  reference's network shape (width 256, 3 hidden layers) and its initial weights."""
  image = images.load_image('camera', mode='grey', size=SIZE, resize_method='reference')
  coords, values = grids.image_to_samples(image, 'linspace')
  model = fields.make_field_model('siren', out_features=1, hidden_features=256, hidden_layers=3)
  params = fields.init_params(model, jax.random.PRNGKey(0))
  return model, params, {'coords': coords, 'values': values}


def jax_losses(problem, tx: optax.GradientTransformation) -> np.ndarray:
  """The loss before each of STEPS full-image steps of siren_jax's train step."""
  model, params, batch = problem
  state = training.TrainState.create(apply_fn=models.apply_fn(model), params=params, tx=tx)
  step = training.make_train_step(fitting.image_loss, donate=False)
  losses = []
  for _ in range(STEPS):
    state, metrics = step(state, batch)
    losses.append(float(metrics['loss']))
  return np.asarray(losses)


@pytest.fixture(scope='module')
def torch_losses(problem):
  """The reference's loop from the same weights: the loss before each of STEPS Adam steps."""
  _, params, batch = problem
  torch.manual_seed(0)
  net = common.torch_siren(layers.flax_params_to_list(jax.device_get(params)))
  optimizer = torch.optim.Adam(net.parameters(), lr=LEARNING_RATE)
  coords = torch.from_numpy(np.array(batch['coords']))
  values = torch.from_numpy(np.array(batch['values']))
  losses = []
  for _ in range(STEPS):
    optimizer.zero_grad()
    loss = ((net(coords) - values) ** 2).mean()
    loss.backward()
    optimizer.step()
    losses.append(loss.item())
  return np.asarray(losses)


def test_losses_agree_with_the_pytorch_reference_at_every_step(problem, torch_losses):
  ours = jax_losses(problem, optax.adam(LEARNING_RATE))
  assert torch_losses[-1] < torch_losses[0] / 100  # The fit moves: the comparison means something.
  relative = np.abs(ours - torch_losses) / torch_losses
  assert relative.max() < RELATIVE_TOLERANCE, (
      f'step {relative.argmax()}: ours {ours[relative.argmax()]:.6g}, PyTorch '
      f'{torch_losses[relative.argmax()]:.6g} (relative {relative.max():.2g})')


@pytest.mark.slow
def test_the_tolerance_rejects_adams_eps_under_the_square_root(problem, torch_losses):
  # sqrt(v_hat + eps) instead of PyTorch's (and optax.adam's) sqrt(v_hat) + eps.
  misplaced = optax.chain(optax.scale_by_adam(eps=0.0, eps_root=1e-8),
                          optax.scale(-LEARNING_RATE))
  relative = np.abs(jax_losses(problem, misplaced) - torch_losses) / torch_losses
  assert relative.max() > RELATIVE_TOLERANCE
