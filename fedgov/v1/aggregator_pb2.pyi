from fedgov.v1 import report_pb2 as _report_pb2
from fedgov.v1 import secagg_pb2 as _secagg_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ModelServed(_message.Message):
    __slots__ = ("model_id", "model_version", "spec_digest", "spec_json")
    MODEL_ID_FIELD_NUMBER: _ClassVar[int]
    MODEL_VERSION_FIELD_NUMBER: _ClassVar[int]
    SPEC_DIGEST_FIELD_NUMBER: _ClassVar[int]
    SPEC_JSON_FIELD_NUMBER: _ClassVar[int]
    model_id: str
    model_version: str
    spec_digest: str
    spec_json: str
    def __init__(self, model_id: _Optional[str] = ..., model_version: _Optional[str] = ..., spec_digest: _Optional[str] = ..., spec_json: _Optional[str] = ...) -> None: ...

class RegisterRequest(_message.Message):
    __slots__ = ("silo_id", "jurisdiction", "models", "policy_bundle_digest", "agent_version")
    SILO_ID_FIELD_NUMBER: _ClassVar[int]
    JURISDICTION_FIELD_NUMBER: _ClassVar[int]
    MODELS_FIELD_NUMBER: _ClassVar[int]
    POLICY_BUNDLE_DIGEST_FIELD_NUMBER: _ClassVar[int]
    AGENT_VERSION_FIELD_NUMBER: _ClassVar[int]
    silo_id: str
    jurisdiction: str
    models: _containers.RepeatedCompositeFieldContainer[ModelServed]
    policy_bundle_digest: str
    agent_version: str
    def __init__(self, silo_id: _Optional[str] = ..., jurisdiction: _Optional[str] = ..., models: _Optional[_Iterable[_Union[ModelServed, _Mapping]]] = ..., policy_bundle_digest: _Optional[str] = ..., agent_version: _Optional[str] = ...) -> None: ...

class RegisterResponse(_message.Message):
    __slots__ = ("aggregator_version",)
    AGGREGATOR_VERSION_FIELD_NUMBER: _ClassVar[int]
    aggregator_version: str
    def __init__(self, aggregator_version: _Optional[str] = ...) -> None: ...

class SubmitReportRequest(_message.Message):
    __slots__ = ("report",)
    REPORT_FIELD_NUMBER: _ClassVar[int]
    report: _report_pb2.Report
    def __init__(self, report: _Optional[_Union[_report_pb2.Report, _Mapping]] = ...) -> None: ...

class ReportAck(_message.Message):
    __slots__ = ("report_id", "duplicate", "checkpoint", "error")
    REPORT_ID_FIELD_NUMBER: _ClassVar[int]
    DUPLICATE_FIELD_NUMBER: _ClassVar[int]
    CHECKPOINT_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    report_id: str
    duplicate: bool
    checkpoint: Checkpoint
    error: ReportError
    def __init__(self, report_id: _Optional[str] = ..., duplicate: _Optional[bool] = ..., checkpoint: _Optional[_Union[Checkpoint, _Mapping]] = ..., error: _Optional[_Union[ReportError, _Mapping]] = ...) -> None: ...

class ReportError(_message.Message):
    __slots__ = ("code", "message")
    CODE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    code: int
    message: str
    def __init__(self, code: _Optional[int] = ..., message: _Optional[str] = ...) -> None: ...

class Checkpoint(_message.Message):
    __slots__ = ("seq", "head", "time_unix_ms", "signature", "key_id")
    SEQ_FIELD_NUMBER: _ClassVar[int]
    HEAD_FIELD_NUMBER: _ClassVar[int]
    TIME_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    KEY_ID_FIELD_NUMBER: _ClassVar[int]
    seq: int
    head: str
    time_unix_ms: int
    signature: bytes
    key_id: str
    def __init__(self, seq: _Optional[int] = ..., head: _Optional[str] = ..., time_unix_ms: _Optional[int] = ..., signature: _Optional[bytes] = ..., key_id: _Optional[str] = ...) -> None: ...

class StreamCommandsRequest(_message.Message):
    __slots__ = ("silo_id",)
    SILO_ID_FIELD_NUMBER: _ClassVar[int]
    silo_id: str
    def __init__(self, silo_id: _Optional[str] = ...) -> None: ...

