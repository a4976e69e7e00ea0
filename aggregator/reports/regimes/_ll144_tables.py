"""The tables of a bias audit under NYC Local Law 144: categories, rates, impact ratios.

For one sensitive attribute (or intersection) of a merged Fairness answer: number of
individuals, number selected, selection rate and impact ratio (the category's rate
over the highest category's rate); with a score in the spec also the scoring-rate
variant (the share of a category above the full sample's median score, read from
the merged score histograms, its bin bound stated). Individuals of unknown category
(``__missing__`` and ``__other__``) are counted, not tabulated. A category under 2%
of the individuals is shown with its counts and rates and marked ``< 2%``; it does
not set the highest rate (5-301(d)). A figure withheld by release control is a
``withheld`` cell with the rows it covers, never 0 or blank.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from aggregator import answers as a
from aggregator.reports import document as d
from aggregator.reports.groups import FOUR_FIFTHS
from aggregator.reports.groups import SMALL_SHARE as _SMALL
from aggregator.reports.source import withheld_groups
from fedgov.stats import MISSING_GROUP, OTHER_GROUP

__all__ = ["ATTR_SEP", "SMALL_SHARE", "THRESHOLD", "attribute_blocks", "intersection"]

SMALL_SHARE = _SMALL  # 6 RCNY 5-301(d): categories under 2% of the data may be left out of ratios
THRESHOLD = FOUR_FIFTHS  # the four-fifths rule, drawn as the line on the plots
_UNKNOWN = frozenset((OTHER_GROUP, MISSING_GROUP))
_GROUP_SEP, ATTR_SEP = "|", "*"

_SELECTION_COLUMNS = (
    ("category", "Category", "text"),
    ("individuals", "Number of individuals", "int"),
    ("selected", "Number selected", "int"),
    ("selection_rate", "Selection rate", "rate"),
    ("impact_ratio", "Impact ratio", "ratio"),
)
_SCORING_COLUMNS = (
    ("category", "Category", "text"),
    ("individuals", "Number of individuals", "int"),
    ("scoring_rate", "Scoring rate", "rate"),
    ("scoring_rate_upper", "Scoring rate, upper bound", "rate"),
    ("impact_ratio", "Impact ratio", "ratio"),
)


@dataclass(frozen=True)
class _Category:
    group: str  # as the metrics name it ("F", "F|Asian")
    individuals: int
    rate: float | None  # None: no individuals
    upper: float | None  # the scoring rate's upper bound (None for selection)
    withheld: int | None  # rows a withheld figure covers; None: released

    @property
    def name(self) -> str:
        return " / ".join(self.group.split(_GROUP_SEP))


def _unknown(group: str) -> bool:
    return any(part in _UNKNOWN for part in group.split(_GROUP_SEP))


def _categories(
    attr: str, block: Mapping[str, Any], withheld: Mapping[tuple[str, str], int], rate: str
) -> tuple[list[_Category], int, int]:
    """The known categories (sorted), the individuals of unknown category, all individuals."""
    known: list[_Category] = []
    unknown = total = 0
    groups: Mapping[str, Any] = block.get("groups", {})
    names = sorted(set(groups) | {g for a, g in withheld if a == attr})
    for g in names:
        m = groups.get(g, {})
        held = withheld.get((attr, g))
        n = int(held if held is not None else m.get("count", 0) or 0)
        total += n
        if _unknown(g):
            unknown += n
            continue
        released = held is None
        upper = m.get(f"{rate}_upper") if released else None
        known.append(_Category(g, n, m.get(rate) if released else None, upper, held))
    return known, unknown, total


def _small(c: _Category, total: int) -> bool:
    return total > 0 and c.individuals / total < SMALL_SHARE


def _highest(cats: list[_Category], total: int) -> _Category | None:
    """The category whose rate sets the ratios: released, >= 2% of individuals, highest rate."""
    eligible = [
        c for c in cats if c.withheld is None and c.rate is not None and not _small(c, total)
    ]
    return max(eligible, key=lambda c: (c.rate, c.group), default=None)


def _ratio(c: _Category, top: _Category | None) -> float | None:
    if c.rate is None or top is None or not top.rate:
        return None
    return c.rate / top.rate


def _cell(c: _Category, value: Any) -> Any:
    return d.withheld(c.withheld) if c.withheld is not None else value


def _table(
    cats: list[_Category], total: int, scoring: bool, notes: list[str]
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The selection (or scoring) table of ``cats`` and the plot's groups."""
    top = _highest(cats, total)
    rows, marks, plotted = [], {}, []
    for i, c in enumerate(cats):
        ratio = _ratio(c, top)
        row: dict[str, Any] = {
            "category": c.name,
            "individuals": _cell(c, c.individuals),
            "impact_ratio": _cell(c, ratio),
        }
        if scoring:
            row["scoring_rate"] = _cell(c, c.rate)
            row["scoring_rate_upper"] = _cell(c, c.upper)
        else:
            selected = None if c.rate is None else round(c.rate * c.individuals)
            row |= {"selected": _cell(c, selected), "selection_rate": _cell(c, c.rate)}
        rows.append(row)
        small = _small(c, total)
        if small:
            marks[i] = "< 2%"
        plotted.append(
            {
                "name": c.name,
                "rate": None if c.withheld is not None else c.rate,
                "impact_ratio": None if c.withheld is not None else ratio,
                "small": small,
                "withheld": False if c.withheld is None else c.withheld,
            }
        )
    if top is not None:
        notes = [
            f"Impact ratio: the category's rate over the highest rate among categories with at "
            f"least 2% of the individuals ({top.name}, {top.rate:.4f}).",
            *notes,
        ]
    else:
        notes = [
            "No category with at least 2% of the individuals has a rate: no impact ratio.",
            *notes,
        ]
    columns = _SCORING_COLUMNS if scoring else _SELECTION_COLUMNS
    return d.table(columns, rows, notes=notes, marks=marks), plotted


