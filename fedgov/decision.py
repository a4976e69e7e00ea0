"""The decision a policy returns, and the checks on its shape.

A policy bundle answers one question per report: may this model version stay
in service? Its answer is the document at ``data.fedgov.decision``::

    {"allow": true|false,
     "deny": [str, ...] | set,      reasons the model is not allowed
     "warn": [str, ...] | set,      things a human should look at
     "actions": [str, ...] | set}   what to do next: "retrain", "rollback"...

Anything else (a missing key, an unknown key, ``allow`` as a string, ``allow``
true while ``deny`` names a reason) is not a decision; the engine turns it into
a fail-closed deny whose reason says what was wrong.

This module needs no policy engine (it lives outside :mod:`fedgov.policy`,
which re-exports it), so a :class:`~fedgov.report.Report` carrying a decision
can be built, stored and sent without loading regopy.
"""

from __future__ import annotations

import datetime as _dt
import logging
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from fedgov.errors import PolicyError

__all__ = [
    "DECISION_PATH",
    "KNOWN_ACTIONS",
    "Decision",
    "decision_log",
    "fail_closed",
    "parse_decision_document",
]

logger = logging.getLogger(__name__)

#: Where every bundle must put its decision document.
DECISION_PATH = "data.fedgov.decision"

#: Actions the rest of fedgov acts on; policies may name others, which are
#: recorded and audited but not acted on.
KNOWN_ACTIONS = frozenset({"block", "reannotate", "retrain", "rollback"})

_KEYS = ("allow", "deny", "warn", "actions")


def _dedupe(values: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(values))


