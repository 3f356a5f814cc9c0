"""Learned resizing: a conv encoder and a coordinate decoder (LIIF-style) that map a photo to a
continuous image function, its model file, tiled upscaling and training patches."""
