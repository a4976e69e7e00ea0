"""The `fedgov` command.

CLI composition
---------------
One console script, assembled from verb families; each family lives beside
its code and adds its own parsers and handlers (``register(verbs)``):

- the core's verbs are in this package, one module per verb:
  ``verbs_spec``, ``verbs_stats``, ``verbs_policy``, ``verbs_audit``,
  ``verbs_certs``, ``verbs_demo``;
- each side's verbs are in that side: ``agent/cli.py`` (``agent run``) and
  ``aggregator/cli/`` (``aggregator serve``, ``query *``, ``model *``, ``jobs``).
  They reach this parser through the entry-point group ``fedgov.verbs``
  (``[project.entry-points."fedgov.verbs"]`` in pyproject.toml).

Why an entry-point group: ``fedgov`` is the shared core and imports neither
side, not even inside a function, so it cannot name the sides' modules; the
packaging metadata names them instead, and a side can add a verb without
touching the core. The demo, which needs both sides, runs them as separate
processes (``fedgov aggregator serve``, ``fedgov agent run``, ``fedgov
query``) exactly as a user would. The metadata is written when the project is
installed: after editing the group, reinstall (``pip install -e .``).

Registering a family only builds parsers; a handler imports what it needs when
it runs, so ``fedgov query`` does not load the agent, nor the policy engine.
Exit codes: 0 ok, 1 a gate denied / generic error, 2 bad usage or config, 3 bad
data, 4 policy error, 5 aggregator unreachable, 6 report rejected, 130 interrupted.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence
from importlib.metadata import entry_points

from fedgov import __version__
from fedgov.cli import (
    VERB_GROUP,
    Verbs,
    verbs_audit,
    verbs_certs,
    verbs_demo,
    verbs_policy,
    verbs_spec,
    verbs_stats,
)
from fedgov.errors import GovernanceError

__all__ = ["build_parser", "main"]

Register = Callable[[Verbs], None]


def _side_families() -> list[Register]:
    """The verb families installed under :data:`~fedgov.cli.VERB_GROUP`, by entry-point name."""
    # By name, once: a second copy of the metadata on sys.path (a source checkout's
    # egg-info beside an installed copy) must not register a family twice.
    found = {ep.name: ep for ep in entry_points(group=VERB_GROUP)}
    return [found[name].load() for name in sorted(found)]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fedgov",
        description=(
            "Govern ML models across data silos: per-silo drift and fairness statistics, "
            "Rego policy gates, and cross-jurisdiction compliance queries over aggregates only."
        ),
        epilog="Run `fedgov demo` to see the whole flow on generated data.",
    )
    parser.add_argument("--version", action="version", version=f"fedgov {__version__}")
    verbs = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    families: list[Register] = [verbs_spec.register, verbs_stats.register]
    families += [verbs_policy.register, verbs_audit.register, verbs_certs.register]
    sides = _side_families()
    if not sides:
        parser.epilog = (
            f"No verbs are registered under the entry-point group {VERB_GROUP!r}: the installed "
            "metadata is missing or stale. Reinstall fedgov (pip install -e .)."
        )
    for register in [*families, *sides, verbs_demo.register]:
        register(verbs)
    return parser


def _configure_logging(args: argparse.Namespace) -> None:
    level = getattr(args, "log_level", logging.WARNING)  # long-running verbs default to INFO
    if getattr(args, "quiet", False):
        level = logging.ERROR
    elif getattr(args, "verbose", 0) >= 2:
        level = logging.DEBUG
    elif getattr(args, "verbose", 0) == 1:
        level = logging.INFO
    logging.basicConfig(
        level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        if exc.code == 2 and VERB_GROUP in (parser.epilog or ""):  # an unknown verb, maybe theirs
            print(f"fedgov: {parser.epilog}", file=sys.stderr)
        raise
    _configure_logging(args)
    try:
        return int(args.run(args))
    except GovernanceError as exc:
        print(f"fedgov: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("fedgov: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