class Command(_message.Message):
    __slots__ = ("command_id", "kind", "job_id", "model_id", "model_version", "reason", "created_unix_ms", "payload_json")
    COMMAND_ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    MODEL_ID_FIELD_NUMBER: _ClassVar[int]
    MODEL_VERSION_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    CREATED_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    PAYLOAD_JSON_FIELD_NUMBER: _ClassVar[int]
    command_id: str
    kind: str
    job_id: str
    model_id: str
    model_version: str
    reason: str
    created_unix_ms: int
    payload_json: str
    def __init__(self, command_id: _Optional[str] = ..., kind: _Optional[str] = ..., job_id: _Optional[str] = ..., model_id: _Optional[str] = ..., model_version: _Optional[str] = ..., reason: _Optional[str] = ..., created_unix_ms: _Optional[int] = ..., payload_json: _Optional[str] = ...) -> None: ...

class CommandAck(_message.Message):
    __slots__ = ("command_id", "silo_id", "status", "message")
    COMMAND_ID_FIELD_NUMBER: _ClassVar[int]
    SILO_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    command_id: str
    silo_id: str
    status: str
    message: str
    def __init__(self, command_id: _Optional[str] = ..., silo_id: _Optional[str] = ..., status: _Optional[str] = ..., message: _Optional[str] = ...) -> None: ...

class CommandAckResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class DriftQuery(_message.Message):
    __slots__ = ("psi_threshold", "since_unix_ms", "model_id", "jurisdiction_glob", "silo_id")
    PSI_THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    SINCE_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    MODEL_ID_FIELD_NUMBER: _ClassVar[int]
    JURISDICTION_GLOB_FIELD_NUMBER: _ClassVar[int]
    SILO_ID_FIELD_NUMBER: _ClassVar[int]
    psi_threshold: float
    since_unix_ms: int
    model_id: str
    jurisdiction_glob: str
    silo_id: str
    def __init__(self, psi_threshold: _Optional[float] = ..., since_unix_ms: _Optional[int] = ..., model_id: _Optional[str] = ..., jurisdiction_glob: _Optional[str] = ..., silo_id: _Optional[str] = ...) -> None: ...

class DriftRow(_message.Message):
    __slots__ = ("silo_id", "jurisdiction", "model_id", "model_version", "feature", "psi", "psi_pvalue", "has_pvalue", "window_end_unix_ms", "report_id")
    SILO_ID_FIELD_NUMBER: _ClassVar[int]
    JURISDICTION_FIELD_NUMBER: _ClassVar[int]
    MODEL_ID_FIELD_NUMBER: _ClassVar[int]
    MODEL_VERSION_FIELD_NUMBER: _ClassVar[int]
    FEATURE_FIELD_NUMBER: _ClassVar[int]
    PSI_FIELD_NUMBER: _ClassVar[int]
    PSI_PVALUE_FIELD_NUMBER: _ClassVar[int]
    HAS_PVALUE_FIELD_NUMBER: _ClassVar[int]
    WINDOW_END_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    REPORT_ID_FIELD_NUMBER: _ClassVar[int]
    silo_id: str
    jurisdiction: str
    model_id: str
    model_version: str
    feature: str
    psi: float
    psi_pvalue: float
    has_pvalue: bool
    window_end_unix_ms: int
    report_id: str
    def __init__(self, silo_id: _Optional[str] = ..., jurisdiction: _Optional[str] = ..., model_id: _Optional[str] = ..., model_version: _Optional[str] = ..., feature: _Optional[str] = ..., psi: _Optional[float] = ..., psi_pvalue: _Optional[float] = ..., has_pvalue: _Optional[bool] = ..., window_end_unix_ms: _Optional[int] = ..., report_id: _Optional[str] = ...) -> None: ...

class DriftQueryResponse(_message.Message):
    __slots__ = ("rows",)
    ROWS_FIELD_NUMBER: _ClassVar[int]
    rows: _containers.RepeatedCompositeFieldContainer[DriftRow]
    def __init__(self, rows: _Optional[_Iterable[_Union[DriftRow, _Mapping]]] = ...) -> None: ...

