"""Rules over telemetry: physical limits, sensor plausibility, blocker health."""

from analytics.rules.blocker import BlockerRules
from analytics.rules.config import RuleConfig
from analytics.rules.meter import MeterRules
from analytics.rules.physical import PhysicalRules
from analytics.rules.sensor import SensorRules

__all__ = ["BlockerRules", "MeterRules", "PhysicalRules", "RuleConfig", "SensorRules"]
