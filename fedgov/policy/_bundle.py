"""Policy bundles: a folder of Rego modules and their data.

Layout (a subset of OPA's bundle format)::

    bundle/
      policy.rego          any number of *.rego modules, in sub-folders too
      policy_test.rego     *_test.rego modules hold tests; they never decide
      data.json            optional; mounted at the data root, so
                           {"fedgov": {"thresholds": ...}} is data.fedgov.thresholds

Hidden files and folders (``.git``...) are ignored, and so is any data.json
below the root. The bundle digest is ``sha256:<hex>`` over the name and bytes
of every file that decides (modules and data.json, not tests), in name order:
two folders with the same policy files have the same digest, and a changed
threshold changes it.

This module also holds the few facts read from Rego source without an engine
(package names, top-level rule names, function calls): enough to reject a
bundle that cannot produce ``data.fedgov.decision`` and to find test rules.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fedgov.documents import MAX_DEPTH, nested_too_deep
from fedgov.errors import PolicyError

__all__ = [
    "Bundle",
    "Call",
    "RuleHead",
    "check_decision_rule",
    "check_rego_v1",
    "function_calls",
    "load_bundle",
    "package_of",
    "position",
    "produces_decision",
    "rule_heads",
]

logger = logging.getLogger(__name__)

DATA_FILE = "data.json"
TEST_SUFFIX = "_test.rego"


@dataclass(frozen=True)
class Bundle:
    """A loaded bundle. ``modules`` and ``tests`` map a relative path to its text."""

    path: Path
    modules: dict[str, str]
    data: dict[str, Any]
    digest: str
    tests: dict[str, str] = field(default_factory=dict)

    def file(self, name: str) -> str:
        """The path to show in messages for the bundle file ``name``."""
        return str(self.path / name)


def load_bundle(path: str | Path) -> Bundle:
    """Read a bundle folder; raise :class:`PolicyError` naming the file at fault."""
    root = Path(path)
    if not root.is_dir():
        raise PolicyError(
            "policy bundle is not a directory; pass the folder holding the *.rego files",
            file=str(root),
        )
    modules: dict[str, str] = {}
    tests: dict[str, str] = {}
    blobs: dict[str, bytes] = {}
    for file in sorted(root.rglob("*.rego")):
        rel = file.relative_to(root)
        if any(part.startswith(".") for part in rel.parts) or not file.is_file():
            continue
        name = rel.as_posix()
        raw = _read(file)
        text = _decode(raw, file)
        if name.endswith(TEST_SUFFIX):
            tests[name] = text
        else:
            modules[name] = text
            blobs[name] = raw
    if not modules:
        raise PolicyError(
            f"no Rego modules (*.rego other than *{TEST_SUFFIX}) in the bundle", file=str(root)
        )
    data: dict[str, Any] = {}
    data_file = root / DATA_FILE
    if data_file.is_file():
        raw = _read(data_file)
        data = _parse_data(_decode(raw, data_file), data_file)
        blobs[DATA_FILE] = raw
    bundle = Bundle(path=root, modules=modules, data=data, digest=_digest(blobs), tests=tests)
    logger.debug(
        "loaded bundle %s: %d modules, %d test modules, digest %s",
        root,
        len(modules),
        len(tests),
        bundle.digest,
    )
    return bundle


def _read(file: Path) -> bytes:
    try:
        return file.read_bytes()
    except OSError as exc:
        raise PolicyError(f"cannot read: {exc.strerror}", file=str(file)) from None


def _decode(raw: bytes, file: Path) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line, column = position(raw[: exc.start].decode("utf-8", "replace"), None)
        raise PolicyError(
            "is not UTF-8 text; save it as UTF-8", file=str(file), line=line, column=column
        ) from None


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _parse_data(text: str, file: Path) -> dict[str, Any]:
    if nested_too_deep(text):  # json.loads recurses: refuse before the stack runs out
        raise PolicyError(
            f"nested more than {MAX_DEPTH} levels deep; policy data is a shallow JSON object",
            file=str(file),
        )
    try:
        data = json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise PolicyError(
            f"invalid JSON: {exc.msg}", file=str(file), line=exc.lineno, column=exc.colno
        ) from None
    except ValueError as exc:
        raise PolicyError(f"invalid JSON: {exc}", file=str(file)) from None
    if not isinstance(data, dict):
        raise PolicyError(
            "must hold a JSON object (it is mounted at the data root)",
            file=str(file),
            line=1,
            column=1,
        )
    return data


def _digest(blobs: dict[str, bytes]) -> str:
    h = hashlib.sha256()
    for name in sorted(blobs):
        encoded = name.encode("utf-8")
        h.update(b"%d:" % len(encoded) + encoded)
        h.update(b"%d:" % len(blobs[name]) + blobs[name])
    return "sha256:" + h.hexdigest()


# --- facts read from Rego source -------------------------------------------

_STRING = re.compile(r'"(?:[^"\\\n]|\\.)*"|`[^`]*`')
_COMMENT = re.compile(r"#[^\n]*")
_TOKEN = re.compile(r'"|`|#')
_PACKAGE = re.compile(r"^[ \t]*package[ \t]+([A-Za-z_][\w.]*)", re.M)
_IMPORT = re.compile(r"^[ \t]*import[ \t]+([A-Za-z_][\w.]*)(?:[ \t]+as[ \t]+([A-Za-z_]\w*))?", re.M)
_HEAD = re.compile(r"[ \t]*(?:default[ \t]+)?([A-Za-z_]\w*)((?:\.[A-Za-z_]\w*)*)[ \t]*(\()?")
_CALL = re.compile(r"(?<![\w.$])([A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*)[ \t]*\(")
_KEYWORDS = frozenset(
    "package import default else if not some every with as in contains set true false null".split()
)
_ALWAYS_KNOWN = frozenset({"print"})  # rego-cpp runs print() but is_builtin("print") is False


def _mask(text: str) -> str:
    """``text`` with comments and string contents blanked, offsets unchanged."""
    out: list[str] = []
    i = 0
    while True:
        m = _TOKEN.search(text, i)
        if m is None:
            out.append(text[i:])
            return "".join(out)
        out.append(text[i : m.start()])
        if m.group() == "#":
            end = _COMMENT.match(text, m.start()).end()  # type: ignore[union-attr]
            out.append(" " * (end - m.start()))
        else:
            s = _STRING.match(text, m.start())
            if s is None:  # unterminated: the engine reports it; blank the line
                nl = text.find("\n", m.start())
                end = len(text) if nl < 0 else nl
                out.append(" " * (end - m.start()))
            else:
                end = s.end()
                out.append('"' + re.sub(r"[^\n]", " ", text[m.start() + 1 : end - 1]) + '"')
        i = end


@dataclass(frozen=True)
class RuleHead:
    """A top-level statement: ``name`` is the first identifier, ``ref`` the dotted rest."""

    name: str
    ref: str
    offset: int  # character offset of the name in the module text
    function: bool = False  # ``name(args) ...``


def package_of(text: str) -> str:
    m = _PACKAGE.search(_mask(text))
    return m.group(1) if m else ""


def rule_heads(text: str) -> list[RuleHead]:
    """Names of the rules and functions a module defines, at brace depth 0."""
    masked = _mask(text)
    heads: list[RuleHead] = []
    depth = 0
    line_start = 0
    for line in masked.splitlines(keepends=True):
        if depth == 0:
            m = _HEAD.match(line)
            if m and m.group(1) not in _KEYWORDS:
                heads.append(
                    RuleHead(
                        m.group(1),
                        m.group(2).lstrip("."),
                        line_start + m.start(1),
                        function=m.group(3) is not None,
                    )
                )
        for ch in line:
            if ch in "({[":
                depth += 1
            elif ch in ")}]" and depth > 0:
                depth -= 1
        line_start += len(line)
    return heads


@dataclass(frozen=True)
class Call:
    name: str
    module: str
    offset: int


def function_calls(modules: dict[str, str]) -> list[Call]:
    """Calls that are neither to the bundle's own functions nor through ``data``/imports.

    What remains should be a builtin; the engine checks each name with rego-cpp.
    """
    defined: dict[str, set[str]] = {}
    for text in modules.values():
        defined.setdefault(package_of(text), set()).update(h.name for h in rule_heads(text))
    calls: list[Call] = []
    for module, text in modules.items():
        masked = _mask(text)
        aliases = {m.group(2) or m.group(1).rsplit(".", 1)[-1] for m in _IMPORT.finditer(masked)}
        local = defined.get(package_of(text), set())
        head_offsets = {h.offset for h in rule_heads(text)}
        for m in _CALL.finditer(masked):
            name = m.group(1)
            first = name.split(".", 1)[0]
            if (
                m.start(1) in head_offsets
                or name in _KEYWORDS
                or name in _ALWAYS_KNOWN
                or first in ("data", "input")
                or first in aliases
                or name in local
            ):
                continue
            calls.append(Call(name, module, m.start(1)))
    return calls


def produces_decision(bundle: Bundle) -> bool:
    """Whether some module defines ``data.fedgov.decision`` (or rules below it)."""
    for text in bundle.modules.values():
        pkg = package_of(text)
        heads = rule_heads(text)
        if pkg == "fedgov" and any(h.name == "decision" for h in heads):
            return True
        if (pkg == "fedgov.decision" or pkg.startswith("fedgov.decision.")) and heads:
            return True
    return False


def check_decision_rule(bundle: Bundle) -> None:
    """Raise :class:`PolicyError` unless the bundle can produce a decision.

    Called by the engines after compiling, so that a syntax error is reported
    as such rather than as a missing rule.
    """
    if not produces_decision(bundle):
        raise PolicyError(
            "no rule produces data.fedgov.decision; add `package fedgov` and a rule"
            ' `decision := {"allow": ..., "deny": ..., "warn": ..., "actions": ...}`',
            file=str(bundle.path),
        )


_BEFORE_BODY = re.compile(r"([\w\])}\"`])\s*\Z")
_LAST_WORD = re.compile(r"(\w+)\s*\Z")
_BEFORE_VALUE = frozenset({"if", "contains", "in"})  # a `{` after these opens a body or a value


def v0_rule_body(text: str) -> int | None:
    """Offset of the first rule body opened without ``if`` (Rego v0), or None.

    A ``{`` at brace depth 0 right after a rule head (``allow {``,
    ``deny[msg] {``, ``f(x) = y {``, ``else {``) opens a v0 body; one after an
    operator (``:=``, ``=``), ``if``, ``contains`` or ``in`` opens a value or a
    v1 body.
    """
    masked = _mask(text)
    depth = 0
    for i, ch in enumerate(masked):
        if ch == "{" and depth == 0:
            before = masked[:i]
            word = _LAST_WORD.search(before)
            if _BEFORE_BODY.search(before) and (word is None or word.group(1) not in _BEFORE_VALUE):
                return i
        if ch in "({[":
            depth += 1
        elif ch in ")}]" and depth > 0:
            depth -= 1
    return None


def check_rego_v1(bundle: Bundle, *, with_tests: bool = False) -> None:
    """Raise :class:`PolicyError` at the first Rego v0 rule body.

    fedgov reads Rego v1, as OPA 1.x does by default. rego-cpp accepts v0 too
    but reads some of it differently (a v0 ``deny[msg] { ... }`` becomes an
    object), so the embedded engine refuses it here rather than decide what
    OPA would refuse.
    """
    sources = {**bundle.modules, **(bundle.tests if with_tests else {})}
    for name, text in sources.items():
        offset = v0_rule_body(text)
        if offset is not None:
            line, column = position(text, offset)
            raise PolicyError(
                "Rego v0 syntax: `if` is required before a rule body (fedgov reads Rego v1,"
                " as OPA 1.x does); write `allow if { ... }`, `deny contains msg if { ... }`",
                file=bundle.file(name),
                line=line,
                column=column,
            )


def position(text: str, offset: int | None, *, byte_offset: bool = False) -> tuple[int, int]:
    """1-based (line, column) of ``offset`` in ``text`` (end of text when None).

    rego-cpp reports byte offsets into the UTF-8 source; pass ``byte_offset=True``.
    """
    if byte_offset and offset is not None:
        prefix = text.encode("utf-8")[:offset].decode("utf-8", "replace")
    else:
        prefix = text if offset is None else text[:offset]
    line = prefix.count("\n") + 1
    column = len(prefix) - (prefix.rfind("\n") + 1) + 1
    return line, column
