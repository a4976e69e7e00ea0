"""The shape DESIGN.md asks for, read from the source with ``ast``.

- Layers: ``agent -> fedgov`` and ``aggregator -> fedgov`` only; ``fedgov``
  imports neither side, with no exemption (not even its CLI, not even inside
  a function or under ``TYPE_CHECKING``).
- No import circles among the modules of ``fedgov``, ``agent`` and
  ``aggregator``. Every import counts: at module level, inside functions, and
  under ``if TYPE_CHECKING:`` too. A type-only circle is still two concepts
  leaning on each other, and it turns into a runtime one the day the name is
  needed at run time; a :class:`typing.Protocol` on the using side breaks it
  (see ``fedgov.federated.runner.Watched``).
- Modules stay small: at most :data:`MAX_LINES` lines, except the ones listed in
  :data:`BIG_MODULES` with a reason. Both lists must shrink, never go stale:
  an entry that no longer applies fails its test, so remove it.
"""

from __future__ import annotations

import ast
from collections import deque
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest
from support.cli import python_prints

ROOT = Path(__file__).resolve().parents[3]
PACKAGES = ("fedgov", "agent", "aggregator")
SIDES = ("agent", "aggregator")
GENERATED = ("fedgov.v1",)  # protoc's stubs: not counted for size
MAX_LINES = 400

#: Modules allowed over MAX_LINES, and why. Shrink this list; never grow it lightly.
BIG_MODULES: dict[str, str] = {}


@dataclass(frozen=True)
class Import:
    source: str  # the importing module
    target: str  # the imported module, as written (absolute)
    path: Path
    line: int


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


@cache
def _modules() -> dict[str, Path]:
    return {
        _module_name(p): p
        for pkg in PACKAGES
        for p in sorted((ROOT / pkg).rglob("*.py"))
        if "__pycache__" not in p.parts
    }


def _imports_of(name: str, path: Path) -> list[Import]:
    """Every import statement in the file, wherever it is, as absolute module names.

    ``from a import b`` names ``a.b`` when that is a module, else ``a``. Calls of
    ``importlib.import_module("...")`` and ``__import__("...")`` with a literal count too.
    """
    is_package = path.name == "__init__.py"
    out: list[Import] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                here = name.split(".") if is_package else name.split(".")[:-1]
                here = here[: len(here) - (node.level - 1)]
                base = ".".join([*here, *([node.module] if node.module else [])])
            for alias in node.names:
                full = f"{base}.{alias.name}"
                targets.append(full if full in _modules() else base)
        elif (
            isinstance(node, ast.Call)
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
            and (
                (isinstance(node.func, ast.Name) and node.func.id == "__import__")
                or (isinstance(node.func, ast.Attribute) and node.func.attr == "import_module")
            )
        ):
            targets = [node.args[0].value]
        out += [Import(name, t, path, getattr(node, "lineno", 0)) for t in targets]
    return out


@cache
def _all_imports() -> tuple[Import, ...]:
    return tuple(imp for name, path in _modules().items() for imp in _imports_of(name, path))


def _resolve(target: str) -> str | None:
    """The module of ours that ``target`` names (``a.b.C`` -> ``a.b``), or None."""
    while target and target not in _modules():
        target = target.rpartition(".")[0]
    return target or None


@cache
def _graph() -> dict[str, dict[str, Import]]:
    edges: dict[str, dict[str, Import]] = {m: {} for m in _modules()}
    for imp in _all_imports():
        target = _resolve(imp.target)
        if target is not None and target != imp.source:
            edges[imp.source].setdefault(target, imp)
    return edges


def _strongly_connected(edges: dict[str, dict[str, Import]]) -> list[frozenset[str]]:
    """Tarjan's algorithm, iterative; components of more than one module."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[frozenset[str]] = []
    for start in sorted(edges):
        if start in index:
            continue
        work = [(start, iter(sorted(edges[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            for child in children:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges[child]))))
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = set()
                    while True:
                        m = stack.pop()
                        on_stack.discard(m)
                        component.add(m)
                        if m == node:
                            break
                    if len(component) > 1:
                        found.append(frozenset(component))
    return found


def _cycle_path(component: frozenset[str], edges: dict[str, dict[str, Import]]) -> str:
    """One shortest circle through the component's first module, each step with its line."""
    start = min(component)
    previous: dict[str, str] = {}
    queue = deque([start])
    while queue:
        node = queue.popleft()
        for child in sorted(edges[node]):
            if child not in component:
                continue
            if child == start:
                steps = [node]
                while steps[-1] != start:
                    steps.append(previous[steps[-1]])
                steps.reverse()
                hops = zip(steps, [*steps[1:], start], strict=True)
                return "\n".join(
                    f"  {a} -> {b}  ({edges[a][b].path.relative_to(ROOT)}:{edges[a][b].line})"
                    for a, b in hops
                )
            if child not in previous:
                previous[child] = node
                queue.append(child)
    return "  " + ", ".join(sorted(component))


def test_the_import_graph_sees_imports_inside_functions() -> None:
    # The checks below are only as good as the graph: a lazy import must be an edge.
    assert "fedgov.data" in _graph()["fedgov.cli.verbs_stats"]
    assert "agent.service" in _graph()["agent.cli"]


def test_no_import_circles() -> None:
    edges = _graph()
    circles = list(_strongly_connected(edges))
    report = "\n\n".join(_cycle_path(c, edges) for c in circles)
    assert not circles, f"import circles (break each, e.g. move the shared name):\n{report}"


@pytest.mark.parametrize(
    ("package", "forbidden"),
    [("fedgov", SIDES), ("agent", ("aggregator",)), ("aggregator", ("agent",))],
)
def test_layers(package: str, forbidden: tuple[str, ...]) -> None:
    """fedgov imports neither side (its CLI included); the sides never import each other."""
    bad = [
        f"{imp.path.relative_to(ROOT)}:{imp.line} imports {imp.target}"
        for imp in _all_imports()
        if imp.source.split(".")[0] == package and imp.target.split(".")[0] in forbidden
    ]
    assert not bad, f"{package} must not import {' or '.join(forbidden)}:\n" + "\n".join(bad)


def _size(path: Path) -> int:
    return len(path.read_text(encoding="utf-8").splitlines())


def test_modules_are_small() -> None:
    too_big = {
        str(path.relative_to(ROOT)): _size(path)
        for name, path in _modules().items()
        if not name.startswith(GENERATED) and _size(path) > MAX_LINES
    }
    unlisted = {p: n for p, n in too_big.items() if p not in BIG_MODULES}
    assert not unlisted, (
        f"modules over {MAX_LINES} lines (split by concept; see STYLE.md): {unlisted}"
    )


def test_big_module_exceptions_are_still_needed() -> None:
    stale = [
        path
        for path in sorted(BIG_MODULES)
        if not (ROOT / path).exists() or _size(ROOT / path) <= MAX_LINES
    ]
    assert not stale, f"gone or now small enough, remove from BIG_MODULES: {stale}"


def test_a_report_does_not_load_the_policy_engine() -> None:
    # fedgov.report needs the Decision type only (fedgov.decision), not regopy or OPA.
    code = (
        "import sys, fedgov.report, fedgov.decision\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'regopy'"
        " or m.startswith('fedgov.policy')))"
    )
    assert (out := python_prints(code)) == "[]", out