class FairnessQuery(_message.Message):
    __slots__ = ("model_id", "model_version", "jurisdiction_glob", "since_unix_ms", "source")
    MODEL_ID_FIELD_NUMBER: _ClassVar[int]
    MODEL_VERSION_FIELD_NUMBER: _ClassVar[int]
    JURISDICTION_GLOB_FIELD_NUMBER: _ClassVar[int]
    SINCE_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    model_id: str
    model_version: str
    jurisdiction_glob: str
    since_unix_ms: int
    source: str
    def __init__(self, model_id: _Optional[str] = ..., model_version: _Optional[str] = ..., jurisdiction_glob: _Optional[str] = ..., since_unix_ms: _Optional[int] = ..., source: _Optional[str] = ...) -> None: ...

class FairnessQueryResponse(_message.Message):
    __slots__ = ("model_id", "model_version", "silos", "jurisdictions", "rows", "metrics_json", "reports", "metrics", "source", "period", "spec_digest", "report_ids", "round_ids", "withheld_json")
    MODEL_ID_FIELD_NUMBER: _ClassVar[int]
    MODEL_VERSION_FIELD_NUMBER: _ClassVar[int]
    SILOS_FIELD_NUMBER: _ClassVar[int]
    JURISDICTIONS_FIELD_NUMBER: _ClassVar[int]
    ROWS_FIELD_NUMBER: _ClassVar[int]
    METRICS_JSON_FIELD_NUMBER: _ClassVar[int]
    REPORTS_FIELD_NUMBER: _ClassVar[int]
    METRICS_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    PERIOD_FIELD_NUMBER: _ClassVar[int]
    SPEC_DIGEST_FIELD_NUMBER: _ClassVar[int]
    REPORT_IDS_FIELD_NUMBER: _ClassVar[int]
    ROUND_IDS_FIELD_NUMBER: _ClassVar[int]
    WITHHELD_JSON_FIELD_NUMBER: _ClassVar[int]
    model_id: str
    model_version: str
    silos: _containers.RepeatedScalarFieldContainer[str]
    jurisdictions: _containers.RepeatedScalarFieldContainer[str]
    rows: int
    metrics_json: str
    reports: int
    metrics: MergedMetrics
    source: str
    period: str
    spec_digest: str
    report_ids: _containers.RepeatedScalarFieldContainer[str]
    round_ids: _containers.RepeatedScalarFieldContainer[str]
    withheld_json: str
    def __init__(self, model_id: _Optional[str] = ..., model_version: _Optional[str] = ..., silos: _Optional[_Iterable[str]] = ..., jurisdictions: _Optional[_Iterable[str]] = ..., rows: _Optional[int] = ..., metrics_json: _Optional[str] = ..., reports: _Optional[int] = ..., metrics: _Optional[_Union[MergedMetrics, _Mapping]] = ..., source: _Optional[str] = ..., period: _Optional[str] = ..., spec_digest: _Optional[str] = ..., report_ids: _Optional[_Iterable[str]] = ..., round_ids: _Optional[_Iterable[str]] = ..., withheld_json: _Optional[str] = ...) -> None: ...

class MetricValue(_message.Message):
    __slots__ = ("real", "count", "undefined")
    REAL_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    UNDEFINED_FIELD_NUMBER: _ClassVar[int]
    real: float
    count: int
    undefined: bool
    def __init__(self, real: _Optional[float] = ..., count: _Optional[int] = ..., undefined: _Optional[bool] = ...) -> None: ...

class MetricValues(_message.Message):
    __slots__ = ("values",)
    class ValuesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: MetricValue
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[MetricValue, _Mapping]] = ...) -> None: ...
    VALUES_FIELD_NUMBER: _ClassVar[int]
    values: _containers.MessageMap[str, MetricValue]
    def __init__(self, values: _Optional[_Mapping[str, MetricValue]] = ...) -> None: ...

