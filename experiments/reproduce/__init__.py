"""reproduce experiment code."""
