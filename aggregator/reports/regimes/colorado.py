"""The Colorado report: an impact assessment under SB 24-205 (C.R.S. 6-1-1703(3)).

Sections: purpose, intended use and deployment context (from the model card the
user provides, :mod:`aggregator.reports.model_card`); categories of input data
and outputs (the features and sensitive attributes the merged metrics cover:
the query API gives a spec's digest, not its text); performance per group and
known limitations; the discrimination risk analysis (selection rates, impact
ratios, between-group metrics) and its mitigations (retraining, with the
attribute reweighed as the lineage names it); post-deployment monitoring
(silos, policies and thresholds, cadence).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from aggregator import answers as a
from aggregator.reports import document as d
from aggregator.reports import groups as g
from aggregator.reports.model_card import ModelCard, load_model_card
from aggregator.reports.regimes._corrective import corrective_blocks, load_actions
from aggregator.reports.regimes._shared_eu import (
    in_scope_silos,
    merged_by_jurisdiction,
    monitoring_blocks,
)
from aggregator.reports.source import ReportArgs, ReportSource, assemble, scope_of
from fedgov.errors import ConfigError

__all__ = ["build", "input_rows"]

REGIME = "colorado"
NO_CARD = (
    "colorado: an impact assessment states the system's purpose, intended use, owner and "
    "contact, which the store does not hold; pass a model card with --model-card FILE "
    "(YAML with owner, purpose, intended_use, contact)"
)


def _card(args: ReportArgs) -> ModelCard:
    if args.model_card is None:
        raise ConfigError(NO_CARD)
    return load_model_card(args.model_card)


def input_rows(ans: a.Fairness) -> list[dict[str, Any]]:
    """The inputs the metrics cover: monitored features, then sensitive attributes."""
    features = (ans.metrics.get("drift") or {}).get("features") or {}
    rows = [
        {
            "name": name,
            "category": "numeric feature" if "ks" in m else "categorical feature",
            "monitoring": "drift (PSI against the reference)" if "psi" in m else "missing rate",
        }
        for name, m in sorted(features.items())
    ]
    for attr in g.attributes(ans):
        groups = sorted(((ans.metrics["fairness"][attr]).get("groups") or {}).keys())
        kind = "intersection of sensitive attributes" if "*" in attr else "sensitive attribute"
        rows.append(
            {"name": attr, "category": kind, "monitoring": "fairness; groups " + ", ".join(groups)}
        )
    return rows


def _outputs(ans: a.Fairness) -> list[str]:
    groups = [
        grp
        for attr in g.attributes(ans)
        for grp in (ans.metrics["fairness"][attr].get("groups") or {}).values()
    ]
    out = ["a binary decision per individual (selected or not), monitored as selection rates"]
    if any("auc" in grp for grp in groups):
        out.append("a score per individual, monitored as AUC and calibration per group")
    return out


def _mitigations(versions: list[a.ModelVersion]) -> d.Doc:
    reweighed = sorted(
        f"version {v.version} was retrained from {v.lineage.get('parent_version', '?')} "
        f"reweighing {v.lineage['reweigh_attribute']} (job {v.lineage.get('job_id', '?')})"
        for v in versions
        if v.lineage.get("reweigh_attribute")
    )
    return d.text(
        "Mitigation by retraining: a failed fairness or drift gate starts a federated "
        "retraining job; the candidate passes the same gates before it is promoted.",
        *(reweighed or ["No version in the period was retrained with reweighing."]),
    )


def build(source: ReportSource, args: ReportArgs) -> dict[str, Any]:
    """The Colorado SB 24-205 impact assessment (a document)."""
    card = _card(args)
    scope = scope_of(source, args)
    overall = scope.fairness
    silos = in_scope_silos(source, args)
    monitoring = monitoring_blocks(scope, args, silos)
    merged, figures = merged_by_jurisdiction(source, args, scope)
    actions = load_actions(source, args)
    impact = g.tables_rows(merged, g.impact_rows)
    first = [r for r in impact if r["scope"] == merged[0][0]]
    plots = [g.selection_plot(at, first, overall.source) for at in g.attributes(overall)]
    purpose = [
        ("Owner", card.owner),
        ("Contact", card.contact),
        ("Purpose", card.purpose),
        ("Intended use", card.intended_use),
        ("Deployment context", card.deployment_context or "(not stated in the model card)"),
        ("Out-of-scope uses", "; ".join(card.out_of_scope_uses) or "(none stated)"),
        ("Data sources", "; ".join(card.data_sources) or "(none stated)"),
    ]
    sections = [
        d.section("purpose", "Purpose, intended use and deployment context", [d.facts(purpose)]),
        d.section(
            "data",
            "Categories of input data and outputs",
            [
                d.table(
                    [
                        ("name", "Input", "text"),
                        ("category", "Category", "text"),
                        ("monitoring", "Monitored as", "text"),
                    ],
                    input_rows(overall),
                    notes=["The inputs the merged metrics cover (the monitoring spec's)."],
                ),
                d.text(*_outputs(overall)),
            ],
        ),
        d.section(
            "performance",
            "Performance and known limitations",
            [
                g.accuracy_table(merged),
                d.text(*(card.known_limitations or ["(no known limitations stated)"])),
            ],
        ),
        d.section(
            "discrimination",
            "Discrimination risk analysis",
            [
                *plots,
                d.table(
                    g.IMPACT_COLUMNS,
                    impact,
                    notes=[
                        "Impact ratio: the group's selection rate / the highest rate of a named "
                        "group.",
                        *g.privacy_notes(merged),
                    ],
                ),
                g.risk_table(merged),
            ],
        ),
        d.section(
            "mitigations",
            "Mitigations",
            [_mitigations(actions.versions), *corrective_blocks(actions)],
        ),
        d.section("monitoring", "Post-deployment monitoring", monitoring),
    ]
    card_json = json.dumps(card.model_dump(), sort_keys=True, separators=(",", ":"))
    title = f"Impact assessment (Colorado SB 24-205): {args.model} {overall.version}"
    card_digest = "sha256:" + hashlib.sha256(card_json.encode()).hexdigest()
    return assemble(
        REGIME,
        title,
        source,
        args,
        scope,
        sections,
        figures,
        times=actions.times,
        model_card_sha256=card_digest,
    )
