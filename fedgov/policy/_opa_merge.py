"""A bundle as OPA's REST API can take it: one policy per Rego package.

OPA compiles every stored module on each ``PUT /v1/policies/{id}``, so two
modules of one package that use each other's rules (a pack's ``policy.rego``
calls ``limits()`` from ``thresholds.rego``, which reads
``required_numbers`` from ``policy.rego``) cannot be uploaded one at a time:
whichever goes first is refused (undefined function, unsafe variable). The
modules of a package are therefore uploaded as one policy: the package line,
the imports of all of them, then each module's lines in name order with its
own ``package`` and ``import`` lines blanked. Everything else is the
modules' bytes; :meth:`Upload.origin` maps a line of the upload back to the
file and line it came from, for error messages. A package held by one module
is uploaded as that module, unchanged.

The policy id is the prefix plus the module names joined by ``+``
(``fedgov/policy.rego+thresholds.rego``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from fedgov.policy._bundle import Bundle, _mask, package_of

__all__ = ["Upload", "uploads"]

_STATEMENT = re.compile(r"^[ \t]*(package|import)[ \t]")


@dataclass(frozen=True)
class Upload:
    """One policy to PUT: its id, its text, and for each of its lines the (file, line) origin."""

    policy_id: str
    text: str
    lines: tuple[tuple[str, int], ...]

    def origin(self, row: int) -> tuple[str, int] | None:
        """``(module name, line)`` that line ``row`` (1-based) of the upload came from."""
        return self.lines[row - 1] if 1 <= row <= len(self.lines) else None


def uploads(bundle: Bundle, prefix: str) -> list[Upload]:
    """The bundle's modules (not its tests) as one upload per package, in package order."""
    by_package: dict[str, list[str]] = {}
    for name in sorted(bundle.modules):
        by_package.setdefault(package_of(bundle.modules[name]), []).append(name)
    out = []
    for names in by_package.values():
        policy_id = prefix + "+".join(names)
        if len(names) == 1:
            text = bundle.modules[names[0]]
            lines = tuple((names[0], i) for i in range(1, text.count("\n") + 2))
            out.append(Upload(policy_id, text, lines))
        else:
            out.append(_merged(bundle, names, policy_id))
    return out


def _merged(bundle: Bundle, names: list[str], policy_id: str) -> Upload:
    head: list[tuple[str, tuple[str, int]]] = []
    body: list[tuple[str, tuple[str, int]]] = []
    seen: set[str] = set()
    for name in names:
        text = bundle.modules[name]
        masked = _mask(text).split("\n")
        for i, line in enumerate(text.split("\n"), start=1):
            m = _STATEMENT.match(masked[i - 1])
            if m is None:
                body.append((line, (name, i)))
                continue
            statement = line.strip()
            if (m.group(1) == "package" and not head) or (
                m.group(1) == "import" and statement not in seen
            ):
                seen.add(statement)
                head.append((statement, (name, i)))
            body.append(("", (name, i)))  # keep the module's line count
    rows = head + body
    return Upload(policy_id, "\n".join(t for t, _ in rows), tuple(o for _, o in rows))
