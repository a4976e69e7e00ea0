"""The built-in model: logistic regression in numpy over a spec's features.

Inputs are derived from the monitoring spec, so every silo builds the same
design matrix without sharing any data:

* a numeric feature becomes one column, standardised with a mean and a
  standard deviation. They are given, or estimated from the spec's reference
  counts (bin midpoints; underflow at the first edge, overflow at the last),
  or, without a reference profile, taken from the edges (centre, range / 4);
* a categorical feature becomes one indicator column per spec category;
  an unseen or missing value is all zeros;
* a missing numeric value is 0 after standardisation (the mean).

Weights are a list of numpy arrays ``[coef (d,), intercept (1,)]``, the
form Flower's ``ArrayRecord`` carries. :func:`reweigh` computes Kamiran and
Calders' reweighing weights ``w(g, y) = P(g) P(y) / P(g, y)`` from a silo's
own group and label counts: in the weighted data the label is independent
of the group, which is what the trained model then learns.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fedgov.spec import CategoricalFeature, MonitoringSpec, NumericFeature
from fedgov.stats import Batch

__all__ = [
    "FeatureMap",
    "Weights",
    "init_weights",
    "load_weights",
    "log_loss",
    "predict_proba",
    "reweigh",
    "save_weights",
    "train_local",
]

Weights = list[np.ndarray]
"""``[coef (d,), intercept (1,)]``, float64."""


@dataclass(frozen=True)
class FeatureMap:
    """How a spec's features become model inputs (same at every silo)."""

    names: tuple[str, ...]
    numeric: tuple[str, ...]
    mean: np.ndarray
    std: np.ndarray
    categorical: tuple[tuple[str, int], ...]  # (feature, number of categories)

    @property
    def n_inputs(self) -> int:
        return len(self.names)

    @classmethod
    def from_spec(
        cls,
        spec: MonitoringSpec,
        *,
        mean: Sequence[float] | None = None,
        std: Sequence[float] | None = None,
    ) -> FeatureMap:
        """Inputs for ``spec``; ``mean``/``std`` (one per numeric feature) override
        the estimates from the spec's reference counts or edges."""
        numeric = [f for f in spec.features if isinstance(f, NumericFeature)]
        cats = [f for f in spec.features if isinstance(f, CategoricalFeature)]
        est = [_moments(f, spec.reference.get(f.name)) for f in numeric]
        m = np.array([e[0] for e in est] if mean is None else mean, dtype=np.float64)
        s = np.array([e[1] for e in est] if std is None else std, dtype=np.float64)
        if m.shape != (len(numeric),) or s.shape != (len(numeric),):
            raise ValueError(
                f"mean and std need one value per numeric feature ({len(numeric)}), "
                f"got {m.shape} and {s.shape}"
            )
        s = np.where(np.isfinite(s) & (s > 0), s, 1.0)
        names = [f.name for f in numeric]
        names += [f"{f.name}={c}" for f in cats for c in f.categories]
        return cls(
            names=tuple(names),
            numeric=tuple(f.name for f in numeric),
            mean=m,
            std=s,
            categorical=tuple((f.name, len(f.categories)) for f in cats),
        )

    def transform(self, batch: Batch) -> np.ndarray:
        """The ``(rows, n_inputs)`` design matrix of an encoded batch."""
        cols: list[np.ndarray] = []
        for j, name in enumerate(self.numeric):
            z = (np.asarray(batch.numeric[name], dtype=np.float64) - self.mean[j]) / self.std[j]
            cols.append(np.where(np.isnan(z), 0.0, z))
        for name, m in self.categorical:
            codes = np.asarray(batch.codes[name])
            onehot = np.zeros((batch.n_rows, m))
            seen = codes < m  # m = unseen, m + 1 = missing: all zeros
            onehot[np.flatnonzero(seen), codes[seen]] = 1.0
            cols.append(onehot)
        if not cols:
            return np.zeros((batch.n_rows, 0))
        return np.column_stack(cols)


