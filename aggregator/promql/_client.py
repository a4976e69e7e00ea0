"""The compliance queries put to Prometheus: drift and disparate impact rows.

:class:`PromQLClient` runs the expressions of :mod:`aggregator.promql._exprs`
over :class:`~aggregator.promql._api.PrometheusAPI` and joins their results
into rows of the shapes the aggregator's own query answers have (see
:mod:`aggregator.promql` for what differs by construction).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Unpack

from aggregator.answers import DriftFilters
from aggregator.promql._api import PrometheusAPI
from aggregator.promql._exprs import (
    SILO,
    by,
    disparate_impact_expr,
    drift_expr,
    selection_rate_expr,
    selector,
)
from fedgov.errors import QueryError

__all__ = ["PromQLClient"]


class PromQLClient(PrometheusAPI):
    """Compliance queries against ``{url}/api/v1/query`` (Prometheus or Thanos Query).

    ``url`` is the server's base URL, e.g. ``http://thanos-query:10902``;
    ``headers`` go with every request (e.g. an ``Authorization`` header).
    Errors: :class:`~fedgov.errors.TransportError` when the server cannot be
    reached, :class:`~fedgov.errors.QueryError` when it refuses a query.
    Construction and :meth:`query` are those of :class:`PrometheusAPI`.
    """

    def drift(
        self, psi_threshold: float, *, at: float | None = None, **filters: Unpack[DriftFilters]
    ) -> list[dict[str, Any]]:
        """Features whose PSI in a silo's latest window exceeds ``psi_threshold``.

        Rows as ``QueryClient.drift``: silo, jurisdiction, model, version,
        feature, psi, psi_pvalue (None if not exported), window_end_ms,
        report_id (always ``""``); sorted by PSI, largest first.
        """
        if not math.isfinite(psi_threshold) or psi_threshold < 0:
            raise QueryError(f"psi threshold must be a finite number >= 0, got {psi_threshold}")
        psi = self.query(drift_expr(psi_threshold=psi_threshold, **filters), at=at)
        if not psi:
            return []
        model, glob = filters.get("model_id", ""), filters.get("jurisdiction_glob", "")
        pvalue = drift_expr(
            "fedgov_agent_feature_psi_pvalue", model_id=model, jurisdiction_glob=glob
        )
        window_end = selector(
            "fedgov_agent_window_end_timestamp_seconds", model_id=model, jurisdiction_glob=glob
        )
        pvalues = {
            _key(s["labels"], (*SILO, "feature")): s["value"] for s in self.query(pvalue, at=at)
        }
        ends = {
            _key(s["labels"], SILO): s["value"]
            for s in self.query(f"max {by(*SILO)} ({window_end})", at=at)
        }
        rows = []
        for s in psi:
            lab = s["labels"]
            end = ends.get(_key(lab, SILO))
            rows.append(
                {
                    "silo": lab.get("silo", ""),
                    "jurisdiction": lab.get("jurisdiction", ""),
                    "model": lab.get("model", ""),
                    "version": lab.get("version", ""),
                    "feature": lab.get("feature", ""),
                    "psi": s["value"],
                    "psi_pvalue": pvalues.get(_key(lab, (*SILO, "feature"))),
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
            f"max {by(*SILO)} ("
            + selector(
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
