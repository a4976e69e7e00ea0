"""The seeded benchmark workload of issue 3, shared by the benchmark scripts.

20 numeric features, 2 categorical features, 2 sensitive attributes (2 and
5 groups), a binary label and a binary prediction. The current window is
drifted (three features shift, one categorical mix changes) and the model is
biased against one group, so every metric has something to measure.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

N_NUMERIC = 20
NUMERIC = [f"x{i:02d}" for i in range(N_NUMERIC)]
CATEGORICAL = ["channel", "product"]
SENSITIVE = ["sex", "region"]
LABEL = "label"
PREDICTION = "prediction"

_CHANNELS = np.array(["branch", "online", "phone", "partner"], dtype=object)
_PRODUCTS = np.array(["card", "loan", "mortgage", "overdraft", "lease", "other"], dtype=object)
_SEXES = np.array(["F", "M"], dtype=object)
_REGIONS = np.array(["north", "south", "east", "west", "central"], dtype=object)


def make_columns(n: int, *, seed: int, drift: float = 0.0) -> dict[str, np.ndarray]:
    """``n`` rows as numpy columns: float64 features, object-string categories, int64 outcomes."""
    rng = np.random.default_rng(seed)
    cols: dict[str, np.ndarray] = {}
    x = rng.standard_normal((N_NUMERIC, n))
    for i, name in enumerate(NUMERIC):
        shift = drift * (0.5 if i < 3 else 0.0)
        scale = 1.0 + 0.1 * i
        cols[name] = x[i] * scale + shift + i
    p_channel = [0.4, 0.3, 0.2, 0.1] if not drift else [0.25, 0.45, 0.2, 0.1]
    cols["channel"] = _CHANNELS[rng.choice(4, n, p=p_channel)]
    cols["product"] = _PRODUCTS[rng.integers(0, 6, n)]
    sex = rng.integers(0, 2, n)
    region = rng.choice(5, n, p=[0.3, 0.25, 0.2, 0.15, 0.1])
    cols["sex"] = _SEXES[sex]
    cols["region"] = _REGIONS[region]
    latent = x[0] - 0.5 * x[1] + 0.3 * x[2]
    cols[LABEL] = (latent + rng.normal(0, 0.7, n) > 0).astype(np.int64)
    cols[PREDICTION] = (latent + rng.normal(0, 0.5, n) - 0.3 * (sex == 0) > 0).astype(np.int64)
    return cols


def derive(reference: dict[str, np.ndarray], *, bins: int = 10):  # -> MonitoringSpec
    from fedgov.stats import derive_spec

    return derive_spec(
        reference,
        model_id="bench",
        model_version="1",
        label=LABEL,
        prediction=PREDICTION,
        sensitive=SENSITIVE,
        categorical=CATEGORICAL,
        bins=bins,
    )


def to_arrow(columns: dict[str, np.ndarray], *, dictionary: bool = False):  # -> pyarrow.Table
    """An Arrow table; ``dictionary`` encodes the string columns as the readers do."""
    import pyarrow as pa

    arrays = {}
    for k, v in columns.items():
        if v.dtype == object:
            arr = pa.array(v, type=pa.string())
            arrays[k] = arr.dictionary_encode() if dictionary else arr
        else:
            arrays[k] = pa.array(v)
    return pa.table(arrays)


def write_parquet(
    columns: dict[str, np.ndarray], path: Path, *, row_group_rows: int = 262_144
) -> Path:
    import pyarrow.parquet as pq

    pq.write_table(to_arrow(columns), path, row_group_size=row_group_rows)
    return path
