"""The error of the federated package, in a module of its own so that every
other module (the runner, the process helpers) can raise it."""

from __future__ import annotations

from fedgov.errors import GovernanceError

__all__ = ["TrainingError"]


class TrainingError(GovernanceError):
    """A federated retraining run could not start, failed, or timed out."""

    exit_code = 6
