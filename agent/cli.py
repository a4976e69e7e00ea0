"""The agent's `fedgov` verbs: ``fedgov agent run`` and ``fedgov agent checkpoints``.

Registered through the ``fedgov.verbs`` entry-point group (see
:mod:`fedgov.cli.main`); the agent's modules are imported only when the verb runs.
"""

from __future__ import annotations

import argparse
import logging

from fedgov.cli import Verbs
from fedgov.cli import arguments as t

__all__ = ["checkpoints", "register", "run"]

log = logging.getLogger(__name__)


def register(verbs: Verbs) -> None:
    actions = t.add_actions(verbs, "agent", "the per-silo agent")
    r = t.add_verb(actions, "run", run)
    r.add_argument("--config", required=True, metavar="FILE", help="silo YAML config")
    r.add_argument(
        "--once",
        action="store_true",
        help="cron style: report the windows that are there, send the outbox, handle the "
        "commands pending at the aggregator (a secure-aggregation round is joined and "
        "waited for up to secure_rounds.wait_seconds), then exit",
    )
    t.add_common(r)
    r.set_defaults(log_level=logging.INFO)  # a long-running process says what it does
    c = t.add_verb(actions, "checkpoints", checkpoints)
    where = c.add_mutually_exclusive_group(required=True)
    where.add_argument("--config", metavar="FILE", help="silo YAML config (its state_dir)")
    where.add_argument("--state-dir", metavar="DIR", help="the agent's state folder")
    t.add_json(c)
    t.add_common(c)


def run(args: argparse.Namespace) -> int:
    """Report local windows to the aggregator.

    Read each new CSV/Parquet window in the input folders, compute statistics,
    evaluate the silo's Rego policy, expose /metrics and submit the report over gRPC.
    Take part in the secure-aggregation rounds the aggregator opens (only sums over a
    cohort of silos are revealed). With --once (cron style), run after a period closes:
    the agent also takes the pending commands and stays up to secure_rounds.wait_seconds
    for a round to finish.
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


def checkpoints(args: argparse.Namespace) -> int:
    """List the aggregator's signed audit checkpoints this silo kept.

    Every acknowledgement of a report carries the aggregator's newest signed
    checkpoint of its own audit log; the agent keeps them in its state. --json prints
    the file `fedgov audit verify AGGREGATOR_LOG --checkpoints FILE --public-key PEM` reads.
    """
    from contextlib import closing
    from pathlib import Path

    from agent.config import load_agent_config
    from agent.state import STATE_FILE, AgentState
    from fedgov.cli.verbs_audit import print_checkpoints
    from fedgov.errors import ConfigError

    state_dir = load_agent_config(args.config).state_dir if args.config else Path(args.state_dir)
    if not (state_dir / STATE_FILE).is_file():
        raise ConfigError(f"{state_dir}: no {STATE_FILE} there; is it the agent's state_dir?")
    with closing(AgentState(state_dir)) as state:
        found = state.checkpoints()
    print_checkpoints(found, as_json=args.json)
    return 0
