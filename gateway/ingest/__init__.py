"""Gateway ingest: MQTT session, validation, dedupe, acks, alert plumbing, durable ingest state."""

from gateway.ingest.acks import AckBatcher
from gateway.ingest.alerts import AlertBook, AlertChange, Analytics, ThresholdRule
from gateway.ingest.analytics_hook import PipelineHook
from gateway.ingest.dedupe import Gap, SeqTracker, Verdict
from gateway.ingest.mqtt import MqttError, MqttSession
from gateway.ingest.pipeline import IngestPipeline, SpoolCommitError, SpoolSink
from gateway.ingest.state import IngestState, StateError
from gateway.ingest.validate import RejectedError, TimePolicy, check

__all__ = [
    "AckBatcher",
    "AlertBook",
    "AlertChange",
    "Analytics",
    "Gap",
    "IngestPipeline",
    "IngestState",
    "MqttError",
    "MqttSession",
    "PipelineHook",
    "RejectedError",
    "SeqTracker",
    "SpoolCommitError",
    "SpoolSink",
    "StateError",
    "ThresholdRule",
    "TimePolicy",
    "Verdict",
    "check",
]
