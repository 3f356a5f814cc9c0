"""The repository is self-contained: nothing links outside it, every relative link resolves, and
no two files differ only in case (they would collide on macOS and Windows checkouts)."""

import collections
import os
import re
import subprocess

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# A relative path that climbs: one or more parent steps, then the rest of the path.
_PARENT_PATH = re.compile(r'(?:\.\.\/)+[\w.\-/]*')
# A Markdown link or image: [text](target) or ![alt](target), target up to a space or ')'.
_MARKDOWN_LINK = re.compile(r'!?\[[^\]]*\]\(([^)\s]+)')
_SKIPPED_DIRS = {'.git', '__pycache__', 'build', 'dist', '.venv', 'venv'}


def _tracked_files() -> list[str]:
  """Repository-relative paths of the tracked files (every file, outside a git checkout)."""
  try:
    out = subprocess.run(['git', 'ls-files', '-z'], cwd=REPO_ROOT, capture_output=True,
                         check=True).stdout
    return [p for p in out.decode().split('\0') if p and os.path.isfile(os.path.join(REPO_ROOT, p))]
  except (OSError, subprocess.CalledProcessError):
    paths = []
    for root, dirs, files in os.walk(REPO_ROOT):
      dirs[:] = [d for d in dirs if d not in _SKIPPED_DIRS and not d.endswith('.egg-info')]
      paths += [os.path.relpath(os.path.join(root, f), REPO_ROOT) for f in files]
    return paths


def _text(path: str) -> str | None:
  """The file's text, or None for binary files (images, checkpoints)."""
  try:
    with open(os.path.join(REPO_ROOT, path), encoding='utf-8') as f:
      return f.read()
  except UnicodeDecodeError:
    return None


def _resolves_inside(path: str, target: str) -> bool:
  """Whether ``target``, relative to the directory of ``path``, names an existing file or
  directory of the repository."""
  resolved = os.path.normpath(os.path.join(REPO_ROOT, os.path.dirname(path), target))
  inside = os.path.commonpath([resolved, REPO_ROOT]) == REPO_ROOT
  return inside and os.path.exists(resolved)


def test_the_walk_sees_the_docs_and_the_code():
  files = _tracked_files()
  assert 'README.md' in files
  assert os.path.join('siren_jax', 'layers.py') in files
  assert os.path.join('docs', 'reproduction.md') in files


def test_no_two_files_differ_only_in_case():
  by_lower = collections.defaultdict(list)
  for path in _tracked_files():
    by_lower[path.lower()].append(path)
  clashes = [paths for paths in by_lower.values() if len(paths) > 1]
  assert not clashes, f'paths that collide on a case-insensitive file system: {clashes}'


def test_parent_relative_paths_stay_inside_the_repository():
  bad = []
  for path in _tracked_files():
    text = _text(path)
    if text is None:
      continue
    for number, line in enumerate(text.splitlines(), 1):
      for match in _PARENT_PATH.finditer(line):
        if not _resolves_inside(path, match.group(0)):
          bad.append(f'{path}:{number}: {match.group(0)}')
  assert not bad, ('relative paths that leave the repository or name nothing in it (copy what '
                   'they point at into docs/ instead):\n' + '\n'.join(bad))


def test_markdown_links_resolve_to_files_in_the_repository():
  bad = []
  for path in _tracked_files():
    if not path.endswith('.md'):
      continue
    for number, line in enumerate(_text(path).splitlines(), 1):
      for match in _MARKDOWN_LINK.finditer(line):
        target = match.group(1).split('#', 1)[0]
        if not target or re.match(r'[a-zA-Z][\w+.-]*:', target):  # Anchors and URLs.
          continue
        if not _resolves_inside(path, target):
          bad.append(f'{path}:{number}: {match.group(1)}')
  assert not bad, 'links to files that are not in the repository:\n' + '\n'.join(bad)


def test_the_checks_catch_a_link_outside_and_a_broken_one():
  up = '..' + '/'  # Spelt apart, so that this file's own bad examples are not flagged.
  # Worked by hand: README.md sits at the root, so one parent step leaves the repository;
  # docs/x.md's one parent step lands on the root, where README.md exists and missing.md does not.
  assert not _resolves_inside('README.md', up + 'shared/FACTS.md')
  assert _resolves_inside('docs/x.md', up + 'README.md')
  assert not _resolves_inside('docs/x.md', up + 'missing.md')
  assert not _resolves_inside('experiments/reproduce/claims.py', up + 'shared/FACTS.md')
  assert [m.group(0) for m in _PARENT_PATH.finditer(f'see (`{up}{up}a/b.md`) or {up}c')] == [
      f'{up}{up}a/b.md', f'{up}c']
  assert _MARKDOWN_LINK.findall('[a](docs/a.md) and ![b](b.png "t") [c](https://x.org/y)') == [
      'docs/a.md', 'b.png', 'https://x.org/y']
