"""The schema of ``silo.yaml``: what keys exist, their types and ranges.

Validated by :func:`fedgov.schema.validate` (unknown keys rejected, strict types); the
result is turned into :class:`agent.config.AgentConfig` by :mod:`agent.config`, which
documents every key. Paths stay strings here; they are resolved against the config
file's folder there.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Self

from pydantic import Discriminator, Field, Tag, model_validator

from agent.privacy import DEFAULT_BUDGET, DEFAULT_CANDIDATE_RHO, DEFAULT_DELTA, DEFAULT_RHO
from fedgov.errors import ConfigError
from fedgov.schema import Identifier, StrictModel
from fedgov.wire.channel import replicas_target

__all__ = ["AgentDocument", "SparkSource"]

Text = Annotated[str, Field(min_length=1)]
"""A non-empty string: a name, an address or a path."""

Seconds = Annotated[float, Field(gt=0, allow_inf_nan=False)]
Positive = Annotated[float, Field(gt=0, allow_inf_nan=False)]


class Silo(StrictModel):
    id: Identifier
    jurisdiction: Identifier


class Tls(StrictModel):
    ca: Text
    cert: Text
    key: Text


def _exactly_one(first: object, second: object, message: str) -> None:
    """Two keys of which exactly one is set; ``message`` says which and why otherwise."""
    if (first is None) == (second is None):
        raise ValueError(message)


class Aggregator(StrictModel):
    address: Text | None = None
    addresses: Annotated[list[Text], Field(min_length=1)] | None = None
    server_name: Text | None = None
    tls: Tls | None = None
    insecure: bool = False
    retry_seconds: Annotated[float, Field(ge=0, allow_inf_nan=False)] = 30.0

    @model_validator(mode="after")
    def _mtls_unless_insecure(self) -> Self:
        _exactly_one(
            self.address,
            self.addresses,
            "give the aggregator's address (one host:port, or a DNS name of its "
            "replicas) or addresses (a list of replicas' IP:PORT), one of the two",
        )
        if self.addresses is not None:
            try:
                replicas_target(self.addresses)
            except ConfigError as exc:
                raise ValueError(str(exc)) from None
        if self.server_name is not None and self.tls is None:
            raise ValueError(
                "server_name is the name checked in the server's certificate: it needs tls"
            )
        if self.tls is not None and self.insecure:
            raise ValueError("set either tls or insecure: true, not both")
        if self.tls is None and not self.insecure:
            raise ValueError(
                "mTLS is the default, so aggregator.tls (ca, cert, key) is required; create "
                "a trial PKI with `fedgov certs init`, or set insecure: true"
            )
        return self


class Privacy(StrictModel):
    rho: Positive | None = DEFAULT_RHO
    budget: Positive = DEFAULT_BUDGET
    delta: Annotated[float, Field(gt=0, lt=1)] = DEFAULT_DELTA
    candidate_rho: Positive | None = DEFAULT_CANDIDATE_RHO
    min_cell_count: Annotated[int, Field(ge=0)] = 0
    epsilon: Positive | None = None
    complementary: bool = False

    @model_validator(mode="after")
    def _one_noise(self) -> Self:
        if self.rho is not None and self.epsilon is not None:
            raise ValueError(
                "rho (discrete Gaussian, the default) and epsilon (Laplace) are two noise "
                "mechanisms: set one, e.g. rho: null to use epsilon"
            )
        return self

    def within_budget(self, secure_rounds: bool) -> None:
        """A window taking part in secure rounds is charged twice (:mod:`agent.privacy`)."""
        if self.rho is not None and self.rho * (2 if secure_rounds else 1) > self.budget:
            per_window = self.rho * (2 if secure_rounds else 1)
            raise ValueError(
                f"privacy: one window costs {per_window:g} (rho"
                + (" x 2 with secure_rounds.enabled" if secure_rounds else "")
                + f") but budget is {self.budget:g}: no window could be sent; lower rho "
                "or raise budget"
            )


class Training(StrictModel):
    data: Text | None = None
    holdout: Text | None = None
    node_key: Text | None = None


class SecureRounds(StrictModel):
    enabled: bool = True
    min_cohort: Annotated[int, Field(ge=2)] = 3
    keep_days: Annotated[int, Field(ge=1)] = 30
    wait_seconds: Seconds = 600.0


class SparkSource(StrictModel):
    """``input: {engine: spark, ...}``: a window read and folded by Spark."""

    engine: Literal["spark"]
    table: Text | None = None
    path: Text | None = None
    master: Text = "local[*]"
    conf: dict[Text, Text] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _table_or_path(self) -> Self:
        _exactly_one(
            self.table,
            self.path,
            "a Spark input names exactly one of table (a catalog table) and path "
            "(Parquet files Spark reads)",
        )
        return self


def _input_kind(value: Any) -> str:
    return "spark" if isinstance(value, dict) else "path"


class Model(StrictModel):
    spec: Text
    input: Annotated[
        Annotated[Text, Tag("path")] | Annotated[SparkSource, Tag("spark")],
        Discriminator(_input_kind),
    ]


class AgentDocument(StrictModel):
    """A whole ``silo.yaml``. An empty section (``privacy:`` alone) means its defaults."""

    silo: Silo
    aggregator: Aggregator
    policy: Text
    models: Annotated[list[Model], Field(min_length=1)]
    state_dir: Text = "state"
    opa_url: Text | None = None
    policy_engine: Literal["regopy", "opa-go", "opa"] | None = None
    metrics_port: Annotated[int, Field(ge=0, le=65535)] | None = None
    metrics_address: Text = "127.0.0.1"
    poll_seconds: Seconds = 5.0
    chunk_rows: Annotated[int, Field(gt=0)] = 262_144
    privacy: Privacy | None = None
    training: Training | None = None
    secure_rounds: SecureRounds | None = None

    @model_validator(mode="after")
    def _budget_fits_a_window(self) -> Self:
        (self.privacy or Privacy()).within_budget((self.secure_rounds or SecureRounds()).enabled)
        return self
