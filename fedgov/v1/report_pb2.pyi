from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class FeatureCounts(_message.Message):
    __slots__ = ("name", "kind", "counts", "fine_counts", "suppressed", "fine_suppressed")
    NAME_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    COUNTS_FIELD_NUMBER: _ClassVar[int]
    FINE_COUNTS_FIELD_NUMBER: _ClassVar[int]
    SUPPRESSED_FIELD_NUMBER: _ClassVar[int]
    FINE_SUPPRESSED_FIELD_NUMBER: _ClassVar[int]
    name: str
    kind: str
    counts: _containers.RepeatedScalarFieldContainer[int]
    fine_counts: _containers.RepeatedScalarFieldContainer[int]
    suppressed: int
    fine_suppressed: int
    def __init__(self, name: _Optional[str] = ..., kind: _Optional[str] = ..., counts: _Optional[_Iterable[int]] = ..., fine_counts: _Optional[_Iterable[int]] = ..., suppressed: _Optional[int] = ..., fine_suppressed: _Optional[int] = ...) -> None: ...

class OutcomeCounts(_message.Message):
    __slots__ = ("attribute", "groups", "counts", "suppressed")
    ATTRIBUTE_FIELD_NUMBER: _ClassVar[int]
    GROUPS_FIELD_NUMBER: _ClassVar[int]
    COUNTS_FIELD_NUMBER: _ClassVar[int]
    SUPPRESSED_FIELD_NUMBER: _ClassVar[int]
    attribute: str
    groups: _containers.RepeatedScalarFieldContainer[str]
    counts: _containers.RepeatedScalarFieldContainer[int]
    suppressed: int
    def __init__(self, attribute: _Optional[str] = ..., groups: _Optional[_Iterable[str]] = ..., counts: _Optional[_Iterable[int]] = ..., suppressed: _Optional[int] = ...) -> None: ...

class ScoreCounts(_message.Message):
    __slots__ = ("attribute", "groups", "counts", "suppressed")
    ATTRIBUTE_FIELD_NUMBER: _ClassVar[int]
    GROUPS_FIELD_NUMBER: _ClassVar[int]
    COUNTS_FIELD_NUMBER: _ClassVar[int]
    SUPPRESSED_FIELD_NUMBER: _ClassVar[int]
    attribute: str
    groups: _containers.RepeatedScalarFieldContainer[str]
    counts: _containers.RepeatedScalarFieldContainer[int]
    suppressed: int
    def __init__(self, attribute: _Optional[str] = ..., groups: _Optional[_Iterable[str]] = ..., counts: _Optional[_Iterable[int]] = ..., suppressed: _Optional[int] = ...) -> None: ...

class Privacy(_message.Message):
    __slots__ = ("k", "epsilon", "rho", "sigma", "rho_total", "delta")
    K_FIELD_NUMBER: _ClassVar[int]
    EPSILON_FIELD_NUMBER: _ClassVar[int]
    RHO_FIELD_NUMBER: _ClassVar[int]
    SIGMA_FIELD_NUMBER: _ClassVar[int]
    RHO_TOTAL_FIELD_NUMBER: _ClassVar[int]
    DELTA_FIELD_NUMBER: _ClassVar[int]
    k: int
    epsilon: float
    rho: float
    sigma: float
    rho_total: float
    delta: float
    def __init__(self, k: _Optional[int] = ..., epsilon: _Optional[float] = ..., rho: _Optional[float] = ..., sigma: _Optional[float] = ..., rho_total: _Optional[float] = ..., delta: _Optional[float] = ...) -> None: ...

class WindowStats(_message.Message):
    __slots__ = ("spec_digest", "rows", "features", "outcomes", "outcome_missing", "privacy", "scores")
    SPEC_DIGEST_FIELD_NUMBER: _ClassVar[int]
    ROWS_FIELD_NUMBER: _ClassVar[int]
    FEATURES_FIELD_NUMBER: _ClassVar[int]
    OUTCOMES_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_MISSING_FIELD_NUMBER: _ClassVar[int]
    PRIVACY_FIELD_NUMBER: _ClassVar[int]
    SCORES_FIELD_NUMBER: _ClassVar[int]
    spec_digest: str
    rows: int
    features: _containers.RepeatedCompositeFieldContainer[FeatureCounts]
    outcomes: _containers.RepeatedCompositeFieldContainer[OutcomeCounts]
    outcome_missing: int
    privacy: Privacy
    scores: _containers.RepeatedCompositeFieldContainer[ScoreCounts]
    def __init__(self, spec_digest: _Optional[str] = ..., rows: _Optional[int] = ..., features: _Optional[_Iterable[_Union[FeatureCounts, _Mapping]]] = ..., outcomes: _Optional[_Iterable[_Union[OutcomeCounts, _Mapping]]] = ..., outcome_missing: _Optional[int] = ..., privacy: _Optional[_Union[Privacy, _Mapping]] = ..., scores: _Optional[_Iterable[_Union[ScoreCounts, _Mapping]]] = ...) -> None: ...

