"""Shared pytest setup: run from the repository root, on one CPU device, quietly."""

import os
import sys

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if REPO_ROOT not in sys.path:
  sys.path.insert(0, REPO_ROOT)
os.environ.setdefault('JAX_PLATFORMS', 'cpu')
