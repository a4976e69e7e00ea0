"""The public surface of fedgov.stats is what __all__ says."""

from __future__ import annotations

import fedgov.stats


def test_exported_names() -> None:
    assert set(fedgov.stats.__all__) == {
        "MISSING_GROUP",
        "OTHER_GROUP",
        "Batch",
        "FeatureCounts",
        "OutcomeCounts",
        "Privacy",
        "ScoreCounts",
        "WindowStats",
        "derive_spec",
        "encode_columns",
        "numeric_cells",
        "outcome_layouts",
        "with_reference",
    }
    for name in fedgov.stats.__all__:
        assert getattr(fedgov.stats, name) is not None
