"""The agent's `fedgov` verbs: ``fedgov agent run``.

Registered through the ``fedgov.verbs`` entry-point group (see
:mod:`fedgov.cli.main`); the agent's modules are imported only when the verb runs.
"""

from __future__ import annotations

import argparse
import logging

from fedgov.cli import Verbs
from fedgov.cli import arguments as t

__all__ = ["register", "run"]

log = logging.getLogger(__name__)


def register(verbs: Verbs) -> None:
    actions = t.add_actions(verbs, "agent", "the per-silo agent")
    r = t.add_verb(actions, "run", run)
    r.add_argument("--config", required=True, metavar="FILE", help="silo YAML config")
    r.add_argument("--once", action="store_true", help="process what is there, then exit")
    t.add_common(r)
    r.set_defaults(log_level=logging.INFO)  # a long-running process says what it does


def run(args: argparse.Namespace) -> int:
    """Report local windows to the aggregator.

    Read each new CSV/Parquet window in the input folders, compute statistics,
    evaluate the silo's Rego policy, expose /metrics and submit the report over gRPC.
    """
    import signal

    from agent.config import load_agent_config
    from agent.service import Agent

    config = load_agent_config(args.config)
    agent = Agent(config)  # fails closed: a broken spec or policy stops here

    def _stop(signum: int, _frame: object) -> None:
        log.info("signal %d: stopping", signum)
        agent.stop()

    signal.signal(signal.SIGTERM, _stop)
    try:
        agent.run(once=args.once)
    finally:
        agent.close()
    return 0
