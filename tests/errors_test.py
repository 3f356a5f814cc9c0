"""siren_jax.errors.first_line: the one-line message of an exception, worked by hand."""

import pytest

from siren_jax import errors


class _Silent(Exception):
  pass


@pytest.mark.parametrize('error, expected', [
    (ValueError('bad value\nTraceback (most recent call last): ...'), 'bad value'),
    # Surrounding blank lines and indentation go: '\n\n  disk full\nsecond'.strip() starts with
    # 'disk full'.
    (OSError('\n\n  disk full\nsecond line'), 'disk full'),
    (RuntimeError('one line only'), 'one line only'),
    # str(KeyError('k')) is "'k'" (KeyError quotes its key).
    (KeyError('k'), "'k'"),
])
def test_first_line_is_the_first_non_empty_line(error, expected):
  assert errors.first_line(error) == expected


@pytest.mark.parametrize('error, expected', [
    (ValueError(), 'ValueError'),
    (RuntimeError('  \n\t\n'), 'RuntimeError'),  # Only whitespace: no line to show.
    (_Silent(), '_Silent'),
])
def test_an_empty_message_is_the_exception_type_name(error, expected):
  assert errors.first_line(error) == expected
