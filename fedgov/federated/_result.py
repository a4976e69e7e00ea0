"""What a retraining run leaves behind: ``weights.npz`` and ``result.json``.

A ServerApp writes them to the ``output-dir`` of its run config; the runner
reads them back. ``result.json`` is written last (atomically), so its
presence means the weights beside it are complete. A ServerApp that gives
up writes ``error.json`` instead, with a message for the operator.
A custom ServerApp plugged into :func:`fedgov.federated.run_training`
follows the same contract by calling :func:`write_result`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["ERROR_FILE", "RESULT_FILE", "WEIGHTS_FILE", "write_error", "write_result"]

RESULT_FILE = "result.json"
WEIGHTS_FILE = "weights.npz"
ERROR_FILE = "error.json"


def _write_json(path: Path, doc: Mapping[str, Any]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def write_result(
    output_dir: str | Path,
    arrays: Sequence[np.ndarray] | Mapping[str, np.ndarray],
    metadata: Mapping[str, Any],
) -> Path:
    """Write final weights (``weights.npz``) then ``result.json`` into ``output_dir``.

    ``arrays`` is a list (saved as ``arr_0, arr_1, ...``) or named arrays;
    ``metadata`` must be JSON-serialisable.
    """
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    named = (
        dict(arrays)
        if isinstance(arrays, Mapping)
        else {f"arr_{i}": a for i, a in enumerate(arrays)}
    )
    tmp = out / (WEIGHTS_FILE + ".tmp.npz")
    np.savez(tmp, **{k: np.asarray(v) for k, v in named.items()})  # type: ignore[arg-type]
    os.replace(tmp, out / WEIGHTS_FILE)
    _write_json(out / RESULT_FILE, dict(metadata))
    return out / RESULT_FILE


def write_error(output_dir: str | Path, message: str, **details: Any) -> Path:
    """Record why a run gave up, for the runner to report."""
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    _write_json(out / ERROR_FILE, {"error": message, **details})
    return out / ERROR_FILE