@dataclass(frozen=True)
class Decision:
    """What a policy decided about one report.

    ``deny`` and ``warn`` keep their order with duplicates removed; ``actions``
    are sorted and unique, so equal decisions compare and serialise equally.
    ``bundle_digest`` names the exact bundle that decided (see
    :func:`fedgov.policy.load_bundle`); it is empty for a decision made
    without a bundle (a bundle that would not load).
    """

    allow: bool
    deny: tuple[str, ...] = ()
    warn: tuple[str, ...] = ()
    actions: tuple[str, ...] = ()
    bundle_digest: str = field(default="")

    def __post_init__(self) -> None:
        if not isinstance(self.allow, bool):
            raise TypeError(f"Decision.allow must be a bool, not {type(self.allow).__name__}")
        for name in ("deny", "warn", "actions"):
            values = getattr(self, name)
            if isinstance(values, str) or not isinstance(values, Iterable):
                raise TypeError(f"Decision.{name} must be a sequence of strings")
            values = tuple(values)
            if not all(isinstance(v, str) and v for v in values):
                raise TypeError(f"Decision.{name} must hold non-empty strings only")
            object.__setattr__(
                self, name, tuple(sorted(set(values))) if name == "actions" else _dedupe(values)
            )
        if not isinstance(self.bundle_digest, str):
            raise TypeError("Decision.bundle_digest must be a str")

    @property
    def failed_closed(self) -> bool:
        """True when the engine, not the policy, denied (see :func:`fail_closed`)."""
        return any(reason.startswith(_FAIL_CLOSED_PREFIX) for reason in self.deny)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict; :meth:`from_dict` reads it back unchanged."""
        return {
            "allow": self.allow,
            "deny": list(self.deny),
            "warn": list(self.warn),
            "actions": list(self.actions),
            "bundle_digest": self.bundle_digest,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Decision:
        """Read a decision written by :meth:`to_dict`.

        Raises :class:`~fedgov.errors.PolicyError` naming the field that is
        missing or has the wrong type.
        """
        if not isinstance(d, Mapping):
            raise PolicyError(f"a decision must be an object, not {_kind(d)}")
        body = {k: v for k, v in d.items() if k != "bundle_digest"}
        digest = d.get("bundle_digest", "")
        if not isinstance(digest, str):
            raise PolicyError(
                f"decision field 'bundle_digest' must be a string, not {_kind(digest)}"
            )
        try:
            return parse_decision_document(body, bundle_digest=digest)
        except ValueError as exc:
            raise PolicyError(str(exc)) from None


_FAIL_CLOSED_PREFIX = "policy failed closed: "


def fail_closed(reason: str, *, bundle_digest: str = "") -> Decision:
    """A deny made by the engine because the policy could not decide.

    The reason is kept as the only deny entry, prefixed so that audits and
    dashboards can tell an engine failure from a policy verdict.
    """
    text = reason if reason.startswith(_FAIL_CLOSED_PREFIX) else _FAIL_CLOSED_PREFIX + reason
    logger.warning("%s (bundle %s)", text, bundle_digest or "-")
    return Decision(allow=False, deny=(text,), bundle_digest=bundle_digest)


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, str):
        return f"the string {value!r}" if len(value) <= 40 else "a string"
    if isinstance(value, (int, float)):
        return f"the number {value!r}"
    if isinstance(value, Mapping):
        return "an object"
    if isinstance(value, (list, tuple, set, frozenset)):
        return "an array"
    return f"a {type(value).__name__}"


def _strings(key: str, value: Any) -> tuple[str, ...]:
    # Rego sets come back from the engine as JSON arrays.
    if isinstance(value, Mapping):
        raise ValueError(
            f"{DECISION_PATH}.{key} must be an array or set of strings, not an object"
            " (a Rego v0 partial set `deny[msg] { ... }` is read as a partial object"
            " by rego-cpp 1.x; write `deny contains msg if { ... }`)"
        )
    if isinstance(value, str) or not isinstance(value, (list, tuple, set, frozenset)):
        raise ValueError(
            f"{DECISION_PATH}.{key} must be an array or set of strings, not {_kind(value)}"
        )
    items = sorted(value) if isinstance(value, (set, frozenset)) else list(value)
    for i, item in enumerate(items):
        if not isinstance(item, str) or not item:
            raise ValueError(
                f"{DECISION_PATH}.{key}[{i}] must be a non-empty string, not {_kind(item)}"
            )
    return tuple(items)


def parse_decision_document(doc: Any, *, bundle_digest: str = "") -> Decision:
    """Check the shape of a decision document and build a :class:`Decision`.

    Raises :class:`ValueError` whose message says which part is wrong; the
    engine turns it into a fail-closed deny.
    """
    if not isinstance(doc, Mapping):
        raise ValueError(
            f"{DECISION_PATH} must be an object {{allow, deny, warn, actions}}, not {_kind(doc)}"
        )
    missing = [k for k in _KEYS if k not in doc]
    if missing:
        raise ValueError(f"{DECISION_PATH} lacks {', '.join(repr(k) for k in missing)}")
    unknown = sorted(str(k) for k in doc if k not in _KEYS)
    if unknown:
        raise ValueError(
            f"{DECISION_PATH} has unknown keys {', '.join(repr(k) for k in unknown)};"
            " allowed are allow, deny, warn, actions"
        )
    allow = doc["allow"]
    if not isinstance(allow, bool):
        raise ValueError(f"{DECISION_PATH}.allow must be a boolean, not {_kind(allow)}")
    deny = _strings("deny", doc["deny"])
    warn = _strings("warn", doc["warn"])
    actions = _strings("actions", doc["actions"])
    if allow and deny:
        raise ValueError(
            f"{DECISION_PATH} is inconsistent: allow is true but deny has {len(deny)} reason(s)"
            f" (first: {deny[0]!r})"
        )
    return Decision(allow=allow, deny=deny, warn=warn, actions=actions, bundle_digest=bundle_digest)


#: The bundle name under which decision logs give the bundle revision (the digest).
BUNDLE_NAME = "fedgov"


def decision_log(
    decision: Decision,
    input: Any,
    *,
    decision_id: str | None = None,
    timestamp: _dt.datetime | None = None,
) -> dict[str, Any]:
    """The fields of OPA's decision log for one decision, so OPA tooling can read it.

    ``decision_id`` (a new UUID unless given), ``path`` (``fedgov/decision``),
    ``input`` (the policy input as JSON values), ``result`` (the decision
    document: allow, deny, warn, actions), ``bundles`` (``{"fedgov":
    {"revision": <bundle digest>}}``) and ``timestamp`` (RFC 3339, UTC).
    """
    when = timestamp or _dt.datetime.now(_dt.UTC)
    return {
        "decision_id": decision_id or str(uuid.uuid4()),
        "path": DECISION_PATH.removeprefix("data.").replace(".", "/"),
        "input": input,
        "result": {k: v for k, v in decision.to_dict().items() if k != "bundle_digest"},
        "bundles": {BUNDLE_NAME: {"revision": decision.bundle_digest}},
        "timestamp": when.astimezone(_dt.UTC).isoformat().replace("+00:00", "Z"),
    }
