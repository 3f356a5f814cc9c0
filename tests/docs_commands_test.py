"""Every ``python -m experiments...`` command in README.md and docs/*.md parses: its
``--config=FILE[:VARIANT]`` (or the entry point's default config) loads and every
``--config.*`` override names a field of it with a value of the field's type. Nothing trains:
the overrides go through ml_collections' flag machinery on a fresh set of flags, as the entry
points' own parser applies them, so a renamed config field cannot silently break a doc."""

import glob
import os
import re
import shlex

import pytest
from absl import flags
from ml_collections import config_flags

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


def test_the_docs_hold_commands_of_every_entry_point():
  modules = {shlex.split(c, comments=True)[shlex.split(c, comments=True).index('-m') + 1]
             for _, c in COMMANDS}
  assert len(COMMANDS) > 40, COMMANDS
  assert {f'experiments.{name}' for name in (
      'fit_image', 'poisson', 'resize', 'colorize', 'colorize_compare', 'colorize_heldout',
      'colorize_photo', 'reproduce')} <= modules


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


def test_a_moved_field_in_a_command_does_not_parse(monkeypatch):
  monkeypatch.chdir(REPO_ROOT)
  config, overrides, _ = _parse('python -m experiments.fit_image --config.model.hidden_features=64')
  assert config.model.hidden_features == 64 and overrides == {'model.hidden_features': 64}
  with pytest.raises((KeyError, AttributeError, flags.Error)):
    _parse('python -m experiments.fit_image --config.hidden_features=64')
  with pytest.raises((ValueError, flags.Error), match='is now config.model.hidden_features'):
    _parse('python -m experiments.fit_image --config=experiments/configs/fit_image.py:tiny,'
           'hidden_features=64')
