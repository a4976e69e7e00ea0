"""Seeded synthetic credit-scoring data for the demo, tests and benchmarks.

Columns: five numeric features, two categorical ones, two sensitive
attributes (``sex``, ``age_band``), the label ``repaid`` and the model's
decision ``approved`` (both 1 = positive); with ``with_score=True`` also the
model's probability ``score`` (``approved`` is ``score > 0.5``). ``drift``
shifts income and debt upwards; ``bias`` lowers approvals of women by that
much on the score scale. ``race=True`` adds ``race_ethnicity`` in the EEO-1
categories NYC Local Law 144 audits use (two of them under 2% of rows, about 1%
missing), drawn from its own stream so the other columns do not change.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

__all__ = ["credit_data", "write_table"]

PURPOSES = np.array(["car", "home", "education", "business", "other"], dtype=object)
EMPLOYMENT = np.array(["employed", "self-employed", "unemployed"], dtype=object)
RACE_ETHNICITY = {  # category -> share of rows; the rest is missing
    "Hispanic or Latino": 0.18,
    "White": 0.52,
    "Black or African American": 0.13,
    "Native Hawaiian or Pacific Islander": 0.012,
    "Asian": 0.10,
    "Native American or Alaska Native": 0.015,
    "Two or More Races": 0.033,
}


def credit_data(
    n: int,
    *,
    seed: int,
    drift: float = 0.0,
    bias: float = 0.0,
    with_score: bool = False,
    race: bool = False,
) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    sex = np.where(rng.random(n) < 0.5, "F", "M").astype(object)
    age = np.clip(rng.normal(42, 12, n), 18, 90).round()
    age_band = np.select([age < 30, age < 50], ["<30", "30-49"], "50+").astype(object)
    income = rng.lognormal(10.5 + 0.6 * drift, 0.5, n).round(-1)
    debt_ratio = np.clip(rng.beta(2, 5, n) + 0.25 * drift, 0, 1.5).round(3)
    history = np.clip(rng.gamma(4, 20, n), 0, 600).round()
    loan = rng.lognormal(9.0, 0.7, n).round(-1)
    purpose = PURPOSES[rng.choice(len(PURPOSES), n, p=[0.35, 0.25, 0.15, 0.15, 0.10])]
    employment = EMPLOYMENT[rng.choice(len(EMPLOYMENT), n, p=[0.7, 0.2, 0.1])]

    def z(x: np.ndarray) -> np.ndarray:
        return (np.log(x) - 10.5) / 0.5

    latent = (
        0.9 * z(income)
        - 3.0 * (debt_ratio - 0.28)
        + 0.004 * (history - 80)
        - 0.6 * (employment == "unemployed")
    )
    repaid = (latent + rng.normal(0, 0.8, n) > -0.3).astype(np.int64)
    score = 1 / (1 + np.exp(-(latent + rng.normal(0, 0.5, n) + 0.3)))
    score = score - bias * (sex == "F")
    approved = (score > 0.5).astype(np.int64)
    extra = {"score": np.clip(score, 0.0, 1.0)} if with_score else {}
    if race:
        extra["race_ethnicity"] = _race(n, seed)
    return {
        "age": age,
        "income": income,
        "debt_ratio": debt_ratio,
        "credit_history_months": history,
        "loan_amount": loan,
        "purpose": purpose,
        "employment": employment,
        "sex": sex,
        "age_band": age_band,
        "repaid": repaid,
        "approved": approved,
    } | extra


def _race(n: int, seed: int) -> np.ndarray:
    names = [*RACE_ETHNICITY, None]
    shares = [*RACE_ETHNICITY.values(), 1.0 - sum(RACE_ETHNICITY.values())]
    pick = np.random.default_rng([seed, 144]).choice(len(names), n, p=shares)
    return np.array(names, dtype=object)[pick]


def write_table(columns: dict[str, np.ndarray], path: str | Path) -> Path:
    """Write columns to CSV or Parquet, by the file's extension."""
    import pyarrow as pa
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    table = pa.table(
        {k: pa.array(v.tolist() if v.dtype == object else v) for k, v in columns.items()}
    )
    if p.suffix.lower() == ".csv":
        pacsv.write_csv(table, p)
    else:
        pq.write_table(table, p)
    return p
