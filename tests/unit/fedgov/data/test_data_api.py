"""The public surface of fedgov.data is what __all__ says."""

from __future__ import annotations

from support.exports import assert_exports

import fedgov.data


def test_exported_names() -> None:
    assert_exports(
        fedgov.data,
        {
            "DATA_SUFFIXES",
            "DEFAULT_CHUNK_ROWS",
            "Progress",
            "encode_arrow",
            "file_digest",
            "fold_file",
            "iter_batches",
            "iter_record_batches",
            "read_columns",
        },
    )
