"""The checked-in stubs are exactly what the pinned generator makes from protos/."""

from __future__ import annotations

import filecmp
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]


def test_generated_stubs_match_protos(tmp_path: Path) -> None:
    pytest.importorskip("grpc_tools", reason="grpcio-tools (the `test` extra) regenerates stubs")
    subprocess.run(
        ["bash", str(ROOT / "scripts" / "gen_protos.sh"), str(tmp_path)], check=True, cwd=ROOT
    )
    generated = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*") if p.is_file())
    assert generated, "the generator produced nothing"
    checked_in = sorted(
        p.relative_to(ROOT) for p in (ROOT / "fedgov" / "v1").glob("*") if "_pb2" in p.name
    )
    assert generated == checked_in, "stubs added or removed: run scripts/gen_protos.sh"
    stale = [str(p) for p in generated if not filecmp.cmp(tmp_path / p, ROOT / p, shallow=False)]
    assert not stale, f"stale stubs {stale}: run scripts/gen_protos.sh and commit"


def test_no_row_level_fields_on_the_wire() -> None:
    """Every numeric field of a report is a count, a size or a time; no value column exists."""
    from fedgov.v1 import report_pb2

    allowed_repeated_numbers = {"counts"}
    for msg in report_pb2.DESCRIPTOR.message_types_by_name.values():
        for f in msg.fields:
            # is_repeated, not label: label is deprecated, and upb's warning leaves an
            # exception pending that the next C call (str.endswith) trips over.
            if f.is_repeated and f.type in (f.TYPE_DOUBLE, f.TYPE_FLOAT):
                pytest.fail(f"{msg.name}.{f.name}: repeated floats could carry row values")
            if f.is_repeated and f.type == f.TYPE_INT64:
                assert f.name in allowed_repeated_numbers or f.name.endswith("counts"), (
                    f"{msg.name}.{f.name}"
                )
