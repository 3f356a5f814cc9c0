"""The one way siren_jax turns an exception into a one-line message."""

from __future__ import annotations


def first_line(error: BaseException) -> str:
  """The first non-empty line of ``str(error)``, or the exception's type name if it has none."""
  text = str(error).strip()
  return text.splitlines()[0] if text else type(error).__name__
