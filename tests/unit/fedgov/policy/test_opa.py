"""The OPA sidecar backend, and the OPA REST test double it is tested against.

What both policy backends share is in test_conformance.py; here are the
parts only a remote engine has: a server that is down or slow, transient
errors, answers that are not decisions, uploads and reloads.
"""

from __future__ import annotations

import json
import shutil
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support.opa_emulator import OpaEmulator
from support.ports import free_port

from fedgov.errors import ConfigError, PolicyError
from fedgov.policy import (
    Decision,
    OpaEngine,
    PolicyEngine,
    RegoEngine,
    default_bundle_path,
    load_bundle,
)

V1 = "package fedgov\n\nimport rego.v1\n\n"
GATE = V1 + (
    'deny contains "psi too high" if input.psi > data.fedgov.limits.psi_max\n'
    'decision := {"allow": count(deny) == 0, "deny": deny, "warn": [], "actions": []}\n'
)


@pytest.fixture
def opa() -> Iterator[OpaEmulator]:
    with OpaEmulator() as server:
        yield server


@pytest.fixture
def bundle(tmp_path: Path) -> Path:
    root = tmp_path / "bundle"
    root.mkdir()
    (root / "gate.rego").write_text(GATE, encoding="utf-8")
    (root / "data.json").write_text('{"fedgov": {"limits": {"psi_max": 0.2}}}', encoding="utf-8")
    return root


@pytest.fixture
def engine(opa: OpaEmulator, bundle: Path) -> Iterator[OpaEngine]:
    with OpaEngine.from_bundle(bundle, url=opa.url, timeout=2.0, retries=2) as e:
        yield e


def posts(opa: OpaEmulator) -> int:
    return sum(1 for method, path in opa.requests if method == "POST")


# --- start-up and uploads -------------------------------------------------------


def test_engine_satisfies_protocol_and_names_the_bundle(engine: OpaEngine, bundle: Path) -> None:
    assert isinstance(engine, PolicyEngine)
    assert engine.digest == load_bundle(bundle).digest == RegoEngine.from_bundle(bundle).digest
    d = engine.evaluate({"psi": 0.1})
    assert d == Decision(allow=True, bundle_digest=engine.digest)


def test_modules_and_data_are_uploaded_and_decisions_posted(
    engine: OpaEngine, opa: OpaEmulator
) -> None:
    assert opa.policies == {"fedgov/gate.rego": GATE}
    assert opa.data == {"fedgov": {"limits": {"psi_max": 0.2}}}
    assert ("PUT", "/v1/data/fedgov") in opa.requests
    assert ("PUT", "/v1/policies/fedgov/gate.rego") in opa.requests
    assert engine.evaluate({"psi": 0.5}).deny == ("psi too high",)
    assert opa.requests[-1] == ("POST", "/v1/data/fedgov/decision")


def test_default_bundle_decides_remotely(opa: OpaEmulator) -> None:
    with OpaEngine.from_bundle(default_bundle_path(), url=opa.url) as engine:
        d = engine.evaluate(
            {"sample_size": 1000, "fairness": {"sex": {"demographic_parity_ratio": 0.5}}}
        )
    assert d.allow is False and d.actions == ("retrain",)
    assert "four-fifths" in d.deny[0]


def test_compile_error_at_start_names_file_and_line(opa: OpaEmulator, bundle: Path) -> None:
    (bundle / "rules.rego").write_text(V1 + "bad if {\n  input.x == )\n}\n", encoding="utf-8")
    with pytest.raises(PolicyError) as info:
        OpaEngine.from_bundle(bundle, url=opa.url)
    assert info.value.file == str(bundle / "rules.rego")
    assert (info.value.line, info.value.column) == (6, 14)
    assert "OPA: " in str(info.value)


def test_bundle_without_decision_rule_is_rejected_before_upload(
    opa: OpaEmulator, tmp_path: Path
) -> None:
    (tmp_path / "p.rego").write_text(V1 + "allow := true\n", encoding="utf-8")
    with pytest.raises(PolicyError, match=r"no rule produces data\.fedgov\.decision"):
        OpaEngine.from_bundle(tmp_path, url=opa.url)
    assert opa.requests == []


