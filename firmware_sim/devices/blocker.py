"""A simulated elevator e-bike blocker: camera, voice alarm, door-hold relay, remote release.

An e-bike entering the car is recognised after 1–2 s (or missed at ``miss_share``); the
controller sounds the voice alarm and closes the door-hold relay until the bike leaves, or
releases the doors after limits.max_hold_s (the alarm keeps sounding), or on remote release.
False detections hold the doors until the object leaves view or an operator releases them.
"""

from __future__ import annotations

import logging
import math
import zlib

from chargewatch.errors import ConfigError
from chargewatch.logs import kv
from chargewatch.profiles import DeviceProfile
from firmware_sim.devices._faulting import FaultHost
from firmware_sim.devices.params import BlockerParams
from firmware_sim.faults.kinds import Fault, FaultError, ParamValue
from firmware_sim.model import PointValues, RawOverrides, WriteRefusedError

log = logging.getLogger(__name__)

BLOCKER_POINTS = frozenset(
    {
        "detections", "hold_s", "camera_fault_code", "heartbeat", "device_clock", "firmware_version",
        "serial_number", "releases", "ebike_present", "door_hold", "voice_alarm", "camera_online",
        "relay_closed", "remote_release", "alarm_reset",
    }
)  # fmt: skip


class Blocker(FaultHost):
    """Elevator blocker; public attributes are the ground truth (``bike_in_car``, ``object_until`` …)."""

    def __init__(
        self, device_id: str, profile: DeviceProfile, params: BlockerParams, seed: int, start_time: float
    ) -> None:
        super().__init__(device_id, profile, seed, start_time, BLOCKER_POINTS)
        codes = profile.point("camera_fault_code").values or {}
        self._camera_codes = {label: float(code) for code, label in codes.items()}
        if "none" not in self._camera_codes:
            raise ConfigError(f"profile {profile.model}: points.camera_fault_code.values: no code for 'none'")
        self.params = params
        self.max_hold_s = profile.limits.get("max_hold_s", math.inf)
        self.serial_number = (
            zlib.crc32(device_id.encode()) % 100_000_000
            if params.serial_number is None
            else params.serial_number
        )
        #: ground truth: an object is in view until ``object_until``; ``bike_in_car`` if it is a real e-bike
        self.bike_in_car = False
        self.object_until = -math.inf
        self.detect_at = math.inf
        self.detected = False
        self.suppressed = False
        self.relay_closed = False
        self.voice_alarm = False
        self.hold_start = 0.0
        self.detections = 0
        self.releases = 0
        self.camera_code = "none"
        self.relay_stuck = False
        self._faults: list[Fault] = []

    @property
    def responding(self) -> bool:
        return not any(f.kind == "blocker_offline" for f in self._faults)

    @property
    def camera_online(self) -> bool:
        return self.camera_code == "none"

    def step(self, t: float, dt: float) -> None:
        self._t = t
        self._elapsed += dt
        for fault, params in self._due(t):
            self._activate(fault, params, t)
        for fault in self._ended(t):
            self._faults = [f for f in self._faults if f is not fault]
            if fault.kind == "blocker_camera_fault":
                self.camera_code = "none"
            elif fault.kind == "blocker_relay_stuck":
                self.relay_stuck = False
        rng, p = self._rng, self.params
        if t >= self.object_until:
            if self.object_until > -math.inf:
                self._object_left(t)
            if rng.random() < p.ebike_rate_per_h * dt / 3600.0:
                self._enter(t, bike=True)
            elif rng.random() < p.false_rate_per_h * dt / 3600.0:
                self._enter(t, bike=False)
        if t >= self.detect_at and not self.detected and self.camera_online and not self.suppressed:
            self.detected = True
            self.detections += 1
            self.voice_alarm = True
            self._close_relay(t)
            log.info(kv("blocker_detection", device=self.device_id, real=self.bike_in_car))
        if not self.camera_online and self.detected:
            self.detected = False
            self._open_relay(t)
        if self.relay_closed and not self.relay_stuck and t - self.hold_start >= self.max_hold_s:
            self._open_relay(t)

    def _enter(self, t: float, *, bike: bool) -> None:
        rng, p = self._rng, self.params
        self.bike_in_car = bike
        delay = rng.uniform(*p.detect_delay_s)
        seen = not bike or rng.random() >= p.miss_share
        self.detect_at = t + delay if seen else math.inf
        if bike:
            stay = rng.uniform(*p.leave_after_alarm_s) if seen else rng.uniform(30.0, 120.0)
        else:
            stay = rng.uniform(*p.false_dwell_s)
        self.object_until = t + delay + stay

    def _object_left(self, t: float) -> None:
        self.object_until = -math.inf
        self.detect_at = math.inf
        self.bike_in_car = False
        self.detected = False
        self.suppressed = False
        self.voice_alarm = False
        self._open_relay(t)

    def _close_relay(self, t: float) -> None:
        if not self.relay_closed:
            self.relay_closed = True
            self.hold_start = t
            log.info(kv("door_hold", device=self.device_id))

    def _open_relay(self, t: float) -> None:
        if self.relay_closed and not self.relay_stuck:
            self.relay_closed = False
            log.info(kv("door_release", device=self.device_id, held_s=round(t - self.hold_start, 1)))

    def inject(self, fault: Fault) -> None:
        code = fault.params.get("code")
        if code is not None and (code not in self._camera_codes or code == "none"):
            known = sorted(set(self._camera_codes) - {"none"})
            raise FaultError(self.device_id, fault.kind, f"param 'code' {code!r} is not one of {known}")
        super().inject(fault)

    def _activate(self, fault: Fault, params: dict[str, ParamValue], t: float) -> None:
        log.info(kv("fault_onset", device=self.device_id, kind=fault.kind))
        self._faults.append(fault)
        if fault.kind == "blocker_camera_fault":
            self.camera_code = str(params["code"])
        elif fault.kind == "blocker_relay_stuck":
            self._close_relay(t)
            self.relay_stuck = True

    def read_points(self) -> PointValues:
        hold = min(self._t - self.hold_start, 65535.0) if self.relay_closed else 0.0
        return {
            "detections": float(self.detections & 0xFFFFFFFF),
            "hold_s": float(int(hold)),
            "camera_fault_code": self._camera_codes[self.camera_code],
            "heartbeat": float(int(self._elapsed) & 0xFFFF),
            "device_clock": float(int(self._t)),
            "firmware_version": self.params.firmware_version,
            "serial_number": float(self.serial_number),
            "releases": float(self.releases & 0xFFFF),
            "ebike_present": 1.0 if self.detected else 0.0,
            "door_hold": 1.0 if self.relay_closed else 0.0,
            "voice_alarm": 1.0 if self.voice_alarm else 0.0,
            "camera_online": 1.0 if self.camera_online else 0.0,
            "relay_closed": 1.0 if self.relay_closed else 0.0,
            "remote_release": 0.0,
            "alarm_reset": 0.0,
        }

    def raw_overrides(self) -> RawOverrides:
        return {}

    def write_point(self, name: str, port: int | None, value: float) -> None:
        point = self.profile.by_name.get(name)
        if point is None or not point.writable:
            raise WriteRefusedError(self.device_id, name, port, "not a writable point")
        if port is not None:
            raise WriteRefusedError(self.device_id, name, port, "a blocker has no ports")
        if name == "remote_release" and value and self.relay_closed:
            self.releases += 1
            self.voice_alarm = False
            self.suppressed = True
            self._open_relay(self._t)
            log.info(kv("remote_release", device=self.device_id, stuck=self.relay_stuck))
        elif name == "alarm_reset" and value:
            self.voice_alarm = False