class Window(_message.Message):
    __slots__ = ("start_unix_ms", "end_unix_ms")
    START_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    END_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    start_unix_ms: int
    end_unix_ms: int
    def __init__(self, start_unix_ms: _Optional[int] = ..., end_unix_ms: _Optional[int] = ...) -> None: ...

class Decision(_message.Message):
    __slots__ = ("allow", "deny", "warn", "actions", "bundle_digest")
    ALLOW_FIELD_NUMBER: _ClassVar[int]
    DENY_FIELD_NUMBER: _ClassVar[int]
    WARN_FIELD_NUMBER: _ClassVar[int]
    ACTIONS_FIELD_NUMBER: _ClassVar[int]
    BUNDLE_DIGEST_FIELD_NUMBER: _ClassVar[int]
    allow: bool
    deny: _containers.RepeatedScalarFieldContainer[str]
    warn: _containers.RepeatedScalarFieldContainer[str]
    actions: _containers.RepeatedScalarFieldContainer[str]
    bundle_digest: str
    def __init__(self, allow: _Optional[bool] = ..., deny: _Optional[_Iterable[str]] = ..., warn: _Optional[_Iterable[str]] = ..., actions: _Optional[_Iterable[str]] = ..., bundle_digest: _Optional[str] = ...) -> None: ...

class AuditHead(_message.Message):
    __slots__ = ("seq", "hash")
    SEQ_FIELD_NUMBER: _ClassVar[int]
    HASH_FIELD_NUMBER: _ClassVar[int]
    seq: int
    hash: str
    def __init__(self, seq: _Optional[int] = ..., hash: _Optional[str] = ...) -> None: ...

class Report(_message.Message):
    __slots__ = ("report_id", "silo_id", "jurisdiction", "model_id", "model_version", "window", "spec_digest", "stats", "metrics_json", "decision", "input_digest", "created_unix_ms", "prev_report_hash", "audit_head")
    REPORT_ID_FIELD_NUMBER: _ClassVar[int]
    SILO_ID_FIELD_NUMBER: _ClassVar[int]
    JURISDICTION_FIELD_NUMBER: _ClassVar[int]
    MODEL_ID_FIELD_NUMBER: _ClassVar[int]
    MODEL_VERSION_FIELD_NUMBER: _ClassVar[int]
    WINDOW_FIELD_NUMBER: _ClassVar[int]
    SPEC_DIGEST_FIELD_NUMBER: _ClassVar[int]
    STATS_FIELD_NUMBER: _ClassVar[int]
    METRICS_JSON_FIELD_NUMBER: _ClassVar[int]
    DECISION_FIELD_NUMBER: _ClassVar[int]
    INPUT_DIGEST_FIELD_NUMBER: _ClassVar[int]
    CREATED_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    PREV_REPORT_HASH_FIELD_NUMBER: _ClassVar[int]
    AUDIT_HEAD_FIELD_NUMBER: _ClassVar[int]
    report_id: str
    silo_id: str
    jurisdiction: str
    model_id: str
    model_version: str
    window: Window
    spec_digest: str
    stats: WindowStats
    metrics_json: str
    decision: Decision
    input_digest: str
    created_unix_ms: int
    prev_report_hash: str
    audit_head: AuditHead
    def __init__(self, report_id: _Optional[str] = ..., silo_id: _Optional[str] = ..., jurisdiction: _Optional[str] = ..., model_id: _Optional[str] = ..., model_version: _Optional[str] = ..., window: _Optional[_Union[Window, _Mapping]] = ..., spec_digest: _Optional[str] = ..., stats: _Optional[_Union[WindowStats, _Mapping]] = ..., metrics_json: _Optional[str] = ..., decision: _Optional[_Union[Decision, _Mapping]] = ..., input_digest: _Optional[str] = ..., created_unix_ms: _Optional[int] = ..., prev_report_hash: _Optional[str] = ..., audit_head: _Optional[_Union[AuditHead, _Mapping]] = ...) -> None: ...
