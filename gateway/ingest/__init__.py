"""Gateway ingest: MQTT session, validation, dedupe, acks, alert plumbing, durable ingest state.

A received batch goes through :class:`IngestPipeline` (``pipeline``: order, lock, checks,
spool commits, tick), whose analyse stage is :class:`BatchAnalysis` (``analysis``) and whose
alerts go out through :class:`AlertRaiser` (``raiser``).
"""

from gateway.ingest.acks import AckBatcher
from gateway.ingest.alerts import AlertBook, AlertChange, Analytics, ThresholdRule
from gateway.ingest.analysis import BatchAnalysis
from gateway.ingest.analytics_hook import PipelineHook
from gateway.ingest.dedupe import Gap, SeqTracker, Verdict
from gateway.ingest.limits import Admission, TokenBucket
from gateway.ingest.mqtt import MqttError, MqttSession
from gateway.ingest.pacing import DiscoveryPacer
from gateway.ingest.pipeline import IngestPipeline, SpoolCommitError
from gateway.ingest.raiser import AlertRaiser, SpoolSink
from gateway.ingest.routing import Router
from gateway.ingest.sessions import IngestSessions
from gateway.ingest.state import IngestState, StateError
from gateway.ingest.validate import RejectedError, TimePolicy, check

__all__ = [
    "AckBatcher",
    "Admission",
    "AlertBook",
    "AlertChange",
    "AlertRaiser",
    "Analytics",
    "BatchAnalysis",
    "DiscoveryPacer",
    "Gap",
    "IngestPipeline",
    "IngestSessions",
    "IngestState",
    "MqttError",
    "MqttSession",
    "PipelineHook",
    "RejectedError",
    "Router",
    "SeqTracker",
    "SpoolCommitError",
    "SpoolSink",
    "StateError",
    "ThresholdRule",
    "TimePolicy",
    "TokenBucket",
    "Verdict",
    "check",
]
