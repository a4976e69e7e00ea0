"""Errors raised by fedgov.

Every error the project raises on purpose derives from one root, so a
command-line entry point can turn any of them into a clear message and a
non-zero exit code without a traceback::

    GovernanceError                 root; ``exit_code`` is what the CLI returns
    ├── ConfigError                 a config file, flag or spec is invalid
    │   └── SpecError               a monitoring spec is invalid
    ├── DataError                   a data file is missing, unreadable or lacks a column
    ├── PolicyError                 a Rego bundle does not load or evaluate
    ├── TransportError              the aggregator cannot be reached
    ├── ReportRejected              the aggregator refused a report (invalid counts, oversized...)
    │   └── NotRegistered           the silo, model or spec digest was never registered
    ├── QueryError                  a query is malformed or names something unknown
    ├── Overloaded                  too many calls in flight for now; retry later
    └── Superseded                  a newer call took this one's place (a silo's command stream)

Messages say what was wrong, where (file, line, field) and what to do.
"""

from __future__ import annotations

__all__ = [
    "ConfigError",
    "DataError",
    "GovernanceError",
    "NotRegistered",
    "Overloaded",
    "PolicyError",
    "QueryError",
    "ReportRejected",
    "RoundRefused",
    "SpecError",
    "Superseded",
    "TransportError",
]


class GovernanceError(Exception):
    """Root of every error fedgov raises on purpose."""

    exit_code: int = 1


class ConfigError(GovernanceError):
    """A configuration file, flag or environment value is invalid."""

    exit_code = 2


class SpecError(ConfigError):
    """A monitoring spec is invalid (unsorted edges, unknown kind...)."""


class DataError(GovernanceError):
    """A data file is missing, unreadable, or lacks a column the spec names."""

    exit_code = 3


class PolicyError(GovernanceError):
    """A policy bundle failed to load or evaluate."""

    exit_code = 4

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        line: int | None = None,
        column: int | None = None,
    ) -> None:
        self.file = file
        self.line = line
        self.column = column
        where = ""
        if file is not None:
            where = file
            if line is not None:
                where += f":{line}"
                if column is not None:
                    where += f":{column}"
            where += ": "
        super().__init__(where + message)


class TransportError(GovernanceError):
    """The aggregator could not be reached or answered with a transport error."""

    exit_code = 5


class ReportRejected(GovernanceError):
    """The aggregator refused a report; the reason says which field and why."""

    exit_code = 6


class NotRegistered(ReportRejected):
    """The silo, model version or spec digest is unknown to the aggregator."""


class QueryError(GovernanceError):
    """A compliance query is malformed or names something unknown."""

    exit_code = 2


class Overloaded(GovernanceError):
    """The aggregator has too many calls of this kind in flight (from this caller, or
    from everyone); nothing was done, and the same call later may succeed."""

    exit_code = 5


class Superseded(GovernanceError):
    """A newer call of the same caller replaced this one (a silo holds one command stream)."""

    exit_code = 5


class RoundRefused(GovernanceError):
    """A secure aggregation round cannot be opened, or refused a silo's message
    (wrong stage, not in its cohort, ended); the reason says which and why."""

    exit_code = 6
