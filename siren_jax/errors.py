"""The one way siren_jax turns an exception into a one-line message, and errors whose advice a
caller can reword in its own terms."""

from __future__ import annotations


def first_line(error: BaseException) -> str:
  """The first non-empty line of ``str(error)``, or the exception's type name if it has none."""
  text = str(error).strip()
  return text.splitlines()[0] if text else type(error).__name__


class AdvisedError(ValueError):
  """A one-line ValueError: what went wrong (``diagnosis``), then how to fix it (``advice``).

  The library words the advice in terms of its own arguments; an entry point that knows which of
  its settings those are raises the error again with the same diagnosis and its own advice.
  """

  def __init__(self, diagnosis: str, advice: str):
    super().__init__(f'{diagnosis}; {advice}')
    self.diagnosis = diagnosis
    self.advice = advice
