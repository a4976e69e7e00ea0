"""Compliance queries over PromQL, against Prometheus or Thanos Query.

The aggregator answers ``fedgov query drift|fairness`` from its store. Where
the agents are scraped by Prometheus (one per site, joined by federation or
a Thanos querier), the same questions can be put to that global view over
its HTTP API (``POST /api/v1/query``) without touching the aggregator:

* :meth:`PromQLClient.drift` returns rows of the same shape as
  :meth:`aggregator.query_client.QueryClient.drift`;
* :meth:`PromQLClient.disparate_impact` returns the disparate impact
  (demographic parity ratio, fairlearn's definition) per jurisdiction, or
  merged over every silo a glob selects, computed in PromQL from the
  per-group confusion counts the agents export, summed across silos. It is
  therefore the figure the aggregator computes from summed counts, not an
  average of silo ratios.

What differs from the aggregator's answers, by construction:

* Prometheus holds the *latest* window of each silo and model version (the
  agent exports its newest report). A drift query with ``since_ms`` keeps
  the silos whose latest window ended at or after it, and never returns an
  older window; ``report_id`` is ``""`` because a report id is not a label
  (it is unbounded).
* Without ``model_version`` the rows cover every version still exported,
  one row per version (the aggregator picks the newest).

Series are first reduced to one per silo (``max by (silo, ...)``), so
duplicates from HA replicas or from a silo scraped twice are counted once
even when the querier does not deduplicate. Labels follow the contract in
deploy/README.md.
"""

from __future__ import annotations

import json
import math
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from typing import Any

from fedgov.errors import QueryError, TransportError

__all__ = [
    "PromQLClient",
    "disparate_impact_expr",
    "drift_expr",
    "glob_to_regex",
    "promql_string",
    "selection_rate_expr",
]

#: Groups that never enter a between-group ratio (as in fedgov.metrics.fairness):
#: a group is excluded when any of its parts is ``__other__`` or ``__missing__``.
RESERVED_GROUP_RE = r"(.*\|)?__(other|missing)__(\|.*)?"

_SILO = ("silo", "jurisdiction", "model", "version")
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


