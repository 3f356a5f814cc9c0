"""A finished run started again in the same workdir restores its last checkpoint and returns."""

import jax
import jax.numpy as jnp
import optax

from siren_jax import checkpoints, fitting, grids, training
from siren_jax.models import fields


def test_rerunning_a_finished_run_resumes_without_saving_again(tmp_path):
  model = fields.make_field_model('siren', out_features=1, hidden_features=8, hidden_layers=1)
  coords, values = grids.image_to_samples(jnp.zeros((4, 4, 1)))
  step = training.make_train_step(fitting.image_loss)

  def run():
    state = training.create_train_state(model, jax.random.PRNGKey(0), coords, optax.adam(1e-3))
    manager = checkpoints.make_manager(str(tmp_path))
    try:
      return training.train_loop(state, step, lambda _: {'coords': coords, 'values': values},
                                 num_steps=3, checkpoint_manager=manager)
    finally:
      manager.close()

  first = run()
  again = run()  # Used to fail: orbax refuses to save step 3 twice.
  assert first.resumed_from is None and again.resumed_from == 3
  assert int(again.state.step) == 3
