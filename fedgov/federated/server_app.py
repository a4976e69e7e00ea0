"""The built-in ServerApp: FedAvg over every silo, then write the model.

Run config (``[tool.flwr.app.config]`` of the app, overridden per run):

===================== ======================================================
``num-server-rounds``  FedAvg rounds
``spec-path``          the monitoring spec (defines the model's inputs)
``initial-weights``    ``.npz`` to start from (``coef``, ``intercept``);
                       empty: zeros
``output-dir``         where ``weights.npz`` and ``result.json`` go
``min-nodes``          silos that must take part in every round
``round-timeout``      seconds to wait for a round's replies
``local-epochs``       gradient steps per round at each silo
``learning-rate``      step size
``reweigh-attribute``  reweigh by this sensitive attribute at every silo
                       (empty: each silo's node config decides)
``node-ids``           the enrolled nodes, comma-separated: only they train,
                       any other connected node is left out (and listed in
                       the result's ``excluded_node_ids``); empty: any node
===================== ======================================================

Governance runs need every silo named in the job, so the strategy is strict:
a round in which a sampled node fails or does not reply within
``round-timeout`` stops the run with an error (written to ``error.json``)
instead of FedAvg's default of averaging whoever answered.

Why ``node-ids``: SuperNode authentication admits only registered keys, but
in open-source Flower 1.42 the Control API that registers them shares the
SuperLink's port and authenticates no one. So the run itself trains only
with the nodes fedgov enrolled, waiting up to ``round-timeout`` for each of
them to connect.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any, cast

import numpy as np
from flwr.app import ArrayRecord, ConfigRecord, Context, Message, MetricRecord, RecordDict
from flwr.serverapp import Grid, ServerApp
from flwr.serverapp.strategy import FedAvg

from fedgov.federated._fab import parse_node_ids
from fedgov.federated._result import write_error, write_result
from fedgov.federated.model import FeatureMap, init_weights, load_weights
from fedgov.spec import MonitoringSpec, load_spec

__all__ = ["StrictFedAvg", "aggregate_train_metrics", "app"]

app = ServerApp()

COUNTS_KEY = "group-counts"


class RoundFailed(RuntimeError):
    """A sampled silo failed or did not answer; the run must not promote a model."""


def aggregate_train_metrics(records: list[RecordDict], weight_key: str) -> MetricRecord:
    """Example-weighted mean of scalar metrics; group counts are summed."""
    total = sum(float(cast(float, _metrics(r)[weight_key])) for r in records)
    out = MetricRecord()
    out[weight_key] = int(total)
    for key in _metrics(records[0]):
        if key == weight_key:
            continue
        values = [_metrics(r)[key] for r in records]
        if key == COUNTS_KEY:
            out[key] = [int(v) for v in np.sum(np.array(values, dtype=np.int64), axis=0)]
        elif isinstance(values[0], list):
            continue
        else:
            w = [float(cast(float, _metrics(r)[weight_key])) / total for r in records]
            out[key] = float(
                sum(float(cast(float, v)) * wi for v, wi in zip(values, w, strict=True))
            )
    return out


def _metrics(record: RecordDict) -> MetricRecord:
    return next(iter(record.metric_records.values()))


class StrictFedAvg(FedAvg):
    """FedAvg that requires a reply from every sampled node and keeps a per-node history."""

    def __init__(
        self,
        *,
        min_nodes: int,
        node_ids: frozenset[int] = frozenset(),
        connect_timeout: float = 300.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            fraction_train=1.0,
            fraction_evaluate=0.0,
            min_train_nodes=min_nodes,
            min_available_nodes=min_nodes,
            train_metrics_aggr_fn=aggregate_train_metrics,
            **kwargs,
        )
        self.history: list[dict[str, Any]] = []
        self.allowed = node_ids
        self.excluded: set[int] = set()
        self._connect_timeout = connect_timeout
        self._sampled: list[int] = []
        self._round_start = 0.0

    def _await_enrolled(self, server_round: int, grid: Grid) -> None:
        deadline = time.monotonic() + self._connect_timeout
        while missing := self.allowed - set(grid.get_node_ids()):
            if time.monotonic() > deadline:
                raise RoundFailed(
                    f"round {server_round}: enrolled node(s) {sorted(missing)} did not connect "
                    f"within {self._connect_timeout:.0f} s"
                )
            time.sleep(0.5)  # the ServerApp's own process; Flower's sampler polls each 1 s

    def configure_train(
        self, server_round: int, arrays: ArrayRecord, config: ConfigRecord, grid: Grid
    ) -> Iterable[Message]:
        if self.allowed:
            self._await_enrolled(server_round, grid)
        messages = list(super().configure_train(server_round, arrays, config, grid))
        if self.allowed:
            self.excluded |= {m.metadata.dst_node_id for m in messages} - self.allowed
            messages = [m for m in messages if m.metadata.dst_node_id in self.allowed]
        self._sampled = sorted(m.metadata.dst_node_id for m in messages)
        self._round_start = time.time()
        return messages

    def aggregate_train(
        self, server_round: int, replies: Iterable[Message]
    ) -> tuple[ArrayRecord | None, MetricRecord | None]:
        replies = list(replies)
        failed = {m.metadata.src_node_id: m.error.reason for m in replies if m.has_error()}
        ok = [m for m in replies if not m.has_error()]
        answered = {m.metadata.src_node_id for m in ok} | set(failed)
        silent = [n for n in self._sampled if n not in answered]
        if failed or silent:
            parts = [f"node {n} failed: {reason}" for n, reason in sorted(failed.items())]
            if silent:
                parts.append(f"node(s) {silent} did not reply within the round timeout")
            raise RoundFailed(
                f"round {server_round}: {len(ok)} of {len(self._sampled)} silos answered; "
                + "; ".join(parts)
            )
        nodes = []
        for m in sorted(ok, key=lambda m: m.metadata.src_node_id):
            info = m.content.config_records.get("silo", ConfigRecord())
            nodes.append(
                {
                    "node_id": m.metadata.src_node_id,
                    "silo": str(info.get("silo", "")),
                    "reweigh_attribute": str(info.get("reweigh-attribute", "")),
                    "metrics": dict(_metrics(m.content)),
                }
            )
        arrays, metrics = super().aggregate_train(server_round, ok)
        self.history.append(
            {
                "round": server_round,
                "started": self._round_start,
                "finished": time.time(),
                "nodes": nodes,
                "metrics": dict(metrics) if metrics is not None else {},
            }
        )
        return arrays, metrics


def _initial(cfg: dict[str, Any], features: FeatureMap) -> list[np.ndarray]:
    path = str(cfg.get("initial-weights", ""))
    if not path:
        return init_weights(features.n_inputs)
    weights = load_weights(path)
    if weights[0].shape != (features.n_inputs,):
        raise ValueError(
            f"initial-weights {path}: coef has shape {weights[0].shape}, the spec's "
            f"model needs ({features.n_inputs},)"
        )
    return weights


def _counts_by_group(spec: MonitoringSpec, attribute: str, flat: list[int]) -> dict[str, Any]:
    groups = next(a.groups for a in spec.sensitive if a.name == attribute)
    labels = [*groups, "(unseen)", "(missing)"]
    table = np.array(flat, dtype=np.int64).reshape(len(labels), 2)
    return {g: {"0": int(r[0]), "1": int(r[1])} for g, r in zip(labels, table, strict=True)}


@app.main()
def main(grid: Grid, context: Context) -> None:
    cfg = dict(context.run_config)
    output_dir = str(cfg.get("output-dir", ""))
    if not output_dir:
        raise ValueError("run config 'output-dir' is empty; the run has nowhere to write")
    started = time.time()
    try:
        spec = load_spec(str(cfg["spec-path"]))
        features = FeatureMap.from_spec(spec)
        timeout = float(cfg.get("round-timeout", 300.0))
        strategy = StrictFedAvg(
            min_nodes=int(cfg.get("min-nodes", 2)),
            node_ids=parse_node_ids(str(cfg.get("node-ids", ""))),
            connect_timeout=timeout,
        )
        attribute = str(cfg.get("reweigh-attribute", ""))
        train_config = ConfigRecord(
            {
                "local-epochs": int(cfg.get("local-epochs", 20)),
                "learning-rate": float(cfg.get("learning-rate", 0.5)),
                "spec-digest": spec.digest,
                "reweigh-attribute": attribute,
            }
        )
        rounds = int(cfg.get("num-server-rounds", 3))
        result = strategy.start(
            grid=grid,
            initial_arrays=ArrayRecord(_initial(cfg, features)),
            num_rounds=rounds,
            timeout=timeout,
            train_config=train_config,
        )
    except Exception as exc:
        write_error(output_dir, f"{type(exc).__name__}: {exc}", run_id=context.run_id)
        raise
    coef, intercept = result.arrays.to_numpy_ndarrays()
    history = strategy.history
    for entry in history:
        for holder in (entry["metrics"], *(n["metrics"] for n in entry["nodes"])):
            if COUNTS_KEY in holder:
                attr = attribute or next(
                    (n["reweigh_attribute"] for n in entry["nodes"] if n["reweigh_attribute"]), ""
                )
                holder[COUNTS_KEY] = _counts_by_group(spec, attr, holder[COUNTS_KEY])
    metadata = {
        "run_id": context.run_id,
        "rounds": rounds,
        "model": {"id": spec.model_id, "version": spec.model_version},
        "spec_digest": spec.digest,
        "initial_weights": str(cfg.get("initial-weights", "")) or "zeros",
        "reweigh_attribute": attribute,
        "node_ids": sorted({n["node_id"] for e in history for n in e["nodes"]}),
        "silos": {str(n["node_id"]): n["silo"] for e in history for n in e["nodes"]},
        "excluded_node_ids": sorted(strategy.excluded),
        "feature_names": list(features.names),
        "history": history,
        "started": started,
        "finished": time.time(),
    }
    write_result(
        output_dir,
        {
            "coef": coef,
            "intercept": intercept,
            "mean": features.mean,
            "std": features.std,
            "names": np.array(features.names, dtype=str),
        },
        metadata,
    )