class AttributeMetrics(_message.Message):
    __slots__ = ("values", "groups")
    class ValuesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: MetricValue
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[MetricValue, _Mapping]] = ...) -> None: ...
    class GroupsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: MetricValues
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[MetricValues, _Mapping]] = ...) -> None: ...
    VALUES_FIELD_NUMBER: _ClassVar[int]
    GROUPS_FIELD_NUMBER: _ClassVar[int]
    values: _containers.MessageMap[str, MetricValue]
    groups: _containers.MessageMap[str, MetricValues]
    def __init__(self, values: _Optional[_Mapping[str, MetricValue]] = ..., groups: _Optional[_Mapping[str, MetricValues]] = ...) -> None: ...

class MergedMetrics(_message.Message):
    __slots__ = ("values", "drift_features", "fairness")
    class ValuesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: MetricValue
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[MetricValue, _Mapping]] = ...) -> None: ...
    class DriftFeaturesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: MetricValues
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[MetricValues, _Mapping]] = ...) -> None: ...
    class FairnessEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: AttributeMetrics
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[AttributeMetrics, _Mapping]] = ...) -> None: ...
    VALUES_FIELD_NUMBER: _ClassVar[int]
    DRIFT_FEATURES_FIELD_NUMBER: _ClassVar[int]
    FAIRNESS_FIELD_NUMBER: _ClassVar[int]
    values: _containers.MessageMap[str, MetricValue]
    drift_features: _containers.MessageMap[str, MetricValues]
    fairness: _containers.MessageMap[str, AttributeMetrics]
    def __init__(self, values: _Optional[_Mapping[str, MetricValue]] = ..., drift_features: _Optional[_Mapping[str, MetricValues]] = ..., fairness: _Optional[_Mapping[str, AttributeMetrics]] = ...) -> None: ...

class DecisionsQuery(_message.Message):
    __slots__ = ("jurisdiction_glob", "silo_id")
    JURISDICTION_GLOB_FIELD_NUMBER: _ClassVar[int]
    SILO_ID_FIELD_NUMBER: _ClassVar[int]
    jurisdiction_glob: str
    silo_id: str
    def __init__(self, jurisdiction_glob: _Optional[str] = ..., silo_id: _Optional[str] = ...) -> None: ...

class DecisionRow(_message.Message):
    __slots__ = ("silo_id", "jurisdiction", "model_id", "model_version", "decision", "window_end_unix_ms", "report_id")
    SILO_ID_FIELD_NUMBER: _ClassVar[int]
    JURISDICTION_FIELD_NUMBER: _ClassVar[int]
    MODEL_ID_FIELD_NUMBER: _ClassVar[int]
    MODEL_VERSION_FIELD_NUMBER: _ClassVar[int]
    DECISION_FIELD_NUMBER: _ClassVar[int]
    WINDOW_END_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    REPORT_ID_FIELD_NUMBER: _ClassVar[int]
    silo_id: str
    jurisdiction: str
    model_id: str
    model_version: str
    decision: _report_pb2.Decision
    window_end_unix_ms: int
    report_id: str
    def __init__(self, silo_id: _Optional[str] = ..., jurisdiction: _Optional[str] = ..., model_id: _Optional[str] = ..., model_version: _Optional[str] = ..., decision: _Optional[_Union[_report_pb2.Decision, _Mapping]] = ..., window_end_unix_ms: _Optional[int] = ..., report_id: _Optional[str] = ...) -> None: ...

class DecisionsQueryResponse(_message.Message):
    __slots__ = ("rows",)
    ROWS_FIELD_NUMBER: _ClassVar[int]
    rows: _containers.RepeatedCompositeFieldContainer[DecisionRow]
    def __init__(self, rows: _Optional[_Iterable[_Union[DecisionRow, _Mapping]]] = ...) -> None: ...

class JobsQuery(_message.Message):
    __slots__ = ("model_id",)
    MODEL_ID_FIELD_NUMBER: _ClassVar[int]
    model_id: str
    def __init__(self, model_id: _Optional[str] = ...) -> None: ...

