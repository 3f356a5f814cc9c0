"""poisson experiment code."""
