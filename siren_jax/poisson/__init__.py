"""Gradient-domain image editing: Poisson targets and losses for fields (``targets``), their
direct solutions (``solvers``), and Perez et al.'s seamless cloning and local edits
(``seamless``). The names of ``targets`` and ``solvers`` are also importable from here."""

from siren_jax.poisson.solvers import (STENCILS, fair_psnr, match_affine, match_mean,
                                       solve_from_gradient, solve_from_laplacian)
from siren_jax.poisson.targets import (RULES, check_mask, compose_gradients, gradient_loss,
                                       gradient_target, laplacian_loss, laplacian_target,
                                       naive_paste, target_entry)

__all__ = ['STENCILS', 'fair_psnr', 'match_affine', 'match_mean', 'solve_from_gradient',
           'solve_from_laplacian', 'RULES', 'check_mask', 'compose_gradients', 'gradient_loss',
           'gradient_target', 'laplacian_loss', 'laplacian_target', 'naive_paste', 'target_entry']
