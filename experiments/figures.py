"""Figures shared by the experiments (matplotlib, Agg backend, small PNGs).

Figures are rendered to PNG bytes and written with etils.epath, so paths may be ``gs://`` URLs.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

import matplotlib

matplotlib.use('Agg')
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from etils import epath  # noqa: E402


def save(fig, path: str, dpi: int) -> None:
  """Writes ``fig`` as a PNG to a local path or a URL, then closes it."""
  buffer = io.BytesIO()
  fig.savefig(buffer, format='png', dpi=dpi)
  plt.close(fig)
  epath.Path(path).write_bytes(buffer.getvalue())


def _show(image: np.ndarray) -> np.ndarray:
  """[0, 1] (H, W), (H, W, 1) or (H, W, 3) -> something imshow draws without rescaling."""
  image = np.clip(np.asarray(image, np.float32), 0.0, 1.0)
  return image[..., 0] if image.ndim == 3 and image.shape[-1] == 1 else image


def image_grid(path: str, rows: Sequence[Sequence[tuple[str, np.ndarray]]],
               cell_inches: float = 2.2, dpi: int = 80) -> None:
  """Saves a grid of titled images; each image is in [0, 1], grey or RGB. Rows may differ in
  length."""
  num_cols = max(len(r) for r in rows)
  fig, axes = plt.subplots(len(rows), num_cols, squeeze=False,
                           figsize=(cell_inches * num_cols, cell_inches * len(rows) + 0.3))
  for axis in axes.flat:
    axis.axis('off')
  for r, row in enumerate(rows):
    for c, (title, image) in enumerate(row):
      axes[r, c].imshow(_show(image), cmap='gray', vmin=0.0, vmax=1.0, interpolation='nearest')
      axes[r, c].set_title(title, fontsize=8)
  fig.tight_layout()
  save(fig, path, dpi)


def curves(path: str, series: dict[str, tuple[Sequence[float], Sequence[float]]], *,
           xlabel: str, ylabel: str, title: str = '', logy: bool = False, dpi: int = 90) -> None:
  """Saves a line plot: ``series[name] = (xs, ys)``."""
  fig, axis = plt.subplots(figsize=(5.0, 3.4))
  for name, (xs, ys) in series.items():
    axis.plot(xs, ys, label=name)
  axis.set_xlabel(xlabel)
  axis.set_ylabel(ylabel)
  if logy:
    axis.set_yscale('log')
  if title:
    axis.set_title(title, fontsize=9)
  axis.grid(alpha=0.3)
  axis.legend(fontsize=8)
  fig.tight_layout()
  save(fig, path, dpi)


def to_unit(image: np.ndarray) -> np.ndarray:
  """[-1, 1] -> [0, 1] for display, clipped."""
  return np.clip(np.asarray(image) / 2.0 + 0.5, 0.0, 1.0)