class JobRow(_message.Message):
    __slots__ = ("job_id", "model_id", "model_version", "state", "reason", "created_unix_ms", "silos", "acked_silos", "detail", "candidate_version")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    MODEL_ID_FIELD_NUMBER: _ClassVar[int]
    MODEL_VERSION_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    CREATED_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    SILOS_FIELD_NUMBER: _ClassVar[int]
    ACKED_SILOS_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    CANDIDATE_VERSION_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    model_id: str
    model_version: str
    state: str
    reason: str
    created_unix_ms: int
    silos: _containers.RepeatedScalarFieldContainer[str]
    acked_silos: _containers.RepeatedScalarFieldContainer[str]
    detail: str
    candidate_version: str
    def __init__(self, job_id: _Optional[str] = ..., model_id: _Optional[str] = ..., model_version: _Optional[str] = ..., state: _Optional[str] = ..., reason: _Optional[str] = ..., created_unix_ms: _Optional[int] = ..., silos: _Optional[_Iterable[str]] = ..., acked_silos: _Optional[_Iterable[str]] = ..., detail: _Optional[str] = ..., candidate_version: _Optional[str] = ...) -> None: ...

class JobsQueryResponse(_message.Message):
    __slots__ = ("rows",)
    ROWS_FIELD_NUMBER: _ClassVar[int]
    rows: _containers.RepeatedCompositeFieldContainer[JobRow]
    def __init__(self, rows: _Optional[_Iterable[_Union[JobRow, _Mapping]]] = ...) -> None: ...

class CentralQuery(_message.Message):
    __slots__ = ("model_id",)
    MODEL_ID_FIELD_NUMBER: _ClassVar[int]
    model_id: str
    def __init__(self, model_id: _Optional[str] = ...) -> None: ...

class CentralRow(_message.Message):
    __slots__ = ("model_id", "model_version", "jurisdiction_group", "evaluated_unix_ms", "silos", "rows", "decision", "source")
    MODEL_ID_FIELD_NUMBER: _ClassVar[int]
    MODEL_VERSION_FIELD_NUMBER: _ClassVar[int]
    JURISDICTION_GROUP_FIELD_NUMBER: _ClassVar[int]
    EVALUATED_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    SILOS_FIELD_NUMBER: _ClassVar[int]
    ROWS_FIELD_NUMBER: _ClassVar[int]
    DECISION_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    model_id: str
    model_version: str
    jurisdiction_group: str
    evaluated_unix_ms: int
    silos: _containers.RepeatedScalarFieldContainer[str]
    rows: int
    decision: _report_pb2.Decision
    source: str
    def __init__(self, model_id: _Optional[str] = ..., model_version: _Optional[str] = ..., jurisdiction_group: _Optional[str] = ..., evaluated_unix_ms: _Optional[int] = ..., silos: _Optional[_Iterable[str]] = ..., rows: _Optional[int] = ..., decision: _Optional[_Union[_report_pb2.Decision, _Mapping]] = ..., source: _Optional[str] = ...) -> None: ...

class CentralQueryResponse(_message.Message):
    __slots__ = ("rows",)
    ROWS_FIELD_NUMBER: _ClassVar[int]
    rows: _containers.RepeatedCompositeFieldContainer[CentralRow]
    def __init__(self, rows: _Optional[_Iterable[_Union[CentralRow, _Mapping]]] = ...) -> None: ...

class SilosQuery(_message.Message):
    __slots__ = ("stale_after_ms", "jurisdiction_glob", "silo_id")
    STALE_AFTER_MS_FIELD_NUMBER: _ClassVar[int]
    JURISDICTION_GLOB_FIELD_NUMBER: _ClassVar[int]
    SILO_ID_FIELD_NUMBER: _ClassVar[int]
    stale_after_ms: int
    jurisdiction_glob: str
    silo_id: str
    def __init__(self, stale_after_ms: _Optional[int] = ..., jurisdiction_glob: _Optional[str] = ..., silo_id: _Optional[str] = ...) -> None: ...