def _moments(f: NumericFeature, counts: Sequence[int] | None) -> tuple[float, float]:
    e = np.asarray(f.edges, dtype=np.float64)
    if counts is not None and sum(counts[:-1]) > 0:
        # cells: underflow, k bins, overflow, missing (ignored)
        points = np.concatenate(([e[0]], (e[:-1] + e[1:]) / 2, [e[-1]]))
        w = np.asarray(counts[:-1], dtype=np.float64)
        mu = float(np.average(points, weights=w))
        sd = float(np.sqrt(np.average((points - mu) ** 2, weights=w)))
        return mu, sd
    return float((e[0] + e[-1]) / 2), float((e[-1] - e[0]) / 4)


def init_weights(n_inputs: int) -> Weights:
    """Zero weights for ``n_inputs`` inputs."""
    return [np.zeros(n_inputs), np.zeros(1)]


def _sigmoid(t: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * t))  # stable for large |t|


def predict_proba(weights: Weights, X: np.ndarray) -> np.ndarray:
    """P(y = 1) per row."""
    coef, intercept = weights
    return _sigmoid(X @ coef + intercept[0])


def log_loss(
    weights: Weights, X: np.ndarray, y: np.ndarray, sample_weight: np.ndarray | None = None
) -> float:
    """Weighted mean binary cross-entropy."""
    p = np.clip(predict_proba(weights, X), 1e-12, 1 - 1e-12)
    losses = -(y * np.log(p) + (1 - y) * np.log1p(-p))
    return float(np.average(losses, weights=sample_weight))


def train_local(
    weights: Weights,
    X: np.ndarray,
    y: np.ndarray,
    sample_weight: np.ndarray | None = None,
    *,
    epochs: int = 20,
    lr: float = 0.5,
    l2: float = 0.0,
) -> tuple[Weights, int]:
    """``epochs`` full-batch gradient steps of weighted log-loss from ``weights``.

    Deterministic (no shuffling), so a round is reproducible. Returns the
    new weights and the number of examples, FedAvg's weighting.
    """
    y = np.asarray(y, dtype=np.float64)
    n = len(y)
    if n == 0:
        return [w.copy() for w in weights], 0
    sw = np.ones(n) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    sw = sw / sw.sum()
    coef = np.array(weights[0], dtype=np.float64)
    b = float(weights[1][0])
    for _ in range(epochs):
        r = sw * (_sigmoid(X @ coef + b) - y)
        coef -= lr * (X.T @ r + l2 * coef)
        b -= lr * float(r.sum())
    return [coef, np.array([b])], n


def reweigh(groups: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Kamiran & Calders reweighing: row weight ``P(g) P(y) / P(g, y)``.

    Probabilities are the silo's own frequencies; every (group, label) cell
    present gets a finite weight, and the weights sum to the number of rows.
    """
    groups = np.asarray(groups)
    y = np.asarray(y)
    if len(groups) != len(y):
        raise ValueError(f"groups ({len(groups)}) and y ({len(y)}) differ in length")
    if len(y) == 0:
        return np.ones(0)
    g_vals, g_idx = np.unique(groups, return_inverse=True)
    y_vals, y_idx = np.unique(y, return_inverse=True)
    joint = np.zeros((len(g_vals), len(y_vals)))
    np.add.at(joint, (g_idx, y_idx), 1.0)
    n = len(y)
    expected = joint.sum(axis=1, keepdims=True) * joint.sum(axis=0, keepdims=True) / n
    w = expected[g_idx, y_idx] / joint[g_idx, y_idx]
    return np.asarray(w, dtype=np.float64)


def save_weights(path: str | Path, weights: Weights, features: FeatureMap) -> Path:
    """Write weights and the input mapping they need to ``path`` (``.npz``)."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_name(p.name + ".tmp.npz")
    np.savez(
        tmp,
        coef=weights[0],
        intercept=weights[1],
        mean=features.mean,
        std=features.std,
        names=np.array(features.names, dtype=str),
    )
    tmp.replace(p)
    return p


def load_weights(path: str | Path) -> Weights:
    """Weights written by :func:`save_weights` (or any ``.npz`` with coef and intercept)."""
    with np.load(Path(path), allow_pickle=False) as z:
        return [np.asarray(z["coef"], dtype=np.float64), np.asarray(z["intercept"], np.float64)]
