"""Policy engine benchmark: what our engines add on top of the Rego evaluator.

One realistic policy (the EU pack deploy/policies/eu when it exists and
loads, else the default bundle shipped with fedgov) decides on one realistic
report (22 features, two sensitive attributes with 2 and 5 groups, one
drifted feature), in the same process and the same run, through:

  raw regopy    a compiled regopy Bundle: set_input + query_bundle (the floor)
  RegoEngine    fedgov's embedded engine: input checks, query, decision checks
  OpaGoEngine   fedgov's opa-go engine: OPA's own Go evaluator in-process
                (opa-golib-python-bindings), same checks around it
  raw opa-go    opa_bindings.OpaEngine.eval_document on the same bundle (its floor)
  OpaEngine     fedgov's OPA backend against the OPA REST test double on
                127.0.0.1 (OPA's Go evaluator behind HTTP; not an OPA server:
                its latency is HTTP + JSON + our client around that evaluator)
  raw HTTP      the same POST with a bare requests.Session (the HTTP floor)

The ratio OpaGoEngine / RegoEngine (p50) is printed: below 1, OPA's engine
decides faster per decision.

Each repeat times every call, the backends taking turns in batches of 20
calls (so that other load on the machine hits them alike); the table shows
medians over repeats of decisions per second (calls / time in calls), p50
and p99 latency. Target: RegoEngine p50 <= 1.5x raw regopy p50.

    python benchmarks/bench_policy.py [--repeats 5] [--seconds 1.0] [--json]
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import regopy  # type: ignore[import-untyped]
import requests

from fedgov.errors import PolicyError
from fedgov.policy import OpaEngine, OpaGoEngine, RegoEngine, default_bundle_path, load_bundle
from fedgov.policy._opa_go import compile_on_opa
from fedgov.policy._regopy import DECISION_QUERY

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))  # the OPA REST test double lives with the tests
from support.opa_emulator import OpaEmulator  # noqa: E402

EU_PACK = ROOT / "deploy" / "policies" / "eu"
TARGET = 1.5


def _iso(t: dt.datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def report() -> dict[str, Any]:
    """A report's policy input as the agent builds it (the contract in fedgov.policy).

    The window ends now, so that a freshness rule (the EU pack has one) passes.
    """
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    features = {
        f"x{i:02d}": {"psi": 0.01 + 0.004 * i, "psi_pvalue": 0.5, "missing_rate": 0.0}
        for i in range(20)
    }
    features["x00"] = {"psi": 0.31, "psi_pvalue": 0.0004, "missing_rate": 0.001}
    features["channel"] = {"psi": 0.04, "psi_pvalue": 0.3, "missing_rate": 0.0}
    features["product"] = {"psi": 0.02, "psi_pvalue": 0.6, "missing_rate": 0.0}

    def groups(names: list[str], rates: list[float]) -> dict[str, Any]:
        return {
            g: {"count": 400 + 37 * k, "selection_rate": r, "tpr": 0.8 - r / 10, "fpr": r / 5}
            for k, (g, r) in enumerate(zip(names, rates, strict=True))
        }

    return {
        "model": {"id": "credit-risk", "version": "7"},
        "silo": "bank-fr-1",
        "jurisdiction": "EU-FR",
        "window": {"start": _iso(now - dt.timedelta(days=7)), "end": _iso(now)},
        "sample_size": 20000,
        "drift": {"features": features},
        "fairness": {
            "sex": {
                "demographic_parity_difference": 0.06,
                "demographic_parity_ratio": 0.88,
                "equalized_odds_difference": 0.09,
                "groups": groups(["F", "M"], [0.44, 0.5]),
            },
            "region": {
                "demographic_parity_difference": 0.12,
                "demographic_parity_ratio": 0.79,
                "equalized_odds_difference": 0.22,
                "groups": groups(
                    ["north", "south", "east", "west", "central"], [0.45, 0.5, 0.57, 0.48, 0.52]
                ),
            },
        },
    }


def choose_bundle() -> tuple[Path, str]:
    if EU_PACK.is_dir() and any(EU_PACK.glob("*.rego")):
        try:
            RegoEngine.from_bundle(EU_PACK)
            return EU_PACK, "EU pack"
        except PolicyError as exc:
            print(
                f"note: {EU_PACK} does not load ({exc}); using the default bundle", file=sys.stderr
            )
    return default_bundle_path(), "default bundle"


def raw_regopy(path: Path) -> Callable[[dict[str, Any]], Any]:
    """The floor: what a caller writes with regopy alone (compiled once, query per input)."""
    bundle = load_bundle(path)
    interp = regopy.Interpreter()
    interp.log_level = regopy.LogLevel.NONE
    if bundle.data:
        interp.add_data_json(json.dumps(bundle.data))
    for name, text in bundle.modules.items():
        interp.add_module(name, text)
    compiled = interp.build(DECISION_QUERY)

    def query(inp: dict[str, Any]) -> Any:
        interp.set_input(inp)
        return interp.query_bundle(compiled)

    return query


def time_round_robin(
    backends: dict[str, Callable[[], Any]], seconds: float, batch: int = 20
) -> dict[str, dict[str, float]]:
    """Time every call, backends taking turns in small batches.

    Taking turns spreads whatever else the machine is doing evenly over the
    backends, so their ratio holds on a busy machine. ``per_second`` is
    calls over the time spent in that backend's calls.
    """
    latencies: dict[str, list[float]] = {name: [] for name in backends}
    clock = time.perf_counter
    deadline = clock() + seconds * len(backends)
    gc.disable()
    try:
        while clock() < deadline:
            for name, fn in backends.items():
                out = latencies[name]
                for _ in range(batch):
                    t0 = clock()
                    fn()
                    out.append(clock() - t0)
    finally:
        gc.enable()
    stats = {}
    for name, values in latencies.items():
        values.sort()
        n = len(values)
        stats[name] = {
            "calls": n,
            "per_second": n / sum(values),
            "p50_us": values[n // 2] * 1e6,
            "p99_us": values[min(n - 1, int(n * 0.99))] * 1e6,
        }
    return stats


def median_of(runs: list[dict[str, float]]) -> dict[str, float]:
    return {k: statistics.median(r[k] for r in runs) for k in runs[0]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=1.0, help="per backend per repeat")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = parser.parse_args(argv)

    path, label = choose_bundle()
    inp = report()
    engine = RegoEngine.from_bundle(path)
    raw = raw_regopy(path)

    # Both must reach the same decision, or the comparison means nothing.
    ours = engine.evaluate(inp)
    theirs = raw(inp)[0]["x"]
    assert not ours.failed_closed, ours
    assert ours.allow == theirs["allow"] and set(ours.deny) == set(theirs["deny"]), (ours, theirs)

    go = OpaGoEngine.from_bundle(path)
    assert go.evaluate(inp) == ours, go.evaluate(inp)  # the same decision on OPA's engine
    raw_go = compile_on_opa(go.bundle)

    with OpaEmulator() as opa, OpaEngine.from_bundle(path, url=opa.url, timeout=5.0) as remote:
        assert remote.evaluate(inp) == ours, remote.evaluate(inp)
        session = requests.Session()
        url = f"{opa.url}/v1/data/fedgov/decision"
        body = json.dumps({"input": inp})
        headers = {"Content-Type": "application/json"}

        def raw_http() -> Any:
            response = session.post(url, data=body, headers=headers, timeout=5.0)
            return response.json()["result"]

        backends: dict[str, Callable[[], Any]] = {
            "raw regopy": lambda: raw(inp),
            "RegoEngine": lambda: engine.evaluate(inp),
            "raw opa-go": lambda: raw_go.eval_document("fedgov.decision", inp),
            "OpaGoEngine": lambda: go.evaluate(inp),
            "OpaEngine (emulator)": lambda: remote.evaluate(inp),
            "raw HTTP (emulator)": raw_http,
        }
        for fn in backends.values():  # warm up
            for _ in range(20):
                fn()
        runs: dict[str, list[dict[str, float]]] = {name: [] for name in backends}
        for _ in range(args.repeats):
            for name, stats in time_round_robin(backends, args.seconds).items():
                runs[name].append(stats)
        session.close()
    go.close()
    raw_go.close()

    results = {name: median_of(r) for name, r in runs.items()}
    overhead = results["RegoEngine"]["p50_us"] / results["raw regopy"]["p50_us"]
    opa_overhead = (
        results["OpaEngine (emulator)"]["p50_us"] / results["raw HTTP (emulator)"]["p50_us"]
    )
    go_vs_rego = results["OpaGoEngine"]["p50_us"] / results["RegoEngine"]["p50_us"]
    summary = {
        "bundle": str(path),
        "bundle_label": label,
        "digest": engine.digest,
        "decision": ours.to_dict(),
        "repeats": args.repeats,
        "seconds_per_run": args.seconds,
        "results": results,
        "overhead_regoengine_vs_raw": overhead,
        "overhead_opaengine_vs_raw_http": opa_overhead,
        "opagoengine_vs_regoengine_p50": go_vs_rego,
        "target": TARGET,
        "within_target": overhead <= TARGET,
    }
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        print(f"policy: {label} ({path.relative_to(ROOT) if path.is_relative_to(ROOT) else path})")
        print(f"decision: allow={ours.allow} deny={len(ours.deny)} warn={len(ours.warn)}"
              f" actions={list(ours.actions)}")  # fmt: skip
        print(f"medians over {args.repeats} repeats of {args.seconds:g}s per backend\n")
        print(f"{'backend':<22} {'decisions/s':>12} {'p50 us':>10} {'p99 us':>10} {'vs floor':>9}")
        floors = {
            "RegoEngine": "raw regopy",
            "raw regopy": "raw regopy",
            "OpaGoEngine": "raw opa-go",
            "raw opa-go": "raw opa-go",
            "OpaEngine (emulator)": "raw HTTP (emulator)",
            "raw HTTP (emulator)": "raw HTTP (emulator)",
        }
        for name, r in results.items():
            ratio = r["p50_us"] / results[floors[name]]["p50_us"]
            print(
                f"{name:<22} {r['per_second']:>12,.0f} {r['p50_us']:>10,.0f}"
                f" {r['p99_us']:>10,.0f} {ratio:>8.2f}x"
            )
        verdict = "OK" if overhead <= TARGET else "OVER TARGET"
        print(f"\nRegoEngine overhead vs raw regopy (p50): {overhead:.2f}x"
              f" (target <= {TARGET}x: {verdict})")  # fmt: skip
        faster = "faster" if go_vs_rego < 1 else "slower"
        print(f"OpaGoEngine / RegoEngine per decision (p50): {go_vs_rego:.2f}"
              f" ({1 / go_vs_rego:.1f}x {faster} on OPA's engine)")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
