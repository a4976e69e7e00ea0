"""Exported names are deliberate: each package's __all__ resolves, once per name."""

from __future__ import annotations

import importlib

import pytest

PACKAGES = [
    "fedgov",
    "fedgov.errors",
    "fedgov.limits",
    "fedgov.spec",
    "fedgov.stats",
    "fedgov.metrics",
    "fedgov.policy",
    "fedgov.data",
    "fedgov.wire",
    "aggregator.store",
    "fedgov.federated",
    "fedgov.privacy",
    "fedgov.audit",
    "fedgov.tls",
]


@pytest.mark.parametrize("name", PACKAGES)
def test_all_resolves(name: str) -> None:
    mod = importlib.import_module(name)
    exported = list(mod.__all__)
    assert len(exported) == len(set(exported)), f"{name}.__all__ lists a name twice"
    for attr in exported:
        assert hasattr(mod, attr), f"{name}.{attr} is exported but missing"


def test_agent_and_aggregator_do_not_import_each_other() -> None:
    import ast
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    for pkg, forbidden in (("agent", "aggregator"), ("aggregator", "agent"), ("fedgov", None)):
        for path in (root / pkg).rglob("*.py"):
            if pkg == "fedgov" and "cli" in path.parts:
                continue  # the CLI is the composition root
            tree = ast.parse(path.read_text())
            for node in ast.walk(tree):
                names = []
                if isinstance(node, ast.Import):
                    names = [a.name for a in node.names]
                elif isinstance(node, ast.ImportFrom) and node.module:
                    names = [node.module]
                for n in names:
                    top = n.split(".")[0]
                    bad = {forbidden} if forbidden else {"agent", "aggregator"}
                    assert top not in bad, f"{path.relative_to(root)} imports {n}"