class SiloRow(_message.Message):
    __slots__ = ("silo_id", "jurisdiction", "registered_unix_ms", "last_seen_unix_ms", "last_report_unix_ms", "models", "policy_bundle_digest")
    SILO_ID_FIELD_NUMBER: _ClassVar[int]
    JURISDICTION_FIELD_NUMBER: _ClassVar[int]
    REGISTERED_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    LAST_SEEN_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    LAST_REPORT_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    MODELS_FIELD_NUMBER: _ClassVar[int]
    POLICY_BUNDLE_DIGEST_FIELD_NUMBER: _ClassVar[int]
    silo_id: str
    jurisdiction: str
    registered_unix_ms: int
    last_seen_unix_ms: int
    last_report_unix_ms: int
    models: _containers.RepeatedScalarFieldContainer[str]
    policy_bundle_digest: str
    def __init__(self, silo_id: _Optional[str] = ..., jurisdiction: _Optional[str] = ..., registered_unix_ms: _Optional[int] = ..., last_seen_unix_ms: _Optional[int] = ..., last_report_unix_ms: _Optional[int] = ..., models: _Optional[_Iterable[str]] = ..., policy_bundle_digest: _Optional[str] = ...) -> None: ...

class SilosQueryResponse(_message.Message):
    __slots__ = ("rows",)
    ROWS_FIELD_NUMBER: _ClassVar[int]
    rows: _containers.RepeatedCompositeFieldContainer[SiloRow]
    def __init__(self, rows: _Optional[_Iterable[_Union[SiloRow, _Mapping]]] = ...) -> None: ...

class HistoryQuery(_message.Message):
    __slots__ = ("model_id", "metric", "feature", "attribute", "since_unix_ms", "jurisdiction_glob", "silo_id")
    MODEL_ID_FIELD_NUMBER: _ClassVar[int]
    METRIC_FIELD_NUMBER: _ClassVar[int]
    FEATURE_FIELD_NUMBER: _ClassVar[int]
    ATTRIBUTE_FIELD_NUMBER: _ClassVar[int]
    SINCE_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    JURISDICTION_GLOB_FIELD_NUMBER: _ClassVar[int]
    SILO_ID_FIELD_NUMBER: _ClassVar[int]
    model_id: str
    metric: str
    feature: str
    attribute: str
    since_unix_ms: int
    jurisdiction_glob: str
    silo_id: str
    def __init__(self, model_id: _Optional[str] = ..., metric: _Optional[str] = ..., feature: _Optional[str] = ..., attribute: _Optional[str] = ..., since_unix_ms: _Optional[int] = ..., jurisdiction_glob: _Optional[str] = ..., silo_id: _Optional[str] = ...) -> None: ...

class HistoryPoint(_message.Message):
    __slots__ = ("silo_id", "jurisdiction", "model_version", "window_end_unix_ms", "value", "has_value", "report_id")
    SILO_ID_FIELD_NUMBER: _ClassVar[int]
    JURISDICTION_FIELD_NUMBER: _ClassVar[int]
    MODEL_VERSION_FIELD_NUMBER: _ClassVar[int]
    WINDOW_END_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    HAS_VALUE_FIELD_NUMBER: _ClassVar[int]
    REPORT_ID_FIELD_NUMBER: _ClassVar[int]
    silo_id: str
    jurisdiction: str
    model_version: str
    window_end_unix_ms: int
    value: float
    has_value: bool
    report_id: str
    def __init__(self, silo_id: _Optional[str] = ..., jurisdiction: _Optional[str] = ..., model_version: _Optional[str] = ..., window_end_unix_ms: _Optional[int] = ..., value: _Optional[float] = ..., has_value: _Optional[bool] = ..., report_id: _Optional[str] = ...) -> None: ...

class HistoryQueryResponse(_message.Message):
    __slots__ = ("points",)
    POINTS_FIELD_NUMBER: _ClassVar[int]
    points: _containers.RepeatedCompositeFieldContainer[HistoryPoint]
    def __init__(self, points: _Optional[_Iterable[_Union[HistoryPoint, _Mapping]]] = ...) -> None: ...

class ModelsQuery(_message.Message):
    __slots__ = ("model_id",)
    MODEL_ID_FIELD_NUMBER: _ClassVar[int]
    model_id: str
    def __init__(self, model_id: _Optional[str] = ...) -> None: ...

