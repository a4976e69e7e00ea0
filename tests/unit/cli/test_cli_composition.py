"""How `fedgov` is put together: core verbs in fedgov.cli, each side's through an entry point."""

from __future__ import annotations

from importlib.metadata import entry_points

from support.cli import python_prints

from fedgov.cli import VERB_GROUP
from fedgov.cli.main import build_parser


def test_each_side_adds_its_verbs_through_the_entry_point_group() -> None:
    # Stale metadata (an install older than the group) would drop these verbs: reinstall.
    found = {ep.name: ep.value for ep in entry_points(group=VERB_GROUP)}
    assert found == {"agent": "agent.cli:register", "aggregator": "aggregator.cli:register"}


def test_every_verb_is_there_and_runs_something() -> None:
    parser = build_parser()
    for argv in (
        ["spec", "--reference", "r.csv", "--model", "m", "--model-version", "1"]
        + ["--label", "y", "--prediction", "p", "-o", "s.json"],
        ["stats", "w.csv", "--spec", "s.json"],
        ["policy", "check", "b"],
        ["policy", "test", "b"],
        ["policy", "eval", "b", "--input", "i.json"],
        ["audit", "verify", "a.jsonl"],
        ["certs", "init", "--out", "d", "--silos", "EU-DE"],
        ["agent", "run", "--config", "c.yaml"],
        ["aggregator", "serve", "--insecure"],
        *(["query", q, "--model", "m"] for q in ("drift", "fairness", "central")),
        ["query", "decisions"],
        ["query", "silos"],
        ["query", "history", "--model", "m", "--metric", "psi"],
        ["model", "list"],
        ["model", "show", "m"],
        ["model", "promote", "m", "2"],
        ["model", "rollback", "m"],
        ["jobs"],
        ["demo", "--no-retrain"],
    ):
        args = parser.parse_args(argv)
        assert callable(args.run), argv


def test_building_the_parser_loads_no_machinery() -> None:
    # Registering verbs builds parsers only; a handler imports what it needs when it runs.
    code = (
        "import sys\n"
        "from fedgov.cli.main import build_parser\n"
        "build_parser()\n"
        "heavy = ('grpc', 'numpy', 'regopy', 'pyarrow', 'flwr', 'prometheus_client')\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in heavy\n"
        "    or m.startswith(('agent.service', 'aggregator.server', 'aggregator.query_client'))))"
    )
    assert (out := python_prints(code)) == "[]", out
