"""Writes constraints.txt: the installed version of every package siren_jax needs (setup.py's
install_requires and the test and gcs extras, with everything they need in turn), so that

  pip install -e '.[test]' -c constraints.txt

installs the versions the tests last passed with. Run it after a test run that passed:

  python -m tools.constraints          # rewrite constraints.txt
  python -m tools.constraints --check  # exit 1 if it differs from what is installed
"""

from __future__ import annotations

import argparse
import importlib.metadata
import pathlib
import platform
import re
import runpy
import sys
from typing import Any
from unittest import mock

import setuptools
from packaging.requirements import Requirement

ROOT = pathlib.Path(__file__).resolve().parent.parent
CONSTRAINTS = ROOT / 'constraints.txt'
EXTRAS = ('test', 'gcs')  # bench (PyTorch) is left out: no test needs it.


def declared() -> list[Requirement]:
  """setup.py's install_requires and EXTRAS, read by running setup.py with setup() caught."""
  captured: dict[str, Any] = {}
  with mock.patch.object(setuptools, 'setup', lambda **kwargs: captured.update(kwargs)):
    runpy.run_path(str(ROOT / 'setup.py'))
  names = list(captured['install_requires'])
  for extra in EXTRAS:
    names += captured['extras_require'][extra]
  return [Requirement(n) for n in names]


def _key(name: str) -> str:
  return re.sub(r'[-_.]+', '-', name).lower()


def closure(requirements: list[Requirement]) -> tuple[dict[str, str], list[str]]:
  """{installed distribution name: version} of ``requirements`` and all they require (their
  extras included), and the names that are not installed."""
  pinned: dict[str, str] = {}
  missing: list[str] = []
  todo = list(requirements)
  seen: set[tuple[str, frozenset[str]]] = set()
  while todo:
    requirement = todo.pop()
    key = (_key(requirement.name), frozenset(requirement.extras))
    if key in seen:
      continue
    seen.add(key)
    try:
      dist = importlib.metadata.distribution(requirement.name)
    except importlib.metadata.PackageNotFoundError:
      missing.append(requirement.name)
      continue
    pinned[dist.metadata['Name']] = dist.version
    for text in dist.requires or []:
      nested = Requirement(text)
      environments = [{'extra': e} for e in ('', *requirement.extras)]
      if nested.marker is None or any(nested.marker.evaluate(env) for env in environments):
        todo.append(nested)
  return pinned, sorted(set(missing) - {_key(n) for n in pinned} - set(pinned))


def render() -> str:
  pinned, missing = closure(declared())
  lines = ['# Versions of siren_jax\'s dependencies (install_requires and the '
           f'{", ".join(EXTRAS)} extras, with',
           '# what they require) that the tests last passed with, on Python '
           f'{platform.python_version()} ({sys.platform}).',
           "# pip install -e '.[test]' -c constraints.txt     reproduces them;",
           '# python -m tools.constraints                     rewrites this file.']
  if missing:
    lines.append(f'# Not installed when written, so not pinned: {", ".join(missing)}.')
  lines += [f'{name}=={version}' for name, version in sorted(pinned.items(),
                                                              key=lambda kv: _key(kv[0]))]
  return '\n'.join(lines) + '\n'


def main(argv: list[str] | None = None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--check', action='store_true',
                      help='exit 1 if constraints.txt differs from what is installed')
  args = parser.parse_args(argv)
  text = render()
  if args.check:
    current = CONSTRAINTS.read_text() if CONSTRAINTS.exists() else ''
    strip = lambda t: [line for line in t.splitlines() if not line.startswith('#')]  # noqa: E731
    if strip(current) != strip(text):
      print('constraints.txt differs from the installed versions: python -m tools.constraints')
      return 1
    return 0
  CONSTRAINTS.write_text(text)
  print(f'wrote {CONSTRAINTS}')
  return 0


if __name__ == '__main__':
  sys.exit(main())