class ModelVersionRow(_message.Message):
    __slots__ = ("model_id", "version", "status", "created_unix_ms", "spec_digest", "aliases", "lineage_json", "artifact_bytes")
    MODEL_ID_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    CREATED_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    SPEC_DIGEST_FIELD_NUMBER: _ClassVar[int]
    ALIASES_FIELD_NUMBER: _ClassVar[int]
    LINEAGE_JSON_FIELD_NUMBER: _ClassVar[int]
    ARTIFACT_BYTES_FIELD_NUMBER: _ClassVar[int]
    model_id: str
    version: str
    status: str
    created_unix_ms: int
    spec_digest: str
    aliases: _containers.RepeatedScalarFieldContainer[str]
    lineage_json: str
    artifact_bytes: int
    def __init__(self, model_id: _Optional[str] = ..., version: _Optional[str] = ..., status: _Optional[str] = ..., created_unix_ms: _Optional[int] = ..., spec_digest: _Optional[str] = ..., aliases: _Optional[_Iterable[str]] = ..., lineage_json: _Optional[str] = ..., artifact_bytes: _Optional[int] = ...) -> None: ...

class ModelsResponse(_message.Message):
    __slots__ = ("rows",)
    ROWS_FIELD_NUMBER: _ClassVar[int]
    rows: _containers.RepeatedCompositeFieldContainer[ModelVersionRow]
    def __init__(self, rows: _Optional[_Iterable[_Union[ModelVersionRow, _Mapping]]] = ...) -> None: ...

class PromoteRequest(_message.Message):
    __slots__ = ("model_id", "version", "reason")
    MODEL_ID_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    model_id: str
    version: str
    reason: str
    def __init__(self, model_id: _Optional[str] = ..., version: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class RollbackRequest(_message.Message):
    __slots__ = ("model_id",)
    MODEL_ID_FIELD_NUMBER: _ClassVar[int]
    model_id: str
    def __init__(self, model_id: _Optional[str] = ...) -> None: ...

class ApproveSiloRequest(_message.Message):
    __slots__ = ("silo_id", "jurisdiction", "reason")
    SILO_ID_FIELD_NUMBER: _ClassVar[int]
    JURISDICTION_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    silo_id: str
    jurisdiction: str
    reason: str
    def __init__(self, silo_id: _Optional[str] = ..., jurisdiction: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class ApproveSiloResponse(_message.Message):
    __slots__ = ("silo_id", "jurisdiction", "previous_jurisdiction", "approved_unix_ms")
    SILO_ID_FIELD_NUMBER: _ClassVar[int]
    JURISDICTION_FIELD_NUMBER: _ClassVar[int]
    PREVIOUS_JURISDICTION_FIELD_NUMBER: _ClassVar[int]
    APPROVED_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    silo_id: str
    jurisdiction: str
    previous_jurisdiction: str
    approved_unix_ms: int
    def __init__(self, silo_id: _Optional[str] = ..., jurisdiction: _Optional[str] = ..., previous_jurisdiction: _Optional[str] = ..., approved_unix_ms: _Optional[int] = ...) -> None: ...

class AuditHeadsQuery(_message.Message):
    __slots__ = ("silo_id",)
    SILO_ID_FIELD_NUMBER: _ClassVar[int]
    silo_id: str
    def __init__(self, silo_id: _Optional[str] = ...) -> None: ...

class AuditHeadRow(_message.Message):
    __slots__ = ("seq", "hash", "report_id", "received_unix_ms")
    SEQ_FIELD_NUMBER: _ClassVar[int]
    HASH_FIELD_NUMBER: _ClassVar[int]
    REPORT_ID_FIELD_NUMBER: _ClassVar[int]
    RECEIVED_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    seq: int
    hash: str
    report_id: str
    received_unix_ms: int
    def __init__(self, seq: _Optional[int] = ..., hash: _Optional[str] = ..., report_id: _Optional[str] = ..., received_unix_ms: _Optional[int] = ...) -> None: ...

class AuditHeadsResponse(_message.Message):
    __slots__ = ("silo_id", "heads")
    SILO_ID_FIELD_NUMBER: _ClassVar[int]
    HEADS_FIELD_NUMBER: _ClassVar[int]
    silo_id: str
    heads: _containers.RepeatedCompositeFieldContainer[AuditHeadRow]
    def __init__(self, silo_id: _Optional[str] = ..., heads: _Optional[_Iterable[_Union[AuditHeadRow, _Mapping]]] = ...) -> None: ...
