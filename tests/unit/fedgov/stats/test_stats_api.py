"""The public surface of fedgov.stats is what __all__ says."""

from __future__ import annotations

from support.exports import assert_exports

import fedgov.stats


def test_exported_names() -> None:
    assert_exports(
        fedgov.stats,
        {
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
        },
    )
