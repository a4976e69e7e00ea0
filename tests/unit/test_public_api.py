"""Exported names are deliberate: each package's __all__ resolves, once per name,
and where a package's surface is pinned, it is exactly the names pinned here.

One table for every package: adding or dropping an export means editing its
row below (a second, deliberate place), so a public name never appears or
disappears by accident. (Which package may import which is checked in
tests/unit/project/test_structure.py.)
"""

from __future__ import annotations

import importlib

import pytest

# package -> its exported names, space-separated (None: only checked to resolve)
EXPORTS: dict[str, str | None] = {
    "fedgov": None,
    "fedgov.errors": None,
    "fedgov.limits": None,
    "fedgov.spec": None,
    "fedgov.stats": """
        DEFAULT_REFERENCE_RHO MISSING_GROUP OTHER_GROUP Batch FeatureCounts OutcomeCounts
        Privacy ScoreCounts WindowStats derive_spec encode_columns numeric_cells outcome_layouts
        with_reference
    """,
    "fedgov.metrics": """
        PSI_EPSILON auc_difference binned_auc binned_calibration_error chi_square
        compute_metrics demographic_parity_difference demographic_parity_ratio
        disparate_impact drift drift_cells equal_opportunity_difference
        equal_opportunity_ratio equalized_odds_difference equalized_odds_ratio fairness
        group_metrics group_score_metrics jensen_shannon ks_statistic max_calibration_error
        missing_rate psi psi_pvalue scores wasserstein
    """,
    "fedgov.policy": None,
    "fedgov.decision": None,
    "fedgov.data": """
        DATA_SUFFIXES DEFAULT_CHUNK_ROWS Progress SparkInput SparkWindow encode_arrow
        file_digest fold_file fold_spark iter_batches iter_record_batches open_spark_window
        read_columns spark_session
    """,
    "fedgov.wire": None,
    "aggregator.store": None,
    "aggregator.dashboard": """
        Dashboard OutboxBacklog RunningDashboard create_dashboard load_or_create_token
    """,
    "fedgov.federated": None,
    "fedgov.privacy": None,
    "fedgov.secagg": """
        MODULUS Advert RoundParams SecAggError SiloRound decode_share_map encode_share_map
        reconstruct unmask_vector verify_adverts
    """,
    "fedgov.audit": None,
    "fedgov.tls": None,
    "fedgov.identity": None,
    "fedgov.cli": None,
}


@pytest.mark.parametrize("name", EXPORTS)
def test_all_resolves(name: str) -> None:
    mod = importlib.import_module(name)
    exported = list(mod.__all__)
    assert len(exported) == len(set(exported)), f"{name}.__all__ lists a name twice"
    for attr in exported:
        assert getattr(mod, attr, None) is not None, f"{name}.{attr} is exported but missing"


@pytest.mark.parametrize("name", [n for n, pinned in EXPORTS.items() if pinned])
def test_exports_are_the_pinned_names(name: str) -> None:
    pinned = set((EXPORTS[name] or "").split())
    exported = set(importlib.import_module(name).__all__)
    assert exported - pinned == set(), f"{name} exports names its row does not pin"
    assert pinned - exported == set(), f"{name} no longer exports names its row pins"
