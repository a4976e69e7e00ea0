"""The progress bar: drawn on a terminal only, after a delay, in place."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from fedgov.data import Progress, fold_file
from fedgov.spec import MonitoringSpec
from fedgov.synthetic import credit_data, write_table


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_quiet_when_the_stream_is_not_a_terminal() -> None:
    out = io.StringIO()
    with Progress(100, stream=out, delay=0.0, interval=0.0) as bar:
        for _ in range(10):
            bar.advance(10)
    assert out.getvalue() == ""
    assert bar.enabled is False and bar.done == 100


def test_draws_in_place_on_a_terminal() -> None:
    out = Tty()
    with Progress(200, stream=out, delay=0.0, interval=0.0, label="w.parquet") as bar:
        bar.advance(50)
        bar.advance(150)
    text = out.getvalue()
    assert text.startswith("\rw.parquet [")
    assert "25%" in text and "100%" in text and "200/200 rows" in text
    assert text.endswith("\n") and text.count("\n") == 1


def test_short_scans_stay_quiet_even_on_a_terminal() -> None:
    out = Tty()
    with Progress(10, stream=out, delay=60.0) as bar:
        bar.advance(10)
    assert out.getvalue() == ""


def test_disabled_never_draws() -> None:
    out = Tty()
    with Progress(10, stream=out, enabled=False, delay=0.0, interval=0.0) as bar:
        bar.advance(5)
    assert out.getvalue() == ""


def test_bytes_and_unknown_totals_render() -> None:
    bar = Progress(3_000_000, unit="bytes", enabled=False)
    bar.update(1_500_000)
    assert "50%" in bar.render() and "1.5 MB/3.0 MB" in bar.render()
    unknown = Progress(None, enabled=False)
    unknown.update(2_500_000)
    assert unknown.render().startswith("2.5M rows")
    with pytest.raises(ValueError, match="unit"):
        Progress(1, unit="lines")


def test_a_scan_with_progress_is_quiet_when_stderr_is_not_a_terminal(
    tmp_path: Path, credit_spec: MonitoringSpec, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_table(credit_data(3000, seed=3), tmp_path / "w.parquet")
    stats = fold_file(path, credit_spec, chunk_rows=500, progress=True)
    assert stats.rows == 3000
    captured = capsys.readouterr()
    assert captured.err == "" and captured.out == ""


def test_a_scan_draws_on_a_terminal(
    tmp_path: Path, credit_spec: MonitoringSpec, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sys

    import fedgov.data._progress as progress_module

    path = write_table(credit_data(3000, seed=3), tmp_path / "w.csv")
    err = Tty()
    monkeypatch.setattr(sys, "stderr", err)

    class Eager(Progress):  # draw at every chunk
        def __init__(self, *args: object, **kw: object) -> None:
            super().__init__(*args, **kw, delay=0.0, interval=0.0)  # type: ignore[arg-type, misc]

    monkeypatch.setattr(progress_module, "Progress", Eager)
    import fedgov.data._readers as readers

    monkeypatch.setattr(readers, "Progress", Eager)
    fold_file(path, credit_spec, chunk_rows=500, progress=True, read_ahead=False)
    text = err.getvalue()
    assert "w.csv" in text and "100%" in text and text.endswith("\n")
    assert "MB" in text or "kB" in text  # CSV progress is in bytes
