"""How the groups of an intersection table add up to the groups of its margins.

A table over ``sex*race`` has groups ``F|black``, ...; a table over a strict subset of
its attributes (``sex``) is its *margin*: group ``F`` is the sum of the groups whose
``sex`` slot is ``F``. The guards (complementary suppression) and the audit (the
structural equalities) read the same membership from here.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from fedgov.stats._counts import GROUP_SEPARATOR, INTERSECTION_SEPARATOR

__all__ = ["margin_group", "margin_members"]


def margin_members(
    attribute: str, groups: Sequence[str], tables: Mapping[str, Any]
) -> Iterator[np.ndarray]:
    """For every table of ``tables`` over a strict subset of ``attribute``'s attributes
    (``sex`` under ``sex*race``), and each of its groups: the indices of ``groups``
    that add up to it."""
    attrs = attribute.split(INTERSECTION_SEPARATOR)
    slots = [g.split(GROUP_SEPARATOR) for g in groups]
    for other in tables.values():
        sub = other.attribute.split(INTERSECTION_SEPARATOR)
        if not set(sub) < set(attrs):
            continue
        where = [attrs.index(a) for a in sub]
        members: dict[str, list[int]] = {}
        for i, s in enumerate(slots):
            members.setdefault(GROUP_SEPARATOR.join(s[j] for j in where), []).append(i)
        for rows in members.values():
            yield np.asarray(rows, dtype=np.intp)


def margin_group(attribute: str, sub_attribute: str, group: str) -> str:
    """The group of the margin table ``sub_attribute`` that ``group`` of ``attribute``
    adds to (``F`` for ``F|black`` of ``sex*race`` under ``sex``)."""
    attrs = attribute.split(INTERSECTION_SEPARATOR)
    slots = group.split(GROUP_SEPARATOR)
    return GROUP_SEPARATOR.join(
        slots[attrs.index(a)] for a in sub_attribute.split(INTERSECTION_SEPARATOR)
    )