def test_unreachable_at_start_is_a_policy_error_naming_the_url(bundle: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    started = time.monotonic()
    with pytest.raises(PolicyError) as info:
        OpaEngine.from_bundle(bundle, url=url, timeout=0.5, retries=1)
    assert url in str(info.value) and "connection refused" in str(info.value)
    assert "start the sidecar" in str(info.value)
    assert time.monotonic() - started < 2.0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"url": "http://127.0.0.1:8181/opa"}, "has a path"),
        ({"url": "127.0.0.1:8181"}, "must look like"),
        ({"timeout": 0}, "timeout must be positive"),
        ({"retries": -1}, "retries must be 0 or more"),
    ],
)
def test_bad_settings_are_config_errors(bundle: Path, kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        OpaEngine.from_bundle(bundle, **kwargs)


def test_stale_policies_of_ours_are_removed_and_others_kept(opa: OpaEmulator, bundle: Path) -> None:
    put(opa, "/v1/policies/fedgov/old.rego", V1 + 'decision := {"allow": false}\n')
    put(opa, "/v1/policies/team/other.rego", "package team\n\nx := 1\n")
    with OpaEngine.from_bundle(bundle, url=opa.url) as engine:
        assert sorted(opa.policies) == ["fedgov/gate.rego", "team/other.rego"]
        assert engine.evaluate({"psi": 0.1}).allow is True


def test_data_that_is_not_an_object_is_uploaded(opa: OpaEmulator, tmp_path: Path) -> None:
    (tmp_path / "p.rego").write_text(
        V1 + 'decision := {"allow": input.n < data.limit, "deny": [], "warn": [], "actions": []}\n',
        encoding="utf-8",
    )
    (tmp_path / "data.json").write_text('{"limit": 3}', encoding="utf-8")
    with OpaEngine.from_bundle(tmp_path, url=opa.url) as engine:
        assert opa.data == {"limit": 3}
        assert engine.evaluate({"n": 1}).allow is True
        assert engine.evaluate({"n": 5}) == Decision(allow=False, bundle_digest=engine.digest)


# --- failing closed ---------------------------------------------------------------


def test_health_check(engine: OpaEngine, opa: OpaEmulator) -> None:
    assert engine.healthy() is True
    assert ("GET", "/health") in opa.requests
    opa.stop()
    assert engine.healthy() is False


def test_server_down_fails_closed_naming_the_url(engine: OpaEngine, opa: OpaEmulator) -> None:
    opa.stop()
    started = time.monotonic()
    d = engine.evaluate({"psi": 0.1})
    assert d.allow is False and d.failed_closed
    assert f"{opa.url}/v1/data/fedgov/decision" in d.deny[0]
    assert "connection refused (after 3 attempts)" in d.deny[0]
    assert d.bundle_digest == engine.digest
    assert time.monotonic() - started < 2.0


def test_timeout_fails_closed(opa: OpaEmulator, bundle: Path) -> None:
    with OpaEngine.from_bundle(bundle, url=opa.url, timeout=0.5, retries=1) as engine:
        opa.delay = 3.0
        started = time.monotonic()
        d = engine.evaluate({"psi": 0.1})
        elapsed = time.monotonic() - started
    assert d.failed_closed and "no answer within 0.5s (after 2 attempts)" in d.deny[0]
    assert elapsed < 2.0


def test_transient_unavailability_is_retried(engine: OpaEngine, opa: OpaEmulator) -> None:
    before = posts(opa)
    opa.fail_next(2, status=503)
    assert engine.evaluate({"psi": 0.1}).allow is True
    assert posts(opa) - before == 3


def test_retries_are_bounded(opa: OpaEmulator, bundle: Path) -> None:
    with OpaEngine.from_bundle(bundle, url=opa.url, retries=1) as engine:
        before = posts(opa)
        opa.fail_next(5, status=503)
        d = engine.evaluate({"psi": 0.1})
    assert (
        d.failed_closed and "HTTP 503 (after 2 attempts): unavailable: injected fault" in d.deny[0]
    )
    assert posts(opa) - before == 2


def test_evaluation_error_is_not_retried(engine: OpaEngine, opa: OpaEmulator) -> None:
    before = posts(opa)
    body = json.dumps({"code": "internal_error", "message": "eval_conflict_error: boom"})
    opa.fail_next(1, status=500, body=body.encode())
    d = engine.evaluate({"psi": 0.1})
    assert d.failed_closed and "HTTP 500: internal_error: eval_conflict_error: boom" in d.deny[0]
    assert posts(opa) - before == 1


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"<html>bad gateway</html>", "answered with a body that is not JSON"),
        (b"[]", "answered an array, expected an object {result: ...}"),
        (b"{}", "data.fedgov.decision is undefined for this input"),
        (b'{"result": {"allow": "yes"}}', "lacks 'deny', 'warn', 'actions'"),
        (
            b'{"result": {"allow": "yes", "deny": [], "warn": [], "actions": []}}',
            "allow must be a boolean",
        ),
    ],
)
def test_answers_that_are_not_decisions_fail_closed(
    engine: OpaEngine, opa: OpaEmulator, body: bytes, reason: str
) -> None:
    opa.fail_next(1, status=200, body=body)
    d = engine.evaluate({"psi": 0.1})
    assert d.failed_closed and reason in d.deny[0]
    assert engine.evaluate({"psi": 0.1}).allow is True  # the next answer is fine again