def _common_notes(cats: list[_Category], unknown: int, total: int, source: str) -> list[str]:
    notes = [
        f"Individuals of unknown category (missing or undeclared): {unknown} of {total}; "
        "they are counted here and left out of the rates and ratios."
    ]
    if any(_small(c, total) for c in cats):
        notes.append(
            "Categories marked '< 2%' hold under 2% of the individuals: shown with their "
            "counts and rates, and not used as the highest rate (6 RCNY 5-301(d))."
        )
    if any(c.withheld is not None for c in cats):
        notes.append(
            "A 'withheld' figure was held back by privacy release control (too few rows in the "
            "secure sum); the cell says how many individuals it covers."
        )
    notes.append(f"Privacy path of these figures: {source}.")
    return notes


def attribute_blocks(
    title: str, attr: str, ans: a.Fairness, *, scoring: bool = True
) -> tuple[list[dict[str, Any]], list[str]]:
    """The blocks of one attribute (sex, race/ethnicity or their intersection) in ``ans``:
    its facts, selection table and plot, and with a score (and ``scoring``) the
    scoring-rate table and plot; and the kinds of figure shown (selection, scoring)."""
    block = ans.metrics["fairness"][attr]
    withheld, source = withheld_groups(ans), ans.source
    cats, unknown, total = _categories(attr, block, withheld, "selection_rate")
    notes = _common_notes(cats, unknown, total, source)
    selection, groups = _table(cats, total, False, notes)
    blocks: list[dict[str, Any]] = [
        d.facts(
            [
                ("Attribute", attr),
                ("Individuals", total),
                ("Individuals of unknown category", unknown),
            ]
        ),
        selection,
        d.plot(
            "selection_rates",
            {"groups": groups, "threshold": THRESHOLD, "label": "Selection rate"},
            _alt(title, "selection rate", groups),
        ),
    ]
    kinds = ["selection"]
    has_score = "score_cut" in block or any(
        "scoring_rate" in g for g in block.get("groups", {}).values()
    )
    if scoring and has_score:
        cats, unknown, total = _categories(attr, block, withheld, "scoring_rate")
        cut, low = block.get("score_cut"), block.get("score_cut_low")
        scoring_notes = [
            f"Scoring rate: the share of the category's scored individuals at or above {cut}, "
            f"a bin edge of the merged score histograms; the full sample's median score lies "
            f"in [{low}, {cut}] (the bins' resolution), so the share above the median lies "
            "between the scoring rate and its upper bound. Impact ratios use the scoring rate.",
            *_common_notes(cats, unknown, total, source),
        ]
        table, sgroups = _table(cats, total, True, scoring_notes)
        blocks += [
            table,
            d.plot(
                "selection_rates",
                {"groups": sgroups, "threshold": THRESHOLD, "label": "Scoring rate"},
                _alt(title, "scoring rate", sgroups),
            ),
        ]
        kinds.append("scoring")
    return blocks, kinds


def _alt(title: str, what: str, groups: list[dict[str, Any]]) -> str:
    def one(g: dict[str, Any]) -> str:
        if g["withheld"]:
            return f"{g['name']} withheld"
        r, ir = g["rate"], g["impact_ratio"]
        shown = "n/a" if r is None else f"{r:.3f}"
        ratio = "n/a" if ir is None else f"{ir:.3f}"
        return f"{g['name']} {shown} (impact ratio {ratio}{', under 2%' if g['small'] else ''})"

    listed = "; ".join(one(g) for g in groups) or "no categories"
    return f"{title}: {what} per category, with the {THRESHOLD} impact-ratio line. {listed}."


def intersection(fair: Mapping[str, Any], sex: str, race: str) -> str | None:
    """The spec's name of the sex x race/ethnicity intersection, if it declares one."""
    for key in sorted(fair):
        if sorted(key.split(ATTR_SEP)) == sorted((sex, race)):
            return key
    return None
