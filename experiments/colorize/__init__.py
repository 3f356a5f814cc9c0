"""colorize experiment code."""
