"""Integer noise for counts: the discrete Gaussian sampler (CKS 2020, Algorithm 3).

A leaf module (numpy only) so that both the privacy guards
(:mod:`fedgov.privacy._gaussian`, whose docstring states the mechanism and the
caveats of this sampler) and :func:`fedgov.stats.derive_spec` (which noises the
reference profile of a spec once) can draw from it.
"""

from __future__ import annotations

import math
import secrets

import numpy as np

__all__ = ["discrete_gaussian", "generator"]


def generator(rng: np.random.Generator | int | None) -> np.random.Generator:
    if isinstance(rng, np.random.Generator):
        return rng
    if rng is None:
        return np.random.Generator(np.random.PCG64(secrets.randbits(128)))
    return np.random.default_rng(rng)


def discrete_gaussian(
    sigma: float, size: int | tuple[int, ...], rng: np.random.Generator | int | None = None
) -> np.ndarray:
    """``size`` independent draws from N_Z(0, sigma^2), as int64 (CKS 2020, Algorithm 3).

    Repeat: Y from the discrete Laplace of scale ``t = floor(sigma) + 1``
    (difference of two geometric draws), accept with probability
    ``exp(-(|Y| - sigma^2 / t)^2 / (2 sigma^2))``. Acceptance is at least
    about 0.4 per try, so the loop over still-rejected draws ends quickly.
    """
    sigma = float(sigma)
    if not 0.0 < sigma < math.inf:
        raise ValueError(f"sigma must be a finite number > 0, got {sigma!r}")
    gen = generator(rng)
    shape = (size,) if isinstance(size, int) else tuple(size)
    n = int(np.prod(shape, dtype=np.int64))
    out = np.empty(n, dtype=np.int64)
    t = math.floor(sigma) + 1
    p = -math.expm1(-1.0 / t)  # success probability of each geometric draw
    shift = sigma * sigma / t
    pending = np.arange(n)
    while pending.size:
        m = pending.size
        y = gen.geometric(p, m).astype(np.int64) - gen.geometric(p, m).astype(np.int64)
        accept = gen.random(m) < np.exp(-((np.abs(y) - shift) ** 2) / (2.0 * sigma * sigma))
        out[pending[accept]] = y[accept]
        pending = pending[~accept]
    shaped: np.ndarray = out.reshape(shape)
    return shaped
