"""`fedgov policy check|test|eval`: Rego policy bundles, without an agent or aggregator."""

from __future__ import annotations

import argparse

from fedgov.cli import Verbs
from fedgov.cli import arguments as t
from fedgov.cli.output import print_json
from fedgov.errors import PolicyError

__all__ = ["register"]


def register(verbs: Verbs) -> None:
    actions = t.add_actions(verbs, "policy", "check, test and evaluate Rego policy bundles")
    c = t.add_verb(actions, "check", check)
    c.add_argument("bundle", metavar="BUNDLE")
    _add_engine(c, ("regopy", "opa-go"))
    t.add_common(c)
    c = t.add_verb(actions, "test", test)
    c.add_argument("bundle", metavar="BUNDLE")
    _add_engine(c, ("regopy", "opa-go", "both"))
    t.add_json(c)
    t.add_common(c)
    c = t.add_verb(actions, "eval", evaluate)
    c.add_argument("bundle", metavar="BUNDLE")
    c.add_argument("--input", required=True, metavar="FILE", help="input JSON document")
    _add_engine(c, ("regopy", "opa-go"))
    t.add_common(c)


def _add_engine(parser: argparse.ArgumentParser, choices: tuple[str, ...]) -> None:
    parser.add_argument(
        "--engine",
        choices=choices,
        default="regopy",
        help="regopy: rego-cpp embedded (default); opa-go: OPA's own evaluator in-process"
        " (requirements/opa-go.txt)"
        + ("; both: run on each, fail if either fails" if "both" in choices else ""),
    )


def check(args: argparse.Namespace) -> int:
    """Compile a bundle; errors name file and line."""
    from fedgov.policy import load_engine

    engine = load_engine(args.bundle, engine=args.engine)  # loads, checks, compiles once
    modules = len(engine.bundle.modules)
    print(f"{args.bundle}: OK ({modules} module(s), digest {engine.digest[:12]})")
    return 0


def test(args: argparse.Namespace) -> int:
    """Run the bundle's *_test.rego tests."""
    from fedgov.policy import run_policy_tests

    engines = ("regopy", "opa-go") if args.engine == "both" else (args.engine,)
    results = [r for e in engines for r in run_policy_tests(args.bundle, engine=e)]
    failed = [r for r in results if not r.passed]
    if args.json:
        print_json([{"name": r.name, "passed": r.passed, "message": r.message} for r in results])
    else:
        for r in results:
            verdict = "PASS" if r.passed else "FAIL"
            print(f"{verdict}: {r.name}{'' if r.passed else ' ' + r.message}")
        print("-" * 40)
        print(f"{len(results) - len(failed)} passed, {len(failed)} failed")
    if not results:
        raise PolicyError(f"{args.bundle}: no test_* rules found in *_test.rego files")
    return 1 if failed else 0


def evaluate(args: argparse.Namespace) -> int:
    """Evaluate the decision for an input document."""
    from fedgov.documents import load_document
    from fedgov.policy import load_engine

    engine = load_engine(args.bundle, engine=args.engine)
    # Missing, a directory, not UTF-8, not JSON, nested absurdly: one located message.
    doc = load_document(args.input, what="JSON input file", yaml_syntax=False)
    decision = engine.evaluate(doc)
    print_json(decision.to_dict())
    return 0 if decision.allow else 1
