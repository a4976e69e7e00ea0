"""The agent's configuration: parsed once from a YAML file, validated, frozen.

Example ``silo.yaml``::

    silo:
      id: EU-DE                 # this silo's identity
      jurisdiction: EU-DE       # used by cross-jurisdiction queries (globs like EU-*)
    aggregator:
      address: 127.0.0.1:50051
      tls:                      # mTLS (the default); the certificate's CN is the silo id
        ca: certs/ca.pem
        cert: certs/EU-DE.pem
        key: certs/EU-DE.key
      # insecure: true          # instead of tls: plaintext, for trials only
      retry_seconds: 30         # keep retrying an unreachable aggregator this long
    policy: policies/default    # the silo's own Rego bundle (folder)
    opa_url: http://127.0.0.1:8181   # optional: decide on an OPA sidecar instead of embedded Rego
    state_dir: state            # processed windows, outbox, command log
    metrics_port: 9464          # Prometheus /metrics; 0 = any free port; omit to disable
    metrics_address: 127.0.0.1  # bind address of /metrics (0.0.0.0 for a Prometheus in another pod)
    poll_seconds: 5             # how often the input folders are scanned
    privacy:                    # guards applied before anything leaves the silo
      min_cell_count: 10        # suppress cells of 1..k-1 rows (0 turns it off)
      epsilon: null             # Laplace noise on counts (differential privacy), off by default
      complementary: false      # also hide cells that would reveal a suppressed one (costly)
    training:                   # optional: take part in federated retraining (Flower)
      data: train.parquet       # labelled local data the SuperNode trains on (never sent)
      holdout: holdout.parquet  # labelled local data a candidate model is gated on
    models:
      - spec: spec.json         # monitoring spec of one model version
        input: incoming         # folder of CSV/Parquet windows (or one file)

Relative paths are relative to the config file.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fedgov.errors import ConfigError
from fedgov.tls import TlsFiles

__all__ = ["AgentConfig", "ModelInput", "load_agent_config"]


@dataclass(frozen=True)
class ModelInput:
    spec: Path
    input: Path


@dataclass(frozen=True)
class AgentConfig:
    silo_id: str
    jurisdiction: str
    aggregator_address: str
    policy: Path
    state_dir: Path
    models: tuple[ModelInput, ...]
    insecure: bool = False
    tls: TlsFiles | None = None
    metrics_port: int | None = None
    metrics_address: str = "127.0.0.1"
    min_cell_count: int = 10
    epsilon: float | None = None
    complementary: bool = False
    training_data: Path | None = None
    holdout: Path | None = None
    poll_seconds: float = 5.0
    chunk_rows: int = 262_144
    retry_seconds: float = 30.0
    opa_url: str | None = None


def _get(doc: Mapping[str, Any], key: str, where: str, source: str) -> Any:
    if not isinstance(doc, Mapping) or key not in doc or doc[key] in (None, ""):
        raise ConfigError(f"{source}: {where}: missing required field '{key}'")
    return doc[key]


def load_agent_config(path: str | Path) -> AgentConfig:
    import yaml

    p = Path(path)
    try:
        doc = yaml.safe_load(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{p}: config file not found") from None
    except OSError as exc:
        raise ConfigError(f"{p}: cannot read config: {exc}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{p}{line}: not valid YAML: {getattr(exc, 'problem', exc)}") from None
    return config_from_dict(doc, base=p.parent, source=str(p))


def config_from_dict(doc: Any, *, base: Path, source: str = "<config>") -> AgentConfig:
    if not isinstance(doc, Mapping):
        raise ConfigError(f"{source}: the config must be a YAML mapping")
    known = {
        "silo",
        "aggregator",
        "policy",
        "state_dir",
        "metrics_port",
        "poll_seconds",
        "models",
        "chunk_rows",
        "opa_url",
        "metrics_address",
        "privacy",
        "training",
    }
    unknown = sorted(set(doc) - known)
    if unknown:
        raise ConfigError(f"{source}: unknown field(s) {unknown}; known: {sorted(known)}")
    silo = _get(doc, "silo", "config", source)
    agg = _get(doc, "aggregator", "config", source)
    models_doc = _get(doc, "models", "config", source)
    if not isinstance(models_doc, list) or not models_doc:
        raise ConfigError(f"{source}: models: a non-empty list of {{spec, input}} is required")
    models = tuple(
        ModelInput(
            spec=base / str(_get(m, "spec", f"models[{i}]", source)),
            input=base / str(_get(m, "input", f"models[{i}]", source)),
        )
        for i, m in enumerate(models_doc)
    )
    port = doc.get("metrics_port")
    try:
        port = None if port is None else int(port)
        poll = float(doc.get("poll_seconds", 5.0))
        chunk = int(doc.get("chunk_rows", 262_144))
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{source}: metrics_port/poll_seconds/chunk_rows: {exc}") from None
    if port is not None and not 0 <= port < 65536:
        raise ConfigError(f"{source}: metrics_port: {port} is not a TCP port")
    if poll <= 0 or chunk <= 0:
        raise ConfigError(f"{source}: poll_seconds and chunk_rows must be > 0")
    insecure = bool(agg.get("insecure", False)) if isinstance(agg, Mapping) else False
    try:
        retry = float(agg.get("retry_seconds", 30.0)) if isinstance(agg, Mapping) else 30.0
    except (TypeError, ValueError):
        raise ConfigError(f"{source}: aggregator.retry_seconds: not a number") from None
    tls_doc = agg.get("tls") if isinstance(agg, Mapping) else None
    tls = None
    if tls_doc is not None:
        if insecure:
            raise ConfigError(f"{source}: aggregator: set either tls or insecure: true, not both")
        tls = TlsFiles(
            ca=base / str(_get(tls_doc, "ca", "aggregator.tls", source)),
            cert=base / str(_get(tls_doc, "cert", "aggregator.tls", source)),
            key=base / str(_get(tls_doc, "key", "aggregator.tls", source)),
        )
    elif not insecure:
        raise ConfigError(
            f"{source}: aggregator: mTLS is the default, so aggregator.tls (ca, cert, key) is "
            "required; create a trial PKI with `fedgov certs init`, or set insecure: true"
        )
    priv = doc.get("privacy") or {}
    if not isinstance(priv, Mapping):
        raise ConfigError(f"{source}: privacy: must be a mapping with min_cell_count, epsilon")
    try:
        k = int(priv.get("min_cell_count", 10))
        eps = None if priv.get("epsilon") in (None, "") else float(priv["epsilon"])
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{source}: privacy: {exc}") from None
    if k < 0 or (eps is not None and eps <= 0):
        raise ConfigError(f"{source}: privacy: min_cell_count must be >= 0 and epsilon > 0")
    training = doc.get("training") or {}
    if not isinstance(training, Mapping):
        raise ConfigError(f"{source}: training: must be a mapping with data and holdout")
    return AgentConfig(
        training_data=base / str(training["data"]) if training.get("data") else None,
        holdout=base / str(training["holdout"]) if training.get("holdout") else None,
        min_cell_count=k,
        complementary=bool(priv.get("complementary", False)),
        epsilon=eps,
        silo_id=str(_get(silo, "id", "silo", source)),
        jurisdiction=str(_get(silo, "jurisdiction", "silo", source)),
        aggregator_address=str(_get(agg, "address", "aggregator", source)),
        policy=base / str(_get(doc, "policy", "config", source)),
        state_dir=base / str(doc.get("state_dir", "state")),
        models=models,
        insecure=insecure,
        tls=tls,
        metrics_port=port,
        poll_seconds=poll,
        chunk_rows=chunk,
        retry_seconds=retry,
        opa_url=str(doc["opa_url"]) if doc.get("opa_url") else None,
        metrics_address=str(doc.get("metrics_address") or "127.0.0.1"),
    )
