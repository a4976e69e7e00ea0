"""Decision documents: parsing, validation, serialisation, and the public API."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

import fedgov.policy
from fedgov.decision import parse_decision_document
from fedgov.errors import PolicyError
from fedgov.policy import Decision, fail_closed


def doc(**overrides: object) -> dict[str, object]:
    base: dict[str, object] = {"allow": True, "deny": [], "warn": [], "actions": []}
    base.update(overrides)
    return base


def test_public_api_is_exactly_exported() -> None:
    required = {
        "Decision",
        "fail_closed",
        "PolicyEngine",
        "RegoEngine",
        "OpaGoEngine",
        "load_engine",
        "ENGINES",
        "load_bundle",
        "Bundle",
        "run_policy_tests",
        "PolicyTestResult",
    }
    assert required <= set(fedgov.policy.__all__)
    for name in fedgov.policy.__all__:
        assert getattr(fedgov.policy, name) is not None


def test_parse_normalises_lists() -> None:
    d = parse_decision_document(
        doc(allow=False, deny=["b", "a", "b"], warn=["w"], actions=["retrain", "block", "retrain"]),
        bundle_digest="sha256:x",
    )
    assert d == Decision(
        allow=False,
        deny=("b", "a"),
        warn=("w",),
        actions=("block", "retrain"),
        bundle_digest="sha256:x",
    )


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        (None, "must be an object"),
        ("allow", "must be an object"),
        ({"allow": True}, "lacks 'deny', 'warn', 'actions'"),
        (doc(allow="true"), "allow must be a boolean, not the string 'true'"),
        (doc(allow=1), "allow must be a boolean, not the number 1"),
        (doc(deny="no"), "deny must be an array or set of strings"),
        (doc(allow=False, deny={"msg": True}), "partial object"),
        (doc(allow=False, deny=["ok", 3]), "deny[1] must be a non-empty string"),
        (doc(actions=[""]), "actions[0] must be a non-empty string"),
        (doc(extra=1), "unknown keys 'extra'"),
        (doc(allow=True, deny=["bad"]), "inconsistent: allow is true but deny has 1 reason"),
    ],
)
def test_parse_rejects_wrong_shapes(document: object, expected: str) -> None:
    with pytest.raises(ValueError, match=None) as info:
        parse_decision_document(document)
    assert expected in str(info.value)


def test_fail_closed_denies_with_reason() -> None:
    d = fail_closed("bundle missing", bundle_digest="sha256:abc")
    assert d.allow is False
    assert d.deny == ("policy failed closed: bundle missing",)
    assert d.actions == ()
    assert d.bundle_digest == "sha256:abc"
    assert d.failed_closed
    assert not Decision(allow=False, deny=("drift",)).failed_closed


def test_constructor_rejects_non_bool_allow() -> None:
    with pytest.raises(TypeError):
        Decision(allow="yes")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        Decision(allow=False, deny="reason")  # type: ignore[arg-type]


def test_from_dict_names_the_bad_field() -> None:
    with pytest.raises(PolicyError, match="allow must be a boolean"):
        Decision.from_dict({"allow": "no", "deny": [], "warn": [], "actions": []})
    with pytest.raises(PolicyError, match="bundle_digest"):
        Decision.from_dict({**doc(), "bundle_digest": 5})


texts = st.text(min_size=1, max_size=20)


@given(
    allow=st.booleans(),
    deny=st.lists(texts, max_size=4),
    warn=st.lists(texts, max_size=4),
    actions=st.lists(st.sampled_from(["retrain", "rollback", "reannotate", "block"]), max_size=4),
    digest=st.text(max_size=10),
)
def test_to_dict_from_dict_round_trip(
    allow: bool, deny: list[str], warn: list[str], actions: list[str], digest: str
) -> None:
    d = Decision(
        allow=allow and not deny,
        deny=tuple(deny),
        warn=tuple(warn),
        actions=tuple(actions),
        bundle_digest=digest,
    )
    assert Decision.from_dict(d.to_dict()) == d
    assert list(d.actions) == sorted(set(actions))
