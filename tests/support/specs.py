"""Specs for tests (the credit-risk spec of the synthetic credit data, small hand-made
ones) and statistics under a spec."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fedgov.spec import MonitoringSpec
from fedgov.stats import WindowStats, derive_spec, encode_columns
from fedgov.synthetic import credit_data

#: What every credit spec declares unless a test says otherwise.
CREDIT: dict[str, Any] = {
    "model_id": "credit-risk",
    "model_version": "1.0.0",
    "label": "repaid",
    "prediction": "approved",
    "sensitive": ["sex", "age_band"],
    "intersections": [("sex", "age_band")],
    "categorical": ["purpose", "employment"],
}


def derive_credit_spec(
    rows: int = 4000, seed: int = 1, *, with_score: bool = False, **overrides: Any
) -> MonitoringSpec:
    """The spec derived from ``credit_data(rows, seed=seed)``; ``overrides`` replace
    or add :func:`fedgov.stats.derive_spec` arguments (``score="score"`` wants
    ``with_score=True``)."""
    cols = credit_data(rows, seed=seed, with_score=with_score)
    return derive_spec(cols, **(CREDIT | overrides))


#: The names of the small hand-made specs: model m version 1, label y, prediction p.
TOY: dict[str, Any] = {"model_id": "m", "model_version": "1", "label": "y", "prediction": "p"}


def toy_spec(**fields: Any) -> MonitoringSpec:
    """A :class:`MonitoringSpec` named as :data:`TOY` with ``fields`` (features, sensitive...)."""
    return MonitoringSpec(**(TOY | fields))


def derive_toy_spec(columns: Mapping[str, Any], **kw: Any) -> MonitoringSpec:
    """:func:`fedgov.stats.derive_spec` of ``columns`` named as :data:`TOY`
    (``kw``: sensitive, intersections, bins...), with the exact reference counts
    (``reference_rho=None``: these specs serve tests that compare metrics exactly)."""
    return derive_spec(columns, **(TOY | {"reference_rho": None} | kw))


def stats_of(spec: MonitoringSpec, columns: Mapping[str, Any]) -> WindowStats:
    """One window's statistics of ``columns`` under ``spec``."""
    return WindowStats.zero(spec).fold(spec, encode_columns(spec, columns))


#: The privacy guards an agent may apply, by name (see :func:`guarded`).
GUARDS = ("none", "suppressed", "noised", "both", "gaussian")


def guarded(
    stats: WindowStats, guard: str, *, k: int = 10, epsilon: float = 1.0, seed: int = 3
) -> WindowStats:
    """``stats`` under the privacy guard named ``none``, ``suppressed`` (small cells,
    ``k``), ``noised`` (Laplace, ``epsilon``), ``both`` (noised, then suppressed) or
    ``gaussian`` (the agent's default: discrete Gaussian, rho = ``epsilon``, with the
    accountant's fields filled in as a recorded report has them)."""
    import dataclasses

    from fedgov.privacy import add_discrete_gaussian, add_laplace_noise, suppress_small_cells

    if guard not in GUARDS:
        raise ValueError(guard)
    if guard == "gaussian":
        noised = add_discrete_gaussian(stats, epsilon, rng=seed)
        dp = dataclasses.replace(noised.privacy, rho_total=3 * epsilon, delta=1e-6)
        return dataclasses.replace(noised, privacy=dp)
    if guard in ("noised", "both"):
        stats = add_laplace_noise(stats, epsilon, seed=seed)
    if guard in ("suppressed", "both"):
        stats = suppress_small_cells(stats, k=k)
    return stats
