"""Per-group figures read off a merged Fairness answer: accuracy, rates, impact ratios.

A group that release control withheld from a secure sum (``Fairness.withheld``) is
shown as withheld with the rows it covers, never as 0; every row carries the
answer's privacy path (``Fairness.source``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from aggregator import answers as a
from aggregator.reports import document as d
from aggregator.reports.source import withheld_groups

__all__ = [
    "FOUR_FIFTHS",
    "SMALL_SHARE",
    "below",
    "figure",
    "rows_of",
    "selection_plot",
    "unknown",
    "ACCURACY_COLUMNS",
    "IMPACT_COLUMNS",
    "RISK_COLUMNS",
    "accuracy_rows",
    "accuracy_table",
    "attributes",
    "impact_rows",
    "impact_table",
    "privacy_notes",
    "risk_rows",
    "risk_table",
    "tables_rows",
]

UNKNOWN = ("__other__", "__missing__")
FOUR_FIFTHS = 0.8  # the four-fifths rule: an impact ratio below it is adverse impact
SMALL_SHARE = 0.02  # a category under 2% of the rows is marked, never dropped

ACCURACY_COLUMNS = [
    ("scope", "Jurisdictions", "text"),
    ("attribute", "Attribute", "text"),
    ("group", "Group", "text"),
    ("count", "Individuals", "int"),
    ("accuracy", "Accuracy", "rate"),
    ("tpr", "True positive rate", "rate"),
    ("fpr", "False positive rate", "rate"),
    ("auc", "AUC", "ratio"),
]
IMPACT_COLUMNS = [
    ("scope", "Jurisdictions", "text"),
    ("attribute", "Attribute", "text"),
    ("group", "Group", "text"),
    ("count", "Individuals", "int"),
    ("selected", "Selected", "int"),
    ("selection_rate", "Selection rate", "rate"),
    ("impact_ratio", "Impact ratio", "ratio"),
]
RISK_COLUMNS = [
    ("scope", "Jurisdictions", "text"),
    ("attribute", "Attribute", "text"),
    ("demographic_parity_ratio", "DP ratio", "ratio"),
    ("demographic_parity_difference", "DP difference", "ratio"),
    ("equalized_odds_difference", "EO difference", "ratio"),
    ("equal_opportunity_difference", "Equal opportunity difference", "ratio"),
    ("auc_difference", "AUC difference", "ratio"),
]


def attributes(ans: a.Fairness, *, intersections: bool = True) -> list[str]:
    names = sorted((ans.metrics.get("fairness") or {}).keys())
    return names if intersections else [n for n in names if "*" not in n]


def _groups(ans: a.Fairness, attribute: str) -> list[tuple[str, dict[str, Any]]]:
    groups = ((ans.metrics.get("fairness") or {}).get(attribute) or {}).get("groups") or {}
    return sorted(groups.items())


def unknown(group: str) -> bool:
    """The unknown category: ``__other__``/``__missing__``, alone or in an intersection."""
    return any(part in UNKNOWN for part in group.split("|"))


def _shown(g: dict[str, Any], group: str) -> bool:
    """Named groups always; the unknown category when it has rows."""
    return not unknown(group) or bool(g.get("count"))


def _cells(row: dict[str, Any], keys: Iterable[str], rows: int | None) -> dict[str, Any]:
    if rows is None:
        return row
    return row | {k: d.withheld(rows) for k in keys}


def accuracy_rows(scope: str, ans: a.Fairness) -> list[dict[str, Any]]:
    withheld = withheld_groups(ans)
    out = []
    for attr in attributes(ans):
        for group, g in _groups(ans, attr):
            if not _shown(g, group) and (attr, group) not in withheld:
                continue
            row = {
                "scope": scope,
                "attribute": attr,
                "group": group,
                "count": g.get("count"),
                "accuracy": g.get("accuracy"),
                "tpr": g.get("tpr"),
                "fpr": g.get("fpr"),
                "auc": g.get("auc"),
            }
            keys = ("count", "accuracy", "tpr", "fpr", "auc")
            out.append(_cells(row, keys, withheld.get((attr, group))))
    return out


def impact_rows(scope: str, ans: a.Fairness) -> list[dict[str, Any]]:
    """Selection rate per group and impact ratio (rate / the highest rate of a named group)."""
    withheld = withheld_groups(ans)
    out = []
    for attr in attributes(ans):
        groups = [(k, g) for k, g in _groups(ans, attr) if (attr, k) not in withheld]
        rates = [
            g["selection_rate"]
            for k, g in groups
            if not unknown(k) and g.get("selection_rate") is not None
        ]
        top = max(rates, default=None)
        for group, g in _groups(ans, attr):
            if not _shown(g, group) and (attr, group) not in withheld:
                continue
            rate, count = g.get("selection_rate"), g.get("count")
            row = {
                "scope": scope,
                "attribute": attr,
                "group": group,
                "count": count,
                "selected": None if rate is None or count is None else round(rate * count),
                "selection_rate": rate,
                "impact_ratio": None if rate is None or not top else rate / top,
            }
            keys = ("count", "selected", "selection_rate", "impact_ratio")
            out.append(_cells(row, keys, withheld.get((attr, group))))
    return out


def risk_rows(scope: str, ans: a.Fairness) -> list[dict[str, Any]]:
    """The between-group metrics of each attribute (fairlearn's definitions)."""
    fair = ans.metrics.get("fairness") or {}
    keys = [k for k, _, fmt in RISK_COLUMNS if fmt == "ratio"]
    return [
        {"scope": scope, "attribute": attr} | {k: fair[attr].get(k) for k in keys}
        for attr in attributes(ans)
    ]


Merged = Sequence[tuple[str, a.Fairness]]


def tables_rows(
    merged: Merged, rows: Callable[[str, a.Fairness], list[dict[str, Any]]]
) -> list[dict[str, Any]]:
    """``rows(scope, answer)`` of every merged answer, in order; the intersections only
    for the first (the whole scope): per jurisdiction their cells are small and the
    overall figures answer the question."""
    return [
        r
        for i, (scope, ans) in enumerate(merged)
        for r in rows(scope, ans)
        if i == 0 or "*" not in r["attribute"]
    ]


def privacy_notes(merged: Merged) -> list[str]:
    """Where each scope's figures come from (one note per scope, not a column per row)."""
    return [f"Privacy path of the {scope} figures: {ans.source}." for scope, ans in merged]


def per_group_table(merged: Merged, columns: Any, rows: Callable[..., Any]) -> d.Doc:
    note = "Intersections are shown for the whole scope only." if len(merged) > 1 else ""
    return d.table(
        columns, tables_rows(merged, rows), notes=[*privacy_notes(merged), *filter(None, [note])]
    )


def accuracy_table(merged: Merged) -> d.Doc:
    return per_group_table(merged, ACCURACY_COLUMNS, accuracy_rows)


def impact_table(merged: Merged) -> d.Doc:
    return per_group_table(merged, IMPACT_COLUMNS, impact_rows)


def risk_table(merged: Merged) -> d.Doc:
    return per_group_table(merged, RISK_COLUMNS, risk_rows)


def selection_plot(attr: str, rows: list[dict[str, Any]], source: str) -> dict[str, Any]:
    """The selection rate and impact ratio of each group of ``attr`` with the 0.8 line
    (the plot's groups: ``name, rate, impact_ratio, small, withheld``)."""
    mine = [r for r in rows if r["attribute"] == attr]
    total = sum(rows_of(r["count"]) for r in mine)
    groups = [
        {
            "name": r["group"],
            "rate": figure(r["selection_rate"]),
            "impact_ratio": figure(r["impact_ratio"]),
            "small": bool(total) and rows_of(r["count"]) / total < SMALL_SHARE,
            "withheld": r["count"]["withheld"] if isinstance(r["count"], dict) else False,
        }
        for r in mine
    ]
    low = [grp["name"] for grp in groups if below(grp["impact_ratio"])]
    return d.plot(
        "selection_rates",
        {"groups": groups, "threshold": FOUR_FIFTHS, "label": f"Selection rate ({attr})"},
        f"Selection rate and impact ratio per group of {attr}; "
        f"impact ratio below 0.8: {', '.join(low) or 'none'}; privacy path: {source}.",
    )


def rows_of(count: Any) -> int:
    """The individuals of a count cell (a withheld cell says how many it covers)."""
    if isinstance(count, dict):
        return int(count.get("withheld", 0))
    return int(count or 0)


def figure(value: Any) -> float | None:
    return value if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def below(value: Any) -> bool:
    return isinstance(value, (int, float)) and value < FOUR_FIFTHS
