"""A domain record's plain fields as a message's keyword arguments.

The ``*_to_proto`` functions build most of a message by copying attributes
of the same name (``model_id=r.model_id``); :func:`fields_of` writes that
copy once. Fields that change shape on the way (a nested message, JSON, a
decision) stay written out beside it, and a field name the message lacks
fails at construction (protobuf rejects unknown keywords).
"""

from __future__ import annotations

from typing import Any

__all__ = ["fields_of"]


def fields_of(record: object, *names: str, **renamed: str) -> dict[str, Any]:
    """``record``'s attributes ``names`` under the same names, and ``renamed`` as
    ``message_field="attribute"`` (``created_unix_ms="created_ms"``)."""
    same = {name: getattr(record, name) for name in names}
    return same | {field: getattr(record, attr) for field, attr in renamed.items()}
