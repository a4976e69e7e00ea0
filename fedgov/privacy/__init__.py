"""Privacy of what leaves a silo: guards on the counts a report carries in the clear.

:mod:`fedgov.privacy._guards` holds the guards applied to window statistics
before they leave a silo (see its docstring).
"""

from fedgov.privacy._guards import add_laplace_noise, suppress_small_cells, total_epsilon

__all__ = ["add_laplace_noise", "suppress_small_cells", "total_epsilon"]
