"""ChargeWatch analytics: streaming detectors, rules, alert lifecycle, charging sessions.

Pure computation, no I/O. The gateway feeds :class:`Pipeline` message by message.
"""

from analytics.alerts import AlertChange, AlertManager, AlertSpec, Condition
from analytics.detectors import Detector, ThermalBank, ThermalDetector, ThresholdFilter, UnivariateDetector
from analytics.errors import AnalyticsError, CheckpointError, DetectorInputError
from analytics.pipeline import DEFAULT_SPECS, Pipeline, PipelineConfig, load_config
from analytics.rules import RuleConfig
from analytics.sessions import Fee, SessionConfig, SessionRecord, Tariff

__all__ = [
    "DEFAULT_SPECS",
    "AlertChange",
    "AlertManager",
    "AlertSpec",
    "AnalyticsError",
    "CheckpointError",
    "Condition",
    "Detector",
    "DetectorInputError",
    "Fee",
    "Pipeline",
    "PipelineConfig",
    "RuleConfig",
    "SessionConfig",
    "SessionRecord",
    "Tariff",
    "ThermalBank",
    "ThermalDetector",
    "ThresholdFilter",
    "UnivariateDetector",
    "load_config",
]
