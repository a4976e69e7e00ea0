"""The public surface of fedgov.data is what __all__ says."""

from __future__ import annotations

import fedgov.data


def test_exported_names() -> None:
    assert set(fedgov.data.__all__) == {
        "DATA_SUFFIXES",
        "DEFAULT_CHUNK_ROWS",
        "Progress",
        "encode_arrow",
        "file_digest",
        "fold_file",
        "iter_batches",
        "iter_record_batches",
        "read_columns",
    }
    for name in fedgov.data.__all__:
        assert getattr(fedgov.data, name) is not None
