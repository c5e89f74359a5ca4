"""Health of an elevator blocking controller: camera, relay, door hold, detection drought.

A blocker that silently stopped working is the failure DOMAIN.md item 11 is about, so the
rules watch the blocker itself: camera offline or faulted, doors held past ``max_hold_s``,
relay closed without a door hold for ``relay_mismatch_s``, and no detection for far longer
than this blocker's usual gap between detections (``drought_factor`` × its EWMA gap).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from analytics.alerts import Condition
from analytics.rules.config import RuleConfig

_GAP_ALPHA = 0.1


def _on(values: Mapping[str, float | None], name: str) -> bool:
    value = values.get(name)
    return value is not None and value >= 0.5


class BlockerRules:
    """Rules of one blocker controller."""

    KINDS = ("blocker_camera_fault", "blocker_door_held", "blocker_relay_stuck", "blocker_no_detections")

    def __init__(self, config: RuleConfig, max_hold_s: float | None = None) -> None:
        self.config = config
        self.max_hold_s = max_hold_s if max_hold_s is not None else config.max_hold_s
        self.detections = math.nan
        self.last_detection_t = math.nan
        self.gap_s = math.nan
        self.seen = 0
        self.mismatch_since = math.nan

    def _count(self, t: float, detections: float | None) -> None:
        if detections is None:
            return
        if math.isnan(self.detections) or detections < self.detections:
            self.detections = detections
            self.last_detection_t = t
            return
        if detections > self.detections:
            if not math.isnan(self.last_detection_t) and self.seen > 0:
                gap = (t - self.last_detection_t) / (detections - self.detections)
                self.gap_s = gap if math.isnan(self.gap_s) else self.gap_s + _GAP_ALPHA * (gap - self.gap_s)
            self.seen += int(detections - self.detections)
            self.detections = detections
            self.last_detection_t = t

    def drought(self, t: float, conditions: list[Condition]) -> None:
        """Append the detection-drought condition if detections stopped for far too long."""
        cfg = self.config
        if self.seen < cfg.drought_min_detections or math.isnan(self.gap_s):
            return
        silent = t - self.last_detection_t
        if silent > max(cfg.drought_factor * self.gap_s, cfg.drought_min_s):
            msg = f"no detection for {silent / 3_600:.1f} h (usual gap {self.gap_s / 60:.0f} min)"
            conditions.append(Condition(None, "blocker_no_detections", "warning", msg))

    def evaluate(self, t: float, values: Mapping[str, float | None], conditions: list[Condition]) -> None:
        """Append the conditions holding at ``t`` given one telemetry's device values."""
        self._count(t, values.get("detections"))
        camera_code = values.get("camera_fault_code") or 0.0
        if not _on(values, "camera_online") or camera_code > 0:
            msg = (
                "camera offline"
                if not _on(values, "camera_online")
                else f"camera fault code {camera_code:.0f}"
            )
            conditions.append(Condition(None, "blocker_camera_fault", "warning", msg))
        hold = values.get("hold_s") or 0.0
        if hold > self.max_hold_s:
            msg = f"doors held {hold:.0f} s > {self.max_hold_s:.0f} s"
            conditions.append(Condition(None, "blocker_door_held", "warning", msg))
        if _on(values, "relay_closed") and not _on(values, "door_hold"):
            if math.isnan(self.mismatch_since):
                self.mismatch_since = t
            if t - self.mismatch_since >= self.config.relay_mismatch_s:
                conditions.append(
                    Condition(None, "blocker_relay_stuck", "warning", "relay closed with no hold")
                )
        else:
            self.mismatch_since = math.nan
        self.drought(t, conditions)
