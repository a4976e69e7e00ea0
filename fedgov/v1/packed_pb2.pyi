from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class PackedFeatureCounts(_message.Message):
    __slots__ = ("counts", "fine_counts")
    COUNTS_FIELD_NUMBER: _ClassVar[int]
    FINE_COUNTS_FIELD_NUMBER: _ClassVar[int]
    counts: bytes
    fine_counts: bytes
    def __init__(self, counts: _Optional[bytes] = ..., fine_counts: _Optional[bytes] = ...) -> None: ...

class PackedGroupCounts(_message.Message):
    __slots__ = ("counts",)
    COUNTS_FIELD_NUMBER: _ClassVar[int]
    counts: bytes
    def __init__(self, counts: _Optional[bytes] = ...) -> None: ...

class PackedWindowStats(_message.Message):
    __slots__ = ("features", "outcomes", "scores")
    FEATURES_FIELD_NUMBER: _ClassVar[int]
    OUTCOMES_FIELD_NUMBER: _ClassVar[int]
    SCORES_FIELD_NUMBER: _ClassVar[int]
    features: _containers.RepeatedCompositeFieldContainer[PackedFeatureCounts]
    outcomes: _containers.RepeatedCompositeFieldContainer[PackedGroupCounts]
    scores: _containers.RepeatedCompositeFieldContainer[PackedGroupCounts]
    def __init__(self, features: _Optional[_Iterable[_Union[PackedFeatureCounts, _Mapping]]] = ..., outcomes: _Optional[_Iterable[_Union[PackedGroupCounts, _Mapping]]] = ..., scores: _Optional[_Iterable[_Union[PackedGroupCounts, _Mapping]]] = ...) -> None: ...

class PackedReport(_message.Message):
    __slots__ = ("stats",)
    STATS_FIELD_NUMBER: _ClassVar[int]
    stats: PackedWindowStats
    def __init__(self, stats: _Optional[_Union[PackedWindowStats, _Mapping]] = ...) -> None: ...
