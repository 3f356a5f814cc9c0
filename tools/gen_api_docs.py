"""Writes docs/api.md, the one-line-per-name list of siren_jax's public API, from the docstrings.

  python -m tools.gen_api_docs          # rewrite docs/api.md
  python -m tools.gen_api_docs --check  # exit 1 if docs/api.md is stale (tests/api_test.py)

The names and their order come from ``siren_jax._EXPORTS``; each line is the name, its
parameters, and the first paragraph of its docstring, so the page changes only with the code.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import inspect
import pathlib
import re
import sys
from typing import Any

import siren_jax

API_PAGE = pathlib.Path(__file__).resolve().parent.parent / 'docs' / 'api.md'
_SIMPLE_DEFAULTS = (bool, int, float, str, type(None))
_HIDDEN_FIELDS = ('parent', 'name')  # Flax Linen plumbing, not model arguments.


def _summary(obj: Any) -> str:
  """First paragraph of the docstring on one line, rst ``code`` as markdown `code`."""
  doc = inspect.getdoc(obj) or ''
  first = ' '.join(doc.split('\n\n')[0].split())
  if not first:
    raise ValueError(f'{obj!r} has no docstring: every public name needs one')
  return re.sub(r'``([^`]+)``', r'`\1`', first).replace('|', r'\|')


def _parameter(p: inspect.Parameter) -> str:
  prefix = {p.VAR_POSITIONAL: '*', p.VAR_KEYWORD: '**'}.get(p.kind, '')
  simple = isinstance(p.default, _SIMPLE_DEFAULTS) or (
      isinstance(p.default, tuple) and all(isinstance(v, _SIMPLE_DEFAULTS) for v in p.default))
  if p.default is p.empty or not simple:
    return prefix + p.name
  return f'{p.name}={p.default!r}'


def _signature(obj: Any) -> str:
  """(a, b=1, *, c) with simple defaults only; Linen modules list their dataclass fields."""
  if inspect.isclass(obj) and dataclasses.is_dataclass(obj):
    params = [inspect.Parameter(f.name, inspect.Parameter.POSITIONAL_OR_KEYWORD,
                                default=f.default)
              for f in dataclasses.fields(obj) if f.name not in _HIDDEN_FIELDS and f.init]
  else:  # NNX modules hide __init__'s signature behind their metaclass: ask __init__.
    target = obj.__init__ if inspect.isclass(obj) else obj
    params = [p for p in inspect.signature(target).parameters.values() if p.name != 'self']
  parts: list[str] = []
  for p in params:
    if p.kind == p.KEYWORD_ONLY and not any(s.startswith('*') for s in parts):
      parts.append('*')
    parts.append(_parameter(p))
  return '(' + ', '.join(parts) + ')'


def _row(name: str) -> str:
  module_name, attribute = siren_jax._source(name)  # pylint: disable=protected-access
  obj = getattr(importlib.import_module(module_name), attribute)
  if not callable(obj):
    return f'| `{name}` | constant, `{obj!r}` |'
  alias = '' if attribute == name else f' (`{module_name}.{attribute}`)'
  kind = 'class ' if inspect.isclass(obj) else ''
  return f'| {kind}`{name}{_signature(obj)}` | {_summary(obj)}{alias} |'


def render() -> str:
  """The text of docs/api.md for the current code."""
  lines = [
      '# siren_jax public API',
      '',
      f'Generated from the docstrings of siren_jax {siren_jax.__version__} by',
      '`python -m tools.gen_api_docs`; do not edit by hand (`tests/api_test.py` fails when this',
      'page is stale). Import every name from the top level (`from siren_jax import Siren,',
      'laplacian`); the submodules are internal. Parameters are shown with their simple defaults;',
      'the docstrings give shapes and ranges. Examples: [using_siren_jax.md](using_siren_jax.md).',
  ]
  module = None
  for name in siren_jax._EXPORTS:  # pylint: disable=protected-access
    module_name, _ = siren_jax._source(name)  # pylint: disable=protected-access
    if module_name != module:
      module = module_name
      title = _summary(importlib.import_module(module_name))
      lines += ['', f'## `{module_name}`', '', title, '', '| name | summary |', '|---|---|']
    lines.append(_row(name))
  return '\n'.join(lines) + '\n'


def main(argv: list[str] | None = None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--check', action='store_true', help='exit 1 if docs/api.md is stale')
  args = parser.parse_args(argv)
  text = render()
  if args.check:
    if not API_PAGE.exists() or API_PAGE.read_text() != text:
      print(f'error: {API_PAGE} is stale; run python -m tools.gen_api_docs', file=sys.stderr)
      return 1
    return 0
  API_PAGE.write_text(text)
  print(f'wrote {API_PAGE}')
  return 0


if __name__ == '__main__':
  sys.exit(main())
