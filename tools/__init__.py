"""Developer tools for siren_jax (not shipped in the wheel)."""
