"""PromQL expressions for the compliance queries, built from their parameters.

Everything here is text: string literals quoted for PromQL, jurisdiction globs
turned into RE2 regexes for ``=~`` matchers, series selectors, and the drift,
selection-rate and disparate-impact expressions that
:class:`~aggregator.promql.PromQLClient` sends. Each expression first reduces
the series to one per silo (``max by (silo, ...)``), so replicas count once.
"""

from __future__ import annotations

import json
import math

from fedgov.errors import QueryError

__all__ = [
    "RESERVED_GROUP_RE",
    "SILO",
    "by",
    "disparate_impact_expr",
    "drift_expr",
    "glob_to_regex",
    "promql_string",
    "selection_rate_expr",
    "selector",
]

#: Groups that never enter a between-group ratio (as in fedgov.metrics.fairness):
#: a group is excluded when any of its parts is ``__other__`` or ``__missing__``.
RESERVED_GROUP_RE = r"(.*\|)?__(other|missing)__(\|.*)?"

SILO = ("silo", "jurisdiction", "model", "version")
_GO_META = set("\\.+*?()|[]{}^$")


def promql_string(value: str) -> str:
    """A PromQL double-quoted string literal holding ``value``."""
    return json.dumps(value, ensure_ascii=False)


def glob_to_regex(pattern: str) -> str:
    """A jurisdiction glob (``*``, ``?``, ``[...]``, comma-separated alternatives)
    as an RE2 regex for a PromQL ``=~`` matcher (PromQL anchors it)."""
    parts = []
    for glob in (p.strip() for p in pattern.split(",")):
        if not glob:
            continue
        out, i = [], 0
        while i < len(glob):
            c = glob[i]
            if c == "*":
                out.append(".*")
            elif c == "?":
                out.append(".")
            elif c == "[" and (end := _class_end(glob, i)) > 0:
                body = glob[i + 1 : end]
                neg = body.startswith("!")
                body = body[1:] if neg else body
                body = body.replace("\\", "\\\\").replace("]", "\\]").replace("^", "\\^")
                out.append(f"[{'^' if neg else ''}{body}]")
                i = end
            else:
                out.append("\\" + c if c in _GO_META else c)
            i += 1
        parts.append("".join(out))
    if not parts:
        return ".*"
    return parts[0] if len(parts) == 1 else "(" + "|".join(parts) + ")"


def _class_end(glob: str, start: int) -> int:
    """Index of the ``]`` closing the ``[`` at ``start`` (fnmatch's rules), or -1."""
    j = start + 1
    if glob[j : j + 1] == "!":
        j += 1
    if glob[j : j + 1] == "]":
        j += 1
    return glob.find("]", j)


def selector(
    metric: str,
    *,
    model_id: str = "",
    model_version: str = "",
    jurisdiction_glob: str = "",
    extra: str = "",
) -> str:
    matchers = []
    if model_id:
        matchers.append(f"model={promql_string(model_id)}")
    if model_version:
        matchers.append(f"version={promql_string(model_version)}")
    if jurisdiction_glob:
        matchers.append(f"jurisdiction=~{promql_string(glob_to_regex(jurisdiction_glob))}")
    if extra:
        matchers.append(extra)
    return metric + ("{" + ", ".join(matchers) + "}" if matchers else "")


def by(*labels: str) -> str:
    return "by (" + ", ".join(labels) + ")"


def drift_expr(
    metric: str = "fedgov_agent_feature_psi",
    *,
    psi_threshold: float | None = None,
    since_ms: int = 0,
    model_id: str = "",
    jurisdiction_glob: str = "",
) -> str:
    """One value per (silo, jurisdiction, model, version, feature), optionally
    only above ``psi_threshold`` and for windows ending at or after ``since_ms``."""
    keys = (*SILO, "feature")
    sel = selector(metric, model_id=model_id, jurisdiction_glob=jurisdiction_glob)
    expr = f"max {by(*keys)} ({sel})"
    if psi_threshold is not None:
        expr += f" > {_number(psi_threshold)}"
    if since_ms:
        ends = selector(
            "fedgov_agent_window_end_timestamp_seconds",
            model_id=model_id,
            jurisdiction_glob=jurisdiction_glob,
        )
        expr = (
            f"({expr}) and on (silo, model, version) "
            f"(max {by(*SILO)} ({ends}) >= {_number(since_ms / 1000.0)})"
        )
    return expr


def selection_rate_expr(
    model_id: str, *, model_version: str = "", jurisdiction_glob: str = "", merge: bool = False
) -> str:
    """Selection rate of every declared group with rows, from counts summed over
    silos, per jurisdiction (or over all selected silos with ``merge``)."""
    keys: tuple[str, ...] = ("model", "version", "attribute", "group")
    if not merge:
        keys = ("jurisdiction", *keys)

    def per_silo(extra: str) -> str:
        # One series per silo and cell first (deduplicates replicas), then sum silos.
        sel = selector(
            "fedgov_agent_group_outcome_rows",
            model_id=model_id,
            model_version=model_version,
            jurisdiction_glob=jurisdiction_glob,
            extra=extra,
        )
        return f"max {by(*SILO, 'attribute', 'group', 'outcome')} ({sel})"

    declared = f"group!~{promql_string(RESERVED_GROUP_RE)}"
    selected = f"sum {by(*keys)} ({per_silo(declared + ', outcome=~' + promql_string('fp|tp'))})"
    total = f"sum {by(*keys)} ({per_silo(declared)})"
    return f"{selected} / ({total} > 0)"


def disparate_impact_expr(
    model_id: str, *, model_version: str = "", jurisdiction_glob: str = "", merge: bool = False
) -> str:
    """Smallest over largest group selection rate per attribute (None when the
    largest is 0: the series is absent), per jurisdiction or merged."""
    keys: tuple[str, ...] = ("model", "version", "attribute")
    if not merge:
        keys = ("jurisdiction", *keys)
    rates = selection_rate_expr(
        model_id, model_version=model_version, jurisdiction_glob=jurisdiction_glob, merge=merge
    )
    return f"min {by(*keys)} ({rates}) / (max {by(*keys)} ({rates}) > 0)"


def _number(x: float) -> str:
    if not math.isfinite(x):
        raise QueryError(f"not a finite number: {x}")
    return repr(float(x))
