"""Meta-learned initialisation of field models (Tancik et al. 2021): an inner loop that adapts
a network to one signal in a few optimiser steps, MAML and Reptile outer losses that train the
starting point, tasks drawn from photo crops, and PSNR curves against test-time steps."""