def _selector(
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


def _by(*labels: str) -> str:
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
    keys = (*_SILO, "feature")
    sel = _selector(metric, model_id=model_id, jurisdiction_glob=jurisdiction_glob)
    expr = f"max {_by(*keys)} ({sel})"
    if psi_threshold is not None:
        expr += f" > {_number(psi_threshold)}"
    if since_ms:
        ends = _selector(
            "fedgov_agent_window_end_timestamp_seconds",
            model_id=model_id,
            jurisdiction_glob=jurisdiction_glob,
        )
        expr = (
            f"({expr}) and on (silo, model, version) "
            f"(max {_by(*_SILO)} ({ends}) >= {_number(since_ms / 1000.0)})"
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
        sel = _selector(
            "fedgov_agent_group_outcome_rows",
            model_id=model_id,
            model_version=model_version,
            jurisdiction_glob=jurisdiction_glob,
            extra=extra,
        )
        return f"max {_by(*_SILO, 'attribute', 'group', 'outcome')} ({sel})"

    declared = f"group!~{promql_string(RESERVED_GROUP_RE)}"
    selected = f"sum {_by(*keys)} ({per_silo(declared + ', outcome=~' + promql_string('fp|tp'))})"
    total = f"sum {_by(*keys)} ({per_silo(declared)})"
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
    return f"min {_by(*keys)} ({rates}) / (max {_by(*keys)} ({rates}) > 0)"


def _number(x: float) -> str:
    if not math.isfinite(x):
        raise QueryError(f"not a finite number: {x}")
    return repr(float(x))


def _value(sample: Mapping[str, Any]) -> float:
    return float(sample["value"][1])  # "NaN", "+Inf" parse too


class PromQLClient:
    """Instant queries against ``{url}/api/v1/query`` (Prometheus or Thanos Query).

    ``url`` is the server's base URL, e.g. ``http://thanos-query:10902``;
    ``headers`` go with every request (e.g. an ``Authorization`` header).
    Errors: :class:`~fedgov.errors.TransportError` when the server cannot be
    reached, :class:`~fedgov.errors.QueryError` when it refuses a query.
    """

    def __init__(
        self, url: str, *, timeout: float = 10.0, headers: Mapping[str, str] | None = None
    ) -> None:
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise QueryError(f"--promql-url {url!r}: expected http(s)://host:port[/prefix]")
        self.url = url.rstrip("/")
        self.timeout = timeout
        self.headers = dict(headers or {})

    def query(self, expr: str, *, at: float | None = None) -> list[dict[str, Any]]:
        """Run an instant query; returns ``[{"labels": {...}, "value": float}]``.

        ``dedup=true`` asks Thanos Query to merge HA replicas (Prometheus
        ignores it).
        """
        form = {"query": expr, "dedup": "true"}
        if at is not None:
            form["time"] = repr(float(at))
        body = urllib.parse.urlencode(form).encode()
        req = urllib.request.Request(
            f"{self.url}/api/v1/query",
            data=body,
            method="POST",
            headers={"Content-Type": "application/x-www-form-urlencoded", **self.headers},
        )
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                doc = json.loads(resp.read().decode("utf-8"))
        except urllib.error.HTTPError as exc:
            raise QueryError(_http_error(self.url, exc)) from None
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise TransportError(
                f"cannot reach the Prometheus API at {self.url}: {reason}; "
                "check --promql-url and that Prometheus or Thanos Query is running"
            ) from None
        except ValueError:
            raise QueryError(f"{self.url}/api/v1/query: the answer is not JSON") from None
        if doc.get("status") != "success":
            raise QueryError(f"{self.url}: query failed: {doc.get('error', doc)}")
        data = doc.get("data") or {}
        if data.get("resultType") != "vector":
            raise QueryError(
                f"{self.url}: expected an instant vector, got {data.get('resultType')!r}"
            )
        return [{"labels": dict(s["metric"]), "value": _value(s)} for s in data["result"]]

    # -- the compliance queries ------------------------------------------------
    def drift(
        self,
        psi_threshold: float,
        *,
        since_ms: int = 0,
        model_id: str = "",
        jurisdiction_glob: str = "",
        at: float | None = None,
    ) -> list[dict[str, Any]]:
        """Features whose PSI in a silo's latest window exceeds ``psi_threshold``.

        Rows as ``QueryClient.drift``: silo, jurisdiction, model, version,
        feature, psi, psi_pvalue (None if not exported), window_end_ms,
        report_id (always ``""``); sorted by PSI, largest first.
        """
        if not math.isfinite(psi_threshold) or psi_threshold < 0:
            raise QueryError(f"psi threshold must be a finite number >= 0, got {psi_threshold}")
        kw = {"model_id": model_id, "jurisdiction_glob": jurisdiction_glob}
        psi = self.query(
            drift_expr(
                psi_threshold=psi_threshold,
                since_ms=since_ms,
                model_id=model_id,
                jurisdiction_glob=jurisdiction_glob,
            ),
            at=at,
        )
        if not psi:
            return []
        pvalues = {
            _key(s["labels"], (*_SILO, "feature")): s["value"]
            for s in self.query(
                drift_expr(
                    "fedgov_agent_feature_psi_pvalue",
                    model_id=model_id,
                    jurisdiction_glob=jurisdiction_glob,
                ),
                at=at,
            )
        }
        ends = {
            _key(s["labels"], _SILO): s["value"]
            for s in self.query(
                f"max {_by(*_SILO)} "
                f"({_selector('fedgov_agent_window_end_timestamp_seconds', **kw)})",
                at=at,
            )
        }
        rows = []
        for s in psi:
            lab = s["labels"]
            end = ends.get(_key(lab, _SILO))
            rows.append(
                {
                    "silo": lab.get("silo", ""),
                    "jurisdiction": lab.get("jurisdiction", ""),
                    "model": lab.get("model", ""),
                    "version": lab.get("version", ""),
                    "feature": lab.get("feature", ""),
                    "psi": s["value"],
                    "psi_pvalue": pvalues.get(_key(lab, (*_SILO, "feature"))),
                    "window_end_ms": 0 if end is None else int(round(end * 1000)),
                    "report_id": "",
                }
            )
        rows.sort(key=lambda r: (-r["psi"], r["silo"], r["feature"]))
        return rows

    def disparate_impact(
        self,
        model_id: str,
        *,
        model_version: str = "",
        jurisdiction_glob: str = "",
        merge: bool = False,
        at: float | None = None,
    ) -> list[dict[str, Any]]:
        """Disparate impact per (jurisdiction, model version, attribute).

        With ``merge`` one row per (model version, attribute) over every silo
        the glob selects, whose ``jurisdiction`` is the glob (``"*"`` when
        empty): the figure of ``QueryClient.fairness(model, jurisdiction_glob=glob)``
        ``["metrics"]["fairness"][attribute]["demographic_parity_ratio"]``.

        Each row: jurisdiction, model, version, attribute, disparate_impact
        (None when every selection rate is 0), selection_rates (group -> rate),
        silos (sorted), rows (rows in the silos' latest windows).
        """
        if not model_id:
            raise QueryError("disparate impact query: a model id is required")
        keys: tuple[str, ...] = ("model", "version", "attribute")
        if not merge:
            keys = ("jurisdiction", *keys)
        label = (jurisdiction_glob or "*") if merge else None
        rates = self.query(
            selection_rate_expr(
                model_id,
                model_version=model_version,
                jurisdiction_glob=jurisdiction_glob,
                merge=merge,
            ),
            at=at,
        )
        ratio_expr = disparate_impact_expr(
            model_id, model_version=model_version, jurisdiction_glob=jurisdiction_glob, merge=merge
        )
        ratios = {_key(s["labels"], keys): s["value"] for s in self.query(ratio_expr, at=at)}
        windows = self.query(
            f"max {_by(*_SILO)} ("
            + _selector(
                "fedgov_agent_window_rows",
                model_id=model_id,
                model_version=model_version,
                jurisdiction_glob=jurisdiction_glob,
            )
            + ")",
            at=at,
        )
        out: dict[tuple[str, ...], dict[str, Any]] = {}
        for s in rates:
            lab = s["labels"]
            k = _key(lab, keys)
            row = out.get(k)
            if row is None:
                row = out[k] = {
                    "jurisdiction": label if merge else lab.get("jurisdiction", ""),
                    "model": lab.get("model", ""),
                    "version": lab.get("version", ""),
                    "attribute": lab.get("attribute", ""),
                    "disparate_impact": ratios.get(k),
                    "selection_rates": {},
                    "silos": [],
                    "rows": 0,
                }
            row["selection_rates"][lab.get("group", "")] = s["value"]
        for s in windows:
            lab = s["labels"]
            for row in out.values():
                same = (row["model"], row["version"]) == (lab.get("model"), lab.get("version"))
                if same and (merge or row["jurisdiction"] == lab.get("jurisdiction")):
                    row["silos"].append(lab.get("silo", ""))
                    row["rows"] += int(s["value"])
        for row in out.values():
            row["silos"].sort()
        return [out[k] for k in sorted(out)]


def _key(labels: Mapping[str, str], names: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(labels.get(n, "") for n in names)


def _http_error(url: str, exc: urllib.error.HTTPError) -> str:
    try:
        doc = json.loads(exc.read().decode("utf-8"))
        detail = f"{doc.get('errorType', '')}: {doc.get('error', '')}".strip(": ")
    except (ValueError, OSError):
        detail = str(exc.reason)
    finally:
        exc.close()
    return f"{url}/api/v1/query answered HTTP {exc.code}: {detail}"
