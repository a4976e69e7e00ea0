"""The built-in ClientApp: train the spec's logistic regression on a silo's data.

It runs inside a silo's SuperNode. Where the data is comes from the
SuperNode's *node config* (set by the silo's operator, never by the server):

===================== ======================================================
``data-path``          CSV or Parquet file of training rows (required)
``spec-path``          the monitoring spec, the same one the server uses
``reweigh-attribute``  sensitive attribute to reweigh by (optional)
``silo``               a name for this silo in the run's metadata (optional)
``min-cell-count``     group-label counts below this are reported as 0 (10)
===================== ======================================================

A ``reweigh-attribute`` in the run's train config, when not empty, takes
precedence over the node's, so that one retraining job applies one
mitigation everywhere.

The reply carries the updated weights, the number of examples, the local
loss and accuracy, and the (group x label) counts the reweighing used, with
small cells suppressed. No row leaves the silo.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from flwr.app import ArrayRecord, ConfigRecord, Context, Message, MetricRecord, RecordDict
from flwr.clientapp import ClientApp

from fedgov.data import iter_batches
from fedgov.errors import ConfigError
from fedgov.federated.model import FeatureMap, log_loss, predict_proba, reweigh, train_local
from fedgov.spec import MonitoringSpec, load_spec

__all__ = ["app", "load_silo", "suppress_counts"]

app = ClientApp()

DEFAULT_MIN_CELL = 10


def load_silo(
    data_path: str, spec: MonitoringSpec, attribute: str | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Design matrix, labels and group codes of a silo's labelled rows."""
    features = FeatureMap.from_spec(spec)
    xs: list[np.ndarray] = []
    ys: list[np.ndarray] = []
    gs: list[np.ndarray] = []
    for batch in iter_batches(data_path, spec, read_ahead=False):
        keep = batch.y_true >= 0  # rows without a label do not train
        xs.append(features.transform(batch)[keep])
        ys.append(batch.y_true[keep].astype(np.float64))
        if attribute is not None:
            gs.append(np.asarray(batch.codes[attribute])[keep])
    X = np.vstack(xs) if xs else np.zeros((0, features.n_inputs))
    y = np.concatenate(ys) if ys else np.zeros(0)
    groups = (np.concatenate(gs) if gs else np.zeros(0, np.int64)) if attribute else None
    return X, y, groups


def suppress_counts(counts: np.ndarray, k: int) -> np.ndarray:
    """Zero every cell holding ``1..k-1`` rows, then keep zeroing the smallest
    shown cell while the zeroed rows add up to ``1..k-1`` (the table's total is
    public as the number of examples, so a lone small cell could be recovered)."""
    out = np.array(counts, dtype=np.int64)
    small = (out > 0) & (out < k)
    hidden = int(out[small].sum())
    out[small] = 0
    while 0 < hidden < k:
        shown = np.flatnonzero(out > 0)
        if len(shown) == 0:
            break
        j = shown[np.argmin(out[shown])]
        hidden += int(out[j])
        out[j] = 0
    return out


def _attribute(
    spec: MonitoringSpec, train_cfg: ConfigRecord, node_cfg: Mapping[str, object]
) -> str | None:
    name = str(train_cfg.get("reweigh-attribute", "") or node_cfg.get("reweigh-attribute", ""))
    if not name:
        return None
    known = [a.name for a in spec.sensitive]
    if name not in known:
        raise ConfigError(
            f"reweigh-attribute '{name}' is not a sensitive attribute of the spec; "
            f"choose one of {known}"
        )
    return name


@app.train()
def train(msg: Message, context: Context) -> Message:
    node_cfg = dict(context.node_config)
    missing = [k for k in ("data-path", "spec-path") if not node_cfg.get(k)]
    if missing:
        raise ConfigError(
            f"SuperNode node config lacks {missing}; start it with "
            '--node-config \'data-path="..." spec-path="..."\''
        )
    spec = load_spec(str(node_cfg["spec-path"]))
    train_cfg = msg.content.config_records["config"]
    want = str(train_cfg.get("spec-digest", ""))
    if want and want != spec.digest:
        raise ConfigError(
            f"this silo's spec ({node_cfg['spec-path']}, digest {spec.digest[:12]}) differs "
            f"from the run's (digest {want[:12]}); install the same spec at every silo"
        )
    attribute = _attribute(spec, train_cfg, node_cfg)
    X, y, groups = load_silo(str(node_cfg["data-path"]), spec, attribute)

    sample_weight = reweigh(groups, y) if groups is not None else None
    weights = msg.content.array_records["arrays"].to_numpy_ndarrays()
    new, n = train_local(
        weights,
        X,
        y,
        sample_weight,
        epochs=int(str(train_cfg.get("local-epochs", 20))),
        lr=float(str(train_cfg.get("learning-rate", 0.5))),
    )

    metrics: dict[str, int | float | list[int] | list[float]] = {
        "num-examples": n,
        "train-loss": log_loss(new, X, y) if n else 0.0,
        "train-accuracy": float(np.mean((predict_proba(new, X) >= 0.5) == y)) if n else 0.0,
    }
    if attribute is not None and groups is not None:
        m = len(next(a.groups for a in spec.sensitive if a.name == attribute))
        table = np.zeros((m + 2, 2), dtype=np.int64)  # groups + unseen + missing, y = 0/1
        np.add.at(table, (groups, y.astype(np.int64)), 1)
        k = int(node_cfg.get("min-cell-count", DEFAULT_MIN_CELL))
        metrics["group-counts"] = suppress_counts(table.reshape(-1), k).tolist()
    info = ConfigRecord(
        {
            "silo": str(node_cfg.get("silo", "")),
            "reweigh-attribute": attribute or "",
            "spec-digest": spec.digest,
        }
    )
    content = RecordDict(
        {"arrays": ArrayRecord(new), "metrics": MetricRecord(metrics), "silo": info}
    )
    return Message(content=content, reply_to=msg)
