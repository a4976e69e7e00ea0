"""Federated retraining benchmark: where the time of a Flower run goes.

A 3-silo, 3-round retraining of the built-in model (logistic regression,
2,000 rows per silo) on Flower's deployment engine, real processes on
localhost, as fedgov runs it: ``FlowerCluster`` (SuperLink + 3 SuperNodes)
and ``run_training`` (``flwr run`` / ``flwr log --stream`` / ``flwr ls``).
Each configuration is repeated on a fresh cluster; the table shows medians.

Configurations:

  default     as deployed: TLS and SuperNode authentication (node keys
              enrolled with ``flwr supernode register`` before the
              SuperNodes start, counted in cluster start); Flower's
              defaults: ``--isolation subprocess``, SuperExec task poll 1 s
  insecure    the same without TLS or node authentication (the cost of both)
  poll-0.1    the same with ``FLWR_SUPEREXEC_TASK_POLL_INTERVAL=0.1``
  process     ``--isolation process``: the cluster starts each SuperExec
              itself (as separate containers would); poll 1 s

Breakdown of one run:

  cluster start     SuperLink until /health answers, SuperNodes until each
                    logged its node id (registered with the SuperLink)
  submit            ``flwr run APP CONN --format json`` (CLI start, FAB build,
                    StartRun): returns when the run is queued
  to round 1        run queued -> the ServerApp process (launched by the
                    SuperLink's SuperExec) sends the first round
  rounds            ServerApp's time from sending a round to aggregating it
                    (ClientApp pick-up, process start, training, reply)
  to end            last round aggregated -> ``flwr log --stream`` returns
  status            ``flwr ls --run-id --format json``
  stop              SIGTERM to every process of the cluster, until all exited

Also measured: ClientApp processes started (from the SuperNodes' logs), the
ClientApps' summed compute time as the SuperLink accounts it, the cost of
one bare Python process importing the ClientApp, and the local training
itself in-process.

    python benchmarks/bench_retrain.py [--repeats 3] [--configs default,poll-0.1,process] [--json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from fedgov.federated import FeatureMap, FlowerCluster, Silo, init_weights, train_local
from fedgov.federated.client_app import load_silo
from fedgov.spec import save_spec
from fedgov.synthetic import credit_data, write_table

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # the shared credit spec
from support.specs import derive_credit_spec  # noqa: E402

ROWS = 2000
ROUNDS = 3
SILOS = 3
CONFIGS: dict[str, dict[str, Any]] = {
    "default": {},
    "insecure": {"insecure": True},
    "poll-0.1": {"superexec_poll_interval": 0.1},
    "process": {"isolation": "process"},
}


def _data(root: Path) -> tuple[Path, list[Silo]]:
    spec = derive_credit_spec(4000, seed=1, intersections=())
    spec_path = root / "spec.json"
    save_spec(spec, spec_path)
    silos = []
    for i in range(SILOS):
        path = write_table(credit_data(ROWS, seed=10 + i, bias=0.15 * (i == 2)), root / f"s{i}.csv")
        silos.append(Silo(f"silo-{i}", {"data-path": str(path), "spec-path": str(spec_path)}))
    return spec_path, silos


def _one(spec_path: Path, silos: list[Silo], options: dict[str, Any]) -> dict[str, float]:
    t0 = time.perf_counter()
    cluster = FlowerCluster(silos, **options)
    cluster.start()
    try:
        result = cluster.run_training(
            {"spec-path": str(spec_path), "num-server-rounds": ROUNDS},
            output_dir=cluster.workdir / "model",
            timeout=300,
        )
        processes = sum(  # the SuperNode's log, or its SuperExec's with isolation=process
            log.read_text(errors="replace").count("Start `flwr-clientapp` process")
            for n in cluster.nodes
            for log in n.log_path.parent.glob("*.log")
        )
    finally:
        t_stop = time.perf_counter()
        cluster.stop()
    t_end = time.perf_counter()
    hist = result.metadata["history"]
    rounds = [h["finished"] - h["started"] for h in hist]
    compute = result.status.get("compute-time", {})
    return {
        "end to end": t_end - t0,
        "cluster start": cluster.timings["start"],
        "  superlink ready": cluster.timings["superlink"],
        "  supernodes registered": cluster.timings["supernodes"],
        "run (submit..status)": result.timings["total"],
        "  submit (flwr run)": result.timings["submit"],
        "  queued -> round 1": hist[0]["started"] - result.timings["submitted_at"],
        "  rounds (sum)": sum(rounds),
        "    per round (mean)": statistics.fmean(rounds),
        "  last round -> run end": result.timings["ended_at"] - hist[-1]["finished"],
        "  status (flwr ls)": result.timings["status"],
        "stop": t_end - t_stop,
        "clientapp processes": float(processes),
        "clientapp compute s (sum)": float(compute.get("clientapp-seconds", 0.0)),
        "serverapp compute s": float(compute.get("serverapp-seconds", 0.0)),
    }


def _bare_process() -> float:
    """One Python process that imports what a ClientApp process imports."""
    code = (
        "import flwr.clientapp, flwr.supernode.runtime.run_clientapp, fedgov.federated.client_app"
    )
    times = []
    for _ in range(3):
        t = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True)
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def _local_training(spec_path: Path, silos: list[Silo]) -> float:
    from fedgov.spec import load_spec

    spec = load_spec(spec_path)
    t = time.perf_counter()
    for s in silos:
        X, y, _ = load_silo(str(s.node_config["data-path"]), spec, None)
        train_local(init_weights(FeatureMap.from_spec(spec).n_inputs), X, y, epochs=20)
    return (time.perf_counter() - t) / len(silos)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--configs", default=",".join(CONFIGS))
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    names = [c for c in args.configs.split(",") if c]
    with tempfile.TemporaryDirectory(prefix="bench-retrain-") as tmp:
        spec_path, silos = _data(Path(tmp))
        runs: dict[str, list[dict[str, float]]] = {n: [] for n in names}
        for _ in range(args.repeats):
            for name in names:  # interleaved, so machine load hits configs alike
                runs[name].append(_one(spec_path, silos, CONFIGS[name]))
        extra = {
            "bare clientapp python process (s)": _bare_process(),
            "local training per silo, in-process (s)": _local_training(spec_path, silos),
        }
    med = {n: {k: statistics.median(r[k] for r in rs) for k in rs[0]} for n, rs in runs.items()}
    if args.json:
        print(json.dumps({"median": med, "runs": runs, "extra": extra}, indent=2))
        return 0
    print(
        f"fedgov retraining on Flower (deployment engine): {SILOS} silos x {ROWS} rows, "
        f"{ROUNDS} rounds, median of {args.repeats}; seconds unless noted"
    )
    keys = list(next(iter(med.values())))
    print(f"{'':32s}" + "".join(f"{n:>12s}" for n in names))
    for k in keys:
        print(f"{k:32s}" + "".join(f"{med[n][k]:12.2f}" for n in names))
    for k, v in extra.items():
        print(f"{k}: {v:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
