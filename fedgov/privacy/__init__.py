"""Privacy of what leaves a silo: guards on the counts a report carries in the clear.

:mod:`fedgov.privacy._gaussian` is the default guard (discrete Gaussian noise
under zero-concentrated DP, sensitivity over the whole report) and
:mod:`fedgov.privacy._accounting` its per-silo budget over time; their
docstrings are the design note of the clear path. :mod:`fedgov.privacy._guards`
holds the older opt-in guards (small-cell suppression, Laplace noise).
"""

from fedgov.privacy._accounting import charge, compose, zcdp_epsilon
from fedgov.privacy._gaussian import (
    add_discrete_gaussian,
    discrete_gaussian,
    gaussian_sigma,
    histogram_count,
)
from fedgov.privacy._guards import add_laplace_noise, suppress_small_cells, total_epsilon
from fedgov.privacy._release import Withheld, release_secure_sum

__all__ = [
    "Withheld",
    "add_discrete_gaussian",
    "add_laplace_noise",
    "charge",
    "compose",
    "discrete_gaussian",
    "gaussian_sigma",
    "histogram_count",
    "release_secure_sum",
    "suppress_small_cells",
    "total_epsilon",
    "zcdp_epsilon",
]
