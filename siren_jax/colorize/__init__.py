"""Colourisation: colour spaces (``colour``), colour metrics and baselines (``colour_metrics``),
the colouriser models (``colorizers``), colourising whole photos in tiles (``photo_colorize``),
and colourising from colour hints: the hints (``hints``), Levin et al.'s optimisation
(``levin``) and a SIREN fitted to it (``hint_field``)."""
