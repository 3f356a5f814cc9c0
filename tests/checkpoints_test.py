"""siren_jax.checkpoints on plain pytrees: exact round trip, retention, paths, empty directories."""

import logging
import os

import numpy as np
import pytest

from siren_jax import checkpoints


def _state(scale):
  return {'w': np.arange(6, dtype=np.float32).reshape(2, 3) * scale,
          'step': np.array(int(scale), np.int32)}


def test_round_trip_restores_the_newest_state_and_record_exactly(tmp_path):
  manager = checkpoints.make_manager(str(tmp_path / 'new' / 'dir'))  # Created on demand.
  checkpoints.save(manager, 1, _state(1.5), {'history': [{'step': 1, 'loss': 0.25}]})
  checkpoints.save(manager, 2, _state(2.0), {'history': [{'step': 2, 'loss': 0.125}]}, wait=True)
  state, record = checkpoints.restore_latest(manager, _state(0.0))
  np.testing.assert_array_equal(state['w'], _state(2.0)['w'])
  assert int(state['step']) == 2 and record == {'history': [{'step': 2, 'loss': 0.125}]}
  manager.close()


def test_only_the_last_two_checkpoints_are_kept_by_default(tmp_path):
  manager = checkpoints.make_manager(str(tmp_path))
  for step in range(1, 5):
    checkpoints.save(manager, step, _state(step), {}, wait=True)
  assert list(manager.all_steps()) == [3, 4]
  assert sorted(d for d in os.listdir(tmp_path) if d.isdigit()) == ['3', '4']
  manager.close()


def test_relative_directories_are_made_absolute(tmp_path, monkeypatch):
  monkeypatch.chdir(tmp_path)
  manager = checkpoints.make_manager('relative/ckpt')
  assert str(manager.directory) == os.path.join(str(tmp_path), 'relative', 'ckpt')
  checkpoints.save(manager, 7, _state(1.0), {'note': 'x'}, wait=True)
  assert os.path.isdir(tmp_path / 'relative' / 'ckpt' / '7')
  manager.close()


def test_an_empty_directory_restores_nothing_and_a_wrong_template_is_one_line(tmp_path):
  manager = checkpoints.make_manager(str(tmp_path))
  assert checkpoints.restore_latest(manager, _state(0.0)) is None
  checkpoints.save(manager, 1, _state(1.0), {}, wait=True)
  with pytest.raises(ValueError, match='does not match') as e:
    checkpoints.restore_latest(manager, {'other': np.zeros(3, np.float32)})
  assert '\n' not in str(e.value)
  manager.close()


def test_set_aside_newer_moves_only_the_steps_after_the_restored_one(tmp_path):
  manager = checkpoints.make_manager(str(tmp_path), max_to_keep=None)
  for step in (5, 10, 15):
    checkpoints.save(manager, step, _state(step), {}, wait=True)
  assert checkpoints.set_aside_newer(manager, 5) == [10, 15]
  assert list(manager.all_steps()) == [5]
  assert sorted(os.listdir(tmp_path)) == ['10.damaged', '15.damaged', '5']
  assert checkpoints.set_aside_newer(manager, 5) == []  # Nothing newer left: nothing moves.
  manager.close()


def test_error_lines_are_cut_at_the_spec_dump_and_at_200_characters():
  line = 'cannot read x [tensorstore_spec={"driver": "zarr"}]'
  assert checkpoints._short(line) == 'cannot read x'
  cut = checkpoints._short('e' * 250)
  assert len(cut) == 200 and cut == 'e' * 197 + '...'
  assert checkpoints._short('e' * 200) == 'e' * 200


def _unretrieved_filters():
  return [f for f in logging.getLogger('asyncio').filters
          if isinstance(f, checkpoints._UnretrievedFilter)]


def test_quiet_failed_reads_drops_only_the_closed_loop_noise_and_quiets_asyncio_on_failure(
    capfd):
  asyncio_logger = logging.getLogger('asyncio')
  for f in _unretrieved_filters():
    asyncio_logger.removeFilter(f)
  # A restore attempt that succeeds: its stderr comes back whole, asyncio is left alone.
  with checkpoints._quiet_failed_reads(grace_seconds=0.0):
    os.write(2, b'orbax says hello\n')
  assert capfd.readouterr().err == 'orbax says hello\n'
  assert not _unretrieved_filters()
  # One that fails: the closed-loop noise is dropped, other lines kept, and asyncio's reports of
  # never-retrieved exceptions are filtered from then on.
  noise = ''.join(line + '\n' for line in checkpoints._LOOP_NOISE)
  with pytest.raises(OSError):
    with checkpoints._quiet_failed_reads(grace_seconds=0.0):
      os.write(2, f'first\n{noise}last\n'.encode())
      raise OSError('unreadable')
  assert capfd.readouterr().err == 'first\nlast\n'
  os.write(2, b'stderr is back\n')  # Both attempts gave file descriptor 2 back.
  assert capfd.readouterr().err == 'stderr is back\n'
  assert len(_unretrieved_filters()) == 1
  record = logging.LogRecord('asyncio', logging.ERROR, __file__, 1,
                             'Future exception was never retrieved', None, None)
  assert not asyncio_logger.filter(record)
  other = logging.LogRecord('asyncio', logging.ERROR, __file__, 1, 'Task was destroyed', None,
                            None)
  assert asyncio_logger.filter(other)  # asyncio's other errors still reach the log.