def test_invalid_input_fails_closed_without_a_request(engine: OpaEngine, opa: OpaEmulator) -> None:
    before = posts(opa)
    d = engine.evaluate({"psi": float("inf")})
    assert d.failed_closed and "input.psi is inf" in d.deny[0]
    assert posts(opa) == before


def test_restarted_sidecar_fails_closed_until_reload(engine: OpaEngine, opa: OpaEmulator) -> None:
    port = int(opa.url.rsplit(":", 1)[1])
    opa.stop()
    with OpaEmulator(port=port) as fresh:  # empty, as a restarted OPA
        d = engine.evaluate({"psi": 0.1})
        assert d.failed_closed and "reload()" in d.deny[0]
        engine.reload()
        assert engine.evaluate({"psi": 0.1}).allow is True
        assert "fedgov/gate.rego" in fresh.policies


def test_concurrent_decisions(engine: OpaEngine) -> None:
    expected = {0.1: True, 0.5: False}
    failures: list[str] = []
    barrier = threading.Barrier(4)

    def work(psi: float) -> None:
        barrier.wait()
        for _ in range(20):
            if engine.evaluate({"psi": psi}).allow is not expected[psi]:
                failures.append(f"psi {psi}")

    threads = [threading.Thread(target=work, args=(p,)) for p in (0.1, 0.5, 0.1, 0.5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []


# --- reload ------------------------------------------------------------------------


def test_reload_uploads_the_changed_bundle(
    engine: OpaEngine, opa: OpaEmulator, bundle: Path
) -> None:
    old = engine.digest
    assert engine.evaluate({"psi": 0.3}).allow is False
    (bundle / "gate.rego").unlink()
    (bundle / "gate_v2.rego").write_text(GATE.replace("psi too high", "psi over limit"), "utf-8")
    (bundle / "data.json").write_text('{"fedgov": {"limits": {"psi_max": 0.25}}}', "utf-8")
    engine.reload()
    assert engine.digest == load_bundle(bundle).digest != old
    assert sorted(opa.policies) == ["fedgov/gate_v2.rego"]
    assert engine.evaluate({"psi": 0.3}) == Decision(
        allow=False, deny=("psi over limit",), bundle_digest=engine.digest
    )
    assert engine.evaluate({"psi": 0.22}).allow is True


def test_reload_from_another_folder(engine: OpaEngine, opa: OpaEmulator, tmp_path: Path) -> None:
    other = tmp_path / "default"
    shutil.copytree(default_bundle_path(), other)
    engine.reload(other)
    assert engine.digest == load_bundle(other).digest
    assert sorted(opa.policies) == ["fedgov/policy.rego"]
    assert engine.evaluate({"sample_size": 1000}).allow is True


def test_rejected_reload_keeps_the_previous_bundle(
    engine: OpaEngine, opa: OpaEmulator, bundle: Path
) -> None:
    old = engine.digest
    (bundle / "gate.rego").write_text(GATE.replace("input.psi >", "input.psi >>"), "utf-8")
    (bundle / "extra.rego").write_text(V1 + "helper := 1\n", "utf-8")
    with pytest.raises(PolicyError) as info:
        engine.reload()
    assert info.value.file == str(bundle / "gate.rego") and info.value.line == 5
    assert engine.digest == old
    assert opa.policies == {"fedgov/gate.rego": GATE}
    assert engine.evaluate({"psi": 0.5}) == Decision(
        allow=False, deny=("psi too high",), bundle_digest=old
    )


def test_odd_answer_while_uploading_is_a_policy_error(opa: OpaEmulator, bundle: Path) -> None:
    opa.fail_next(1, status=200, body=b"[]")  # the policy listing, not an object
    with pytest.raises(PolicyError, match="unexpected answer from OPA"):
        OpaEngine.from_bundle(bundle, url=opa.url)


def test_reload_that_fails_before_changing_opa_keeps_deciding(
    engine: OpaEngine, opa: OpaEmulator
) -> None:
    old = engine.digest
    opa.fail_next(3, status=503)  # the policy listing, with its two retries
    with pytest.raises(PolicyError, match="is not usable: HTTP 503"):
        engine.reload(default_bundle_path())
    assert engine.digest == old
    assert engine.evaluate({"psi": 0.1}) == Decision(allow=True, bundle_digest=old)


def test_failed_restore_fails_closed_until_a_good_reload(
    engine: OpaEngine, opa: OpaEmulator, bundle: Path
) -> None:
    (bundle / "gate.rego").write_text(GATE.replace("input.psi >", "input.psi >>"), "utf-8")
    # The reload lists, puts data.json, has gate.rego rejected; then the restore's
    # listing meets three 503s.
    opa.fail_next(3, status=503, after=3)
    with pytest.raises(PolicyError, match="gate.rego:5"):
        engine.reload()
    d = engine.evaluate({"psi": 0.1})
    assert d.failed_closed and "could not be restored" in d.deny[0]
    assert posts(opa) == 0  # nothing was asked of a half-uploaded OPA
    (bundle / "gate.rego").write_text(GATE, "utf-8")
    engine.reload()
    assert engine.evaluate({"psi": 0.1}) == Decision(allow=True, bundle_digest=engine.digest)


# --- the test double itself ------------------------------------------------------


def call(opa: OpaEmulator, method: str, path: str, body: bytes | None = None) -> tuple[int, Any]:
    request = urllib.request.Request(opa.url + path, data=body, method=method)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            raw = response.read()
            return response.status, json.loads(raw) if raw else None
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, json.loads(exc.read())


def put(opa: OpaEmulator, path: str, text: str) -> tuple[int, Any]:
    return call(opa, "PUT", path, text.encode())


def test_emulator_health_and_unknown_paths(opa: OpaEmulator) -> None:
    assert call(opa, "GET", "/health") == (200, {})
    status, body = call(opa, "GET", "/v1/config")
    assert status == 404 and body["code"] == "resource_not_found"


def test_emulator_compile_error_is_an_opa_style_400(opa: OpaEmulator) -> None:
    status, body = put(opa, "/v1/policies/p", V1 + "x := {\n")
    assert status == 400
    assert body["code"] == "invalid_parameter"
    assert body["message"] == "error(s) occurred while compiling module(s)"
    error = body["errors"][0]
    # OPA places an unclosed brace at the end of the text: line 6
    assert error["location"]["file"] == "p" and error["location"]["row"] == 6
    assert error["message"]
    assert opa.policies == {}


def test_emulator_stores_data_at_paths(opa: OpaEmulator) -> None:
    assert call(opa, "PUT", "/v1/data/a/b", b'{"c": 1}') == (204, None)
    assert call(opa, "PUT", "/v1/data/a/d", b"2") == (204, None)
    assert opa.data == {"a": {"b": {"c": 1}, "d": 2}}
    assert call(opa, "POST", "/v1/data/a/b/c", b'{"input": {}}') == (200, {"result": 1})
    assert call(opa, "DELETE", "/v1/data/a/d") == (204, None)
    assert opa.data == {"a": {"b": {"c": 1}}}
    assert call(opa, "DELETE", "/v1/data/a/zzz")[0] == 404
    assert call(opa, "PUT", "/v1/data/x", b"NaN")[0] == 400


def test_emulator_evaluates_with_input_and_reports_undefined_as_opa(opa: OpaEmulator) -> None:
    put(opa, "/v1/policies/p", V1 + "big := input.n > 1\nonly_big := true if input.n > 1\n")
    assert call(opa, "POST", "/v1/data/fedgov/big", b'{"input": {"n": 5}}') == (
        200,
        {"result": True},
    )
    assert call(opa, "POST", "/v1/data/fedgov/big", b'{"input": {"n": 0}}') == (
        200,
        {"result": False},  # a false document is a result, not undefined
    )
    assert call(opa, "POST", "/v1/data/fedgov/only_big", b'{"input": {"n": 0}}') == (200, {})
    assert call(opa, "GET", "/v1/data/fedgov/only_big") == (200, {})  # no input: undefined
    status, listing = call(opa, "GET", "/v1/policies")
    assert status == 200 and [p["id"] for p in listing["result"]] == ["p"]
    assert call(opa, "DELETE", "/v1/policies/p") == (200, {})
    assert call(opa, "DELETE", "/v1/policies/p")[0] == 404
