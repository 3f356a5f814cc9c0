"""Task models, swapped by name."""
