"""The input windows a silo watches: which files are new since they were last reported.

A window is one data file (CSV or Parquet) in a model's input folder, or the
input file itself. It is new when its size or modification time differs from
the fingerprint in the ledger (:meth:`agent.state.AgentState.processed_windows`).
The ledger key names the model, not its version, so a promoted version does
not report the old windows again.

A Spark input (``input: {engine: spark, ...}``) is one window, the whole table or
path; its fingerprint is the identity of the files Spark reads for it
(:mod:`fedgov.data._spark_window`), so it is new again when a file is added,
removed or rewritten.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from agent.state import Window
from fedgov.data import DATA_SUFFIXES, SparkInput, SparkWindow, open_spark_window
from fedgov.errors import ConfigError
from fedgov.spec import MonitoringSpec

__all__ = ["ModelWatch", "check_input", "new_windows", "window_of"]


@dataclass(frozen=True)
class ModelWatch:
    """A model version this silo monitors, and where its windows arrive."""

    spec: MonitoringSpec
    input: Path | SparkInput


def check_input(watch: ModelWatch) -> None:
    """Fail closed at start: a folder or file that is not there; for Spark, no pyspark
    or no Java (the session starts here, once, rather than at the first scan)."""
    if isinstance(watch.input, SparkInput):
        from fedgov.data import spark_session

        spark_session(watch.input)
    elif not watch.input.exists():
        raise ConfigError(f"{watch.input}: input folder or file does not exist")


def window_of(watch: ModelWatch, path: Path) -> Window:
    """The ledger entry of ``path`` as it is now."""
    st = path.stat()
    return Window(f"{watch.spec.model_id}:{path.resolve()}", f"{st.st_size}:{st.st_mtime_ns}")


def new_windows(
    watch: ModelWatch, processed: Mapping[str, str]
) -> list[tuple[Path | SparkWindow, Window]]:
    """The files of ``watch`` whose fingerprint is not the one in ``processed``, in name
    order, each with its ledger entry as seen now: the fingerprint recorded once it is
    reported is the one taken before it was read, so a file that changes while it is
    read is new again at the next scan."""
    if isinstance(watch.input, SparkInput):
        found = open_spark_window(watch.input)
        window = Window(f"{watch.spec.model_id}:spark:{found.name}", found.identity)
        return [] if processed.get(window.key) == window.fingerprint else [(found, window)]
    if watch.input.is_file():
        candidates = [watch.input]
    else:
        candidates = sorted(p for p in watch.input.iterdir() if p.suffix.lower() in DATA_SUFFIXES)
    out: list[tuple[Path | SparkWindow, Window]] = []
    for path in candidates:
        window = window_of(watch, path)
        if processed.get(window.key) != window.fingerprint:
            out.append((path, window))
    return out
