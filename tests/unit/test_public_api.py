"""Exported names are deliberate: each package's __all__ resolves, once per name.

(Which package may import which is checked in tests/unit/project/test_structure.py.)
"""

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
    "fedgov.decision",
    "fedgov.data",
    "fedgov.wire",
    "aggregator.store",
    "fedgov.federated",
    "fedgov.privacy",
    "fedgov.audit",
    "fedgov.tls",
    "fedgov.identity",
    "fedgov.cli",
]


@pytest.mark.parametrize("name", PACKAGES)
def test_all_resolves(name: str) -> None:
    mod = importlib.import_module(name)
    exported = list(mod.__all__)
    assert len(exported) == len(set(exported)), f"{name}.__all__ lists a name twice"
    for attr in exported:
        assert hasattr(mod, attr), f"{name}.{attr} is exported but missing"
