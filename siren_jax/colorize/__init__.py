"""Colourisation: colour spaces (``colour``), colour metrics and baselines (``colour_metrics``),
the colouriser models (``colorizers``) and colourising whole photos in tiles
(``photo_colorize``)."""
