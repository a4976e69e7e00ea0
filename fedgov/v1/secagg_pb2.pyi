from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class SecAggSubmitRequest(_message.Message):
    __slots__ = ("round_id", "silo_id", "stage", "payload")
    ROUND_ID_FIELD_NUMBER: _ClassVar[int]
    SILO_ID_FIELD_NUMBER: _ClassVar[int]
    STAGE_FIELD_NUMBER: _ClassVar[int]
    PAYLOAD_FIELD_NUMBER: _ClassVar[int]
    round_id: str
    silo_id: str
    stage: int
    payload: bytes
    def __init__(self, round_id: _Optional[str] = ..., silo_id: _Optional[str] = ..., stage: _Optional[int] = ..., payload: _Optional[bytes] = ...) -> None: ...

class SecAggSubmitResponse(_message.Message):
    __slots__ = ("duplicate",)
    DUPLICATE_FIELD_NUMBER: _ClassVar[int]
    duplicate: bool
    def __init__(self, duplicate: _Optional[bool] = ...) -> None: ...

class SecAggPollRequest(_message.Message):
    __slots__ = ("round_id", "silo_id", "stage", "wait_ms")
    ROUND_ID_FIELD_NUMBER: _ClassVar[int]
    SILO_ID_FIELD_NUMBER: _ClassVar[int]
    STAGE_FIELD_NUMBER: _ClassVar[int]
    WAIT_MS_FIELD_NUMBER: _ClassVar[int]
    round_id: str
    silo_id: str
    stage: int
    wait_ms: int
    def __init__(self, round_id: _Optional[str] = ..., silo_id: _Optional[str] = ..., stage: _Optional[int] = ..., wait_ms: _Optional[int] = ...) -> None: ...

class SecAggPollResponse(_message.Message):
    __slots__ = ("status", "reason", "stage", "adverts", "inbound", "survivors", "dropped")
    class InboundEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: bytes
        def __init__(self, key: _Optional[str] = ..., value: _Optional[bytes] = ...) -> None: ...
    STATUS_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    STAGE_FIELD_NUMBER: _ClassVar[int]
    ADVERTS_FIELD_NUMBER: _ClassVar[int]
    INBOUND_FIELD_NUMBER: _ClassVar[int]
    SURVIVORS_FIELD_NUMBER: _ClassVar[int]
    DROPPED_FIELD_NUMBER: _ClassVar[int]
    status: str
    reason: str
    stage: int
    adverts: _containers.RepeatedScalarFieldContainer[bytes]
    inbound: _containers.ScalarMap[str, bytes]
    survivors: _containers.RepeatedScalarFieldContainer[str]
    dropped: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, status: _Optional[str] = ..., reason: _Optional[str] = ..., stage: _Optional[int] = ..., adverts: _Optional[_Iterable[bytes]] = ..., inbound: _Optional[_Mapping[str, bytes]] = ..., survivors: _Optional[_Iterable[str]] = ..., dropped: _Optional[_Iterable[str]] = ...) -> None: ...

class OpenRoundRequest(_message.Message):
    __slots__ = ("model_id", "period_start_unix_ms", "period_end_unix_ms", "part")
    MODEL_ID_FIELD_NUMBER: _ClassVar[int]
    PERIOD_START_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    PERIOD_END_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    PART_FIELD_NUMBER: _ClassVar[int]
    model_id: str
    period_start_unix_ms: int
    period_end_unix_ms: int
    part: str
    def __init__(self, model_id: _Optional[str] = ..., period_start_unix_ms: _Optional[int] = ..., period_end_unix_ms: _Optional[int] = ..., part: _Optional[str] = ...) -> None: ...

class RoundInfo(_message.Message):
    __slots__ = ("round_id", "model_id", "period_start_unix_ms", "period_end_unix_ms", "part", "cohort", "threshold", "stage", "status", "reason", "opened_unix_ms", "survivors")
    ROUND_ID_FIELD_NUMBER: _ClassVar[int]
    MODEL_ID_FIELD_NUMBER: _ClassVar[int]
    PERIOD_START_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    PERIOD_END_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    PART_FIELD_NUMBER: _ClassVar[int]
    COHORT_FIELD_NUMBER: _ClassVar[int]
    THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    STAGE_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    OPENED_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    SURVIVORS_FIELD_NUMBER: _ClassVar[int]
    round_id: str
    model_id: str
    period_start_unix_ms: int
    period_end_unix_ms: int
    part: str
    cohort: _containers.RepeatedScalarFieldContainer[str]
    threshold: int
    stage: int
    status: str
    reason: str
    opened_unix_ms: int
    survivors: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, round_id: _Optional[str] = ..., model_id: _Optional[str] = ..., period_start_unix_ms: _Optional[int] = ..., period_end_unix_ms: _Optional[int] = ..., part: _Optional[str] = ..., cohort: _Optional[_Iterable[str]] = ..., threshold: _Optional[int] = ..., stage: _Optional[int] = ..., status: _Optional[str] = ..., reason: _Optional[str] = ..., opened_unix_ms: _Optional[int] = ..., survivors: _Optional[_Iterable[str]] = ...) -> None: ...

class OpenRoundResponse(_message.Message):
    __slots__ = ("rounds",)
    ROUNDS_FIELD_NUMBER: _ClassVar[int]
    rounds: _containers.RepeatedCompositeFieldContainer[RoundInfo]
    def __init__(self, rounds: _Optional[_Iterable[_Union[RoundInfo, _Mapping]]] = ...) -> None: ...

class RoundsQuery(_message.Message):
    __slots__ = ("model_id",)
    MODEL_ID_FIELD_NUMBER: _ClassVar[int]
    model_id: str
    def __init__(self, model_id: _Optional[str] = ...) -> None: ...

class RoundsResponse(_message.Message):
    __slots__ = ("rounds",)
    ROUNDS_FIELD_NUMBER: _ClassVar[int]
    rounds: _containers.RepeatedCompositeFieldContainer[RoundInfo]
    def __init__(self, rounds: _Optional[_Iterable[_Union[RoundInfo, _Mapping]]] = ...) -> None: ...
