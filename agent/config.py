"""The agent's configuration: parsed once from a YAML file, validated, frozen.

Example ``silo.yaml``::

    silo:
      id: EU-DE                 # this silo's identity
      jurisdiction: EU-DE       # must match its certificate (or the approval) under mTLS
    aggregator:
      address: 127.0.0.1:50051  # one aggregator, or a DNS name of its replicas; or instead
      # addresses: [10.0.0.1:50051, 10.0.0.2:50051]   # replicas (IP:PORT): fail over among them
      # server_name: aggregator.example  # with addresses: the name every replica's certificate
      #                           # holds (default: the first address's IP)
      tls:                      # mTLS (the default); its URI SAN fedgov://silo/ID names the silo
        ca: certs/ca.pem
        cert: certs/EU-DE.pem
        key: certs/EU-DE.key
      # insecure: true          # instead of tls: plaintext, for trials only
      retry_seconds: 30         # keep retrying an unreachable aggregator this long
    policy: policies/default    # the silo's own Rego bundle (folder)
    opa_url: http://127.0.0.1:8181   # optional: decide on an OPA sidecar instead of embedded Rego
    policy_engine: regopy       # regopy (embedded, default), opa-go (OPA's engine in-process,
                                # the opa-go extra) or opa (the sidecar at opa_url, its default)
    state_dir: state            # agent.db (outbox, windows, report chain, commands), audit.jsonl
    metrics_port: 9464          # Prometheus /metrics; 0 = any free port; omit to disable
    metrics_address: 127.0.0.1  # bind address of /metrics (0.0.0.0 for a Prometheus in another pod)
    poll_seconds: 5             # how often the input folders are scanned
    privacy:                    # guards applied to every count before it leaves the silo
      rho: 0.05                 # zCDP per window: discrete Gaussian noise, sigma = sqrt(H/(2 rho))
                                # for a report of H histograms (null: exact counts, trials only)
      budget: 5.0               # cumulative zCDP of this silo; a window past it is not sent
      delta: 1.0e-6             # delta of the (epsilon, delta) figure reports carry
      candidate_rho: 1.0        # zCDP of a retrained candidate's holdout report (once each)
      min_cell_count: 0         # opt-in: suppress cells of 1..k-1 rows (0 turns it off)
      epsilon: null             # opt-in: Laplace noise instead (needs rho: null)
      complementary: false      # with min_cell_count: hide cells that would reveal a suppressed one
    training:                   # optional: take part in federated retraining (Flower)
      data: train.parquet       # labelled local data the SuperNode trains on (never sent)
      holdout: holdout.parquet  # labelled local data a candidate model is gated on; give
                                # its smallest group (and intersection) several hundred rows
      node_key: certs/EU-DE.node  # Flower node key (OpenSSH), enrolled at the aggregator
                                # as EU-DE.node.pub; the SuperNode trusts aggregator.tls.ca
    secure_rounds:              # secure aggregation (the aggregator learns only cohort sums)
      enabled: true             # take part in rounds; false rejects every round command.
                                # While enabled a window is charged 2 rho: its cells also
                                # enter an exact secure sum (a second view of them)
      min_cohort: 3             # refuse rounds over fewer silos (or a lower threshold)
      keep_days: 30             # keep each window's unguarded counts (never sent) this long
      wait_seconds: 600         # `agent run --once`: stay this long for a round to finish
    models:
      - spec: spec.json         # monitoring spec of one model version
        input: incoming         # folder of CSV/Parquet windows (or one file)
      - spec: big.json          # a window too big for this process: Spark folds it
        input:                  # (pip install 'fedgov[spark]'; a Java 17+ runtime)
          engine: spark
          table: sales.scored   # a catalog table, or path: Parquet files (any URI Spark reads)
          master: local[*]      # the cluster: local[N], spark://host:7077, yarn...
          conf: {spark.executor.memory: 4g}   # optional Spark settings, strings

Relative paths are relative to the config file. Only the keys above are allowed, in
every section (a typo is an error, not a silent default); booleans are YAML's unquoted
``true``/``false``, numbers are unquoted. An empty section (``privacy:`` alone) keeps its
defaults. Every problem in a file is reported at once, by key path
(``aggregator.insecure``, ``models[1].input``), as a :class:`~fedgov.errors.ConfigError`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agent._config_schema import AgentDocument, Privacy, SparkSource, Training
from agent._config_schema import SecureRounds as _SecureRoundsDoc
from agent.privacy import (
    DEFAULT_BUDGET,
    DEFAULT_CANDIDATE_RHO,
    DEFAULT_DELTA,
    DEFAULT_RHO,
    PrivacySettings,
)
from fedgov.data import SparkInput
from fedgov.documents import load_document
from fedgov.schema import validate
from fedgov.tls import TlsFiles
from fedgov.wire.channel import replicas_target

__all__ = [
    "AgentConfig",
    "ModelInput",
    "SecureRoundSettings",
    "config_from_dict",
    "load_agent_config",
]


@dataclass(frozen=True)
class ModelInput:
    spec: Path
    input: Path | SparkInput  # a folder or file, or a Spark table or path


def _model_input(source: str | SparkSource, base: Path) -> Path | SparkInput:
    if isinstance(source, str):
        return base / source
    path = source.path
    if path is not None and "://" not in path and not path.startswith("file:"):
        path = str(base / path)  # relative to the config file, as every other path
    conf = tuple(sorted(source.conf.items()))
    return SparkInput(table=source.table, path=path, master=source.master, conf=conf)


@dataclass(frozen=True)
class SecureRoundSettings:
    """``secure_rounds:`` of the config (see the example above)."""

    enabled: bool = True
    min_cohort: int = 3
    keep_days: int = 30
    wait_seconds: float = 600.0


@dataclass(frozen=True)
class AgentConfig:
    silo_id: str
    jurisdiction: str
    aggregator_address: str  # a gRPC target: one address, or several replicas
    policy: Path
    state_dir: Path
    models: tuple[ModelInput, ...]
    insecure: bool = False
    tls: TlsFiles | None = None
    metrics_port: int | None = None
    metrics_address: str = "127.0.0.1"
    rho: float | None = DEFAULT_RHO
    budget: float = DEFAULT_BUDGET
    delta: float = DEFAULT_DELTA
    candidate_rho: float | None = DEFAULT_CANDIDATE_RHO
    secure_aggregation: bool = True
    min_cell_count: int = 0
    epsilon: float | None = None
    complementary: bool = False
    training_data: Path | None = None
    holdout: Path | None = None
    node_key: Path | None = None
    poll_seconds: float = 5.0
    chunk_rows: int = 262_144
    retry_seconds: float = 30.0
    opa_url: str | None = None
    policy_engine: str | None = None  # None: "opa" with opa_url, else "regopy"
    secure_rounds: SecureRoundSettings = SecureRoundSettings()

    @property
    def privacy(self) -> PrivacySettings:
        """The ``privacy:`` section as the guard takes it (:mod:`agent.privacy`)."""
        return PrivacySettings(
            **{f.name: getattr(self, f.name) for f in dataclasses.fields(PrivacySettings)}
        )


def load_agent_config(path: str | Path) -> AgentConfig:
    """Read and validate a ``silo.yaml``; any problem is a :class:`ConfigError` (exit code 2)."""
    p = Path(path)
    doc = load_document(p, what="config file", yaml_syntax=True)
    return config_from_dict(doc, base=p.parent, source=str(p))


def config_from_dict(doc: Any, *, base: Path, source: str = "<config>") -> AgentConfig:
    """Validate parsed YAML ``doc``; relative paths are resolved against ``base``."""
    d = validate(AgentDocument, doc, source=source)
    agg, privacy, training = d.aggregator, d.privacy or Privacy(), d.training or Training()
    tls = None
    if agg.tls is not None:
        tls = TlsFiles(base / agg.tls.ca, base / agg.tls.cert, base / agg.tls.key, agg.server_name)
    return AgentConfig(
        silo_id=d.silo.id,
        jurisdiction=d.silo.jurisdiction,
        aggregator_address=agg.address or replicas_target(agg.addresses or [], spread=d.silo.id),
        policy=base / d.policy,
        state_dir=base / d.state_dir,
        models=tuple(ModelInput(base / m.spec, _model_input(m.input, base)) for m in d.models),
        insecure=agg.insecure,
        tls=tls,
        metrics_port=d.metrics_port,
        metrics_address=d.metrics_address,
        rho=privacy.rho,
        budget=privacy.budget,
        delta=privacy.delta,
        candidate_rho=privacy.candidate_rho,
        secure_aggregation=(d.secure_rounds or _SecureRoundsDoc()).enabled,
        min_cell_count=privacy.min_cell_count,
        epsilon=privacy.epsilon,
        complementary=privacy.complementary,
        training_data=None if training.data is None else base / training.data,
        holdout=None if training.holdout is None else base / training.holdout,
        node_key=None if training.node_key is None else base / training.node_key,
        poll_seconds=d.poll_seconds,
        chunk_rows=d.chunk_rows,
        retry_seconds=agg.retry_seconds,
        opa_url=d.opa_url,
        policy_engine=d.policy_engine,
        secure_rounds=SecureRoundSettings(**(d.secure_rounds or _SecureRoundsDoc()).model_dump()),
    )
