"""The public surface of a package, pinned by its tests."""

from __future__ import annotations

from collections.abc import Iterable
from types import ModuleType


def assert_exports(module: ModuleType, names: Iterable[str]) -> None:
    """``module.__all__`` is exactly ``names``, and each of them is bound to something."""
    assert set(module.__all__) == set(names)
    for name in module.__all__:
        assert getattr(module, name) is not None, name
