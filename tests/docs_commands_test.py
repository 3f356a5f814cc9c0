"""Every ``python -m experiments...`` command in README.md and docs/*.md parses: its
``--config=FILE[:VARIANT]`` (or the entry point's default config) loads and every
``--config.*`` override names a field of it with a value of the field's type. Nothing trains:
the overrides go through ml_collections' flag machinery on a fresh set of flags, as the entry
points' own parser applies them, so a renamed config field cannot silently break a doc; and the
entry point's own config check accepts the result, so a documented command is a valid run."""

import glob
import os
import re
import shlex
from typing import Callable

import ml_collections
import pytest
from absl import flags
from ml_collections import config_flags

from experiments import fit_image_lib, resize_lib
from experiments.colorize import train as colorize_train
from experiments.meta import train as meta_train
from experiments.poisson import train as poisson_train
from experiments.reproduce import run as reproduce_run
from experiments.sr import train as sr_train

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOCS = ['README.md', *sorted(os.path.relpath(p, REPO_ROOT)
                             for p in glob.glob(os.path.join(REPO_ROOT, 'docs', '*.md')))]
FENCE = re.compile(r'^```[^\n]*\n(.*?)^```', re.DOTALL | re.MULTILINE)
# A fenced command line starts with the command (after an optional shell prompt or `&&`); prose in a
# fenced block (the README's layout tree) may mention one without being one.
COMMAND = re.compile(r'(?:^\s*(?:\$\s*)?|&&\s*)python3? -m experiments\.')
INLINE = re.compile(r'`([^`]*python3? -m experiments\.[^`]*)`')


def _command_lines(text: str) -> list[str]:
  """Fenced lines (joined across trailing-backslash continuations; a fenced line of bare
  ``--flags`` extends the command above it, as an alternative) and inline code spans (joined
  across line breaks) that run ``python -m experiments...``."""
  commands = []
  for block in FENCE.findall(text):
    last = None
    for line in block.replace('\\\n', ' ').splitlines():
      if COMMAND.search(line):
        last = line.split('#')[0]
        commands.append(line)
      elif last and line.strip().startswith('--'):
        commands.append(f'{last} {line}')
  outside = FENCE.sub('', text)
  commands += [span.replace('\n', ' ') for span in INLINE.findall(outside)]
  return commands


def _doc_commands() -> list[tuple[str, str]]:
  return [(doc, command) for doc in DOCS
          for command in _command_lines(open(os.path.join(REPO_ROOT, doc)).read())]


def _entry_point_default_config(module: str) -> str:
  """The config file an entry point uses without --config (its ``default_config=``)."""
  path = os.path.join(REPO_ROOT, *module.split('.'))
  source_file = path + '.py' if os.path.exists(path + '.py') else os.path.join(path, '__main__.py')
  with open(source_file) as f:
    found = re.search(r"default_config='([^']+)'", f.read())
  assert found, f'{module} names no default_config'
  return found.group(1)


def _parse(command: str):
  """(the config after the command's --config and --config.* flags, {overridden field: value})."""
  tokens = shlex.split(command, comments=True)
  start = tokens.index('-m') + 1
  module, arguments = tokens[start], tokens[start + 1:]
  argv, i = [module], 0
  while i < len(arguments):  # Only the config flags: the others are the entry point's own.
    name = arguments[i].lstrip('-').split('=', 1)[0]
    if arguments[i].startswith('-') and (name == 'config' or name.startswith('config.')):
      argv.append(arguments[i])
      if '=' not in arguments[i] and i + 1 < len(arguments):
        argv.append(arguments[i + 1])
        i += 1
    i += 1
  flag_values = flags.FlagValues()
  config_flags.DEFINE_config_file('config', _entry_point_default_config(module),
                                  flag_values=flag_values, lock_config=True, sys_argv=argv)
  flag_values(argv)
  overrides = config_flags.get_override_values(flag_values['config'])
  return flag_values.config, overrides, [a.lstrip('-').split('=', 1)[0][len('config.'):]
                                         for a in argv if a.lstrip('-').startswith('config.')]


COMMANDS = _doc_commands()


def _module(command: str) -> str:
  tokens = shlex.split(command, comments=True)
  return tokens[tokens.index('-m') + 1]


def test_the_docs_hold_commands_of_every_entry_point():
  assert len(COMMANDS) > 40, COMMANDS
  assert {f'experiments.{name}' for name in (
      'fit_image', 'poisson', 'resize', 'colorize', 'colorize_compare', 'colorize_heldout',
      'colorize_photo', 'reproduce')} <= {_module(c) for _, c in COMMANDS}


@pytest.mark.parametrize('doc, command', COMMANDS, ids=[f'{d}:{c[:70]}' for d, c in COMMANDS])
def test_doc_command_parses_against_its_config(doc, command, monkeypatch):
  monkeypatch.chdir(REPO_ROOT)  # Config paths in the docs are relative to the repository.
  _, overrides, named = _parse(command)
  assert sorted(overrides) == sorted(named), doc  # Every override reached a field.


# Each entry point's own config check, the one it runs before anything is written.
CONFIG_CHECKS: dict[str, Callable[[ml_collections.ConfigDict], object]] = {
    'experiments.fit_image': fit_image_lib.check_config,
    'experiments.resize': resize_lib.check_config,
    'experiments.poisson': poisson_train.check_mode_config,
    'experiments.meta': meta_train.check_config,
    'experiments.sr': sr_train.check_config,
    'experiments.colorize': colorize_train.check_config,
    'experiments.reproduce': reproduce_run.check_config,
}
CHECKED = [(doc, command) for doc, command in COMMANDS if _module(command) in CONFIG_CHECKS]


@pytest.mark.parametrize('doc, command', CHECKED, ids=[f'{d}:{c[:70]}' for d, c in CHECKED])
def test_doc_command_passes_its_entry_points_config_check(doc, command, monkeypatch):
  """A documented command is not only well-typed but a valid run: the entry point's own checks
  (intervals that divide, options that go together) accept it."""
  monkeypatch.chdir(REPO_ROOT)
  config, _, _ = _parse(command)
  CONFIG_CHECKS[_module(command)](config)


def test_the_config_check_catches_a_bad_combination(monkeypatch):
  monkeypatch.chdir(REPO_ROOT)
  command = ('python -m experiments.resize --config=experiments/configs/resize.py '
             '--config.holdout=0.1 --config.eval_every=25')
  config, _, _ = _parse(command)
  with pytest.raises(ValueError, match='eval_every=25 must be a multiple'):
    CONFIG_CHECKS['experiments.resize'](config)


def test_a_moved_field_in_a_command_does_not_parse(monkeypatch):
  monkeypatch.chdir(REPO_ROOT)
  config, overrides, _ = _parse('python -m experiments.fit_image --config.model.hidden_features=64')
  assert config.model.hidden_features == 64 and overrides == {'model.hidden_features': 64}
  with pytest.raises((KeyError, AttributeError, flags.Error)):
    _parse('python -m experiments.fit_image --config.hidden_features=64')
  with pytest.raises((ValueError, flags.Error), match='is now config.model.hidden_features'):
    _parse('python -m experiments.fit_image --config=experiments/configs/fit_image.py:tiny,'
           'hidden_features=64')
