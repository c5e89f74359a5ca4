"""The facade the gateway calls: telemetry and events in, alert changes and sessions out.

The pipeline keeps the state of every pile port in fleet-wide numpy arrays
(:class:`analytics.fleet.Fleet`) and runs, per wave of pile telemetry (the piles of one poll
round, see :meth:`Pipeline.process_batch`): sensor plausibility → physical rules and the
thermal baseline → session tracking in one vectorised pass; blockers get their rules per
message; then the alert manager turns the conditions into
state changes. ``tick(now)`` raises "device offline" and scores running sessions in one
batch. ``checkpoint()``/``restore()`` carry all learning across a restart. Pure computation:
no I/O, no clocks of its own (time comes from the messages and from ``tick``).
"""

from __future__ import annotations

import functools
import logging
import pickle
from collections.abc import Mapping, Sequence

import msgspec

from analytics.alerts import AlertChange, AlertManager, AlertSpec, Condition
from analytics.errors import CheckpointError, DetectorInputError
from analytics.fleet import Fleet, PileInput, Slot
from analytics.rules import BlockerRules, PhysicalRules, RuleConfig, SensorRules
from analytics.rules.selfheat import SelfHeatConfig, SelfHeatRules
from analytics.sessions import SessionConfig, SessionRecord, SessionTracker
from chargewatch.errors import ConfigError
from chargewatch.logs import kv
from chargewatch.messages import Event, Telemetry
from chargewatch.profiles import DeviceProfile

log = logging.getLogger(__name__)

CHECKPOINT_VERSION = 7
_PILE_KINDS = (*SensorRules.KINDS, *PhysicalRules.KINDS, *SessionTracker.KINDS, *SelfHeatRules.KINDS)
_LIVENESS = ("device_offline",)

DEFAULT_SPECS: dict[str, AlertSpec] = {
    "socket_overtemp": AlertSpec(for_s=30.0, clear_s=60.0),
    "temp_rising_fast": AlertSpec(for_s=60.0, clear_s=120.0),
    "overcurrent": AlertSpec(for_s=2.0, clear_s=30.0),
    "current_spike": AlertSpec(for_s=0.0, clear_s=30.0),
    "thermal_residual": AlertSpec(for_s=60.0, clear_s=300.0),
    "port_hotter_than_neighbours": AlertSpec(for_s=120.0, clear_s=300.0),
    "smoke": AlertSpec(for_s=0.0, clear_s=60.0),
    "sensor_fault": AlertSpec(for_s=30.0, clear_s=300.0),
    "session_no_float": AlertSpec(for_s=0.0, clear_s=0.0),
    "power_after_float": AlertSpec(for_s=120.0, clear_s=300.0),
    "power_creep": AlertSpec(for_s=60.0, clear_s=600.0),
    "battery_self_heating": AlertSpec(for_s=60.0, clear_s=600.0),
    "oversized_battery": AlertSpec(for_s=0.0, clear_s=0.0),
    "repeated_restarts": AlertSpec(for_s=0.0, clear_s=600.0),
    "blocker_camera_fault": AlertSpec(for_s=30.0, clear_s=60.0),
    "blocker_door_held": AlertSpec(for_s=0.0, clear_s=30.0),
    "blocker_relay_stuck": AlertSpec(for_s=0.0, clear_s=30.0),
    "blocker_no_detections": AlertSpec(for_s=0.0, clear_s=0.0),
    "device_offline": AlertSpec(for_s=0.0, clear_s=0.0),
}


class PipelineConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """Everything tunable in the analytics; every field has a working default."""

    rules: RuleConfig = msgspec.field(default_factory=RuleConfig)
    sessions: SessionConfig = msgspec.field(default_factory=SessionConfig)
    self_heating: SelfHeatConfig = msgspec.field(default_factory=SelfHeatConfig)
    alerts: dict[str, AlertSpec] = msgspec.field(default_factory=dict)
    offline_after_s: float = 90.0
    evidence_samples: int = 10


def load_config(data: Mapping[str, object], source: str) -> PipelineConfig:
    """Validate a mapping (e.g. the gateway's YAML ``analytics:`` section) into a config."""
    try:
        return msgspec.convert(data, PipelineConfig)
    except (msgspec.ValidationError, ValueError) as exc:
        raise ConfigError(f"{source}: analytics config: {exc}; fix or remove that key") from exc


def _codes_of(profile: DeviceProfile, point: str, label: str) -> list[float]:
    """Raw codes of ``point`` that the profile labels ``label`` (empty if it has none)."""
    labels = profile.by_name[point].values if point in profile.by_name else None
    return [float(code) for code, name in (labels or {}).items() if name == label]


class Pipeline:
    """Per-port analytics of a fleet, fed message by message."""

    def __init__(
        self,
        config: PipelineConfig | None = None,
        profiles: Mapping[str, DeviceProfile] | None = None,
    ) -> None:
        self.config = config or PipelineConfig()
        self.limits = {m: dict(p.limits) for m, p in (profiles or {}).items()}
        self.kinds = {m: p.kind for m, p in (profiles or {}).items()}
        self.trip_codes = {m: _codes_of(p, "fault_code", "over_current") for m, p in (profiles or {}).items()}
        self.fault_labels = {
            m: dict(p.by_name["fault_code"].values or {})
            for m, p in (profiles or {}).items()
            if "fault_code" in p.by_name
        }
        step = self.config.rules.meter_max_step_wh / 1000.0
        self.metered = {
            m
            for m, p in (profiles or {}).items()
            if "energy" in p.by_name and p.by_name["energy"].scale <= step
        }
        self.alerts = AlertManager({**DEFAULT_SPECS, **self.config.alerts})
        self.fleet = Fleet(
            self.config.rules, self.config.sessions, self.config.evidence_samples, self.config.self_heating
        )
        self.piles: dict[str, Slot] = {}
        self.blockers: dict[str, BlockerRules] = {}
        self.last_seen: dict[str, float] = {}
        self.finished: list[SessionRecord] = []

    # -- telemetry -----------------------------------------------------------------------------
    def process_batch(self, msgs: Sequence[Telemetry]) -> list[AlertChange]:
        """Analyse the telemetry of one batch (e.g. one MQTT read); the alert changes, in order.

        Consecutive pile messages from distinct piles (one poll round of a site, or whatever
        one MQTT read brought, each at its own timestamp) are evaluated together in one
        vectorised wave; a pile seen again starts the next wave, so every pile still sees its
        messages in order. A message whose ``ports`` columns differ in length raises
        :class:`DetectorInputError` before any state changes (the gateway validates shapes
        first; this guards every other caller).
        """
        for msg in msgs:
            if len({len(c) for c in msg.ports.values()}) > 1:
                lengths = {k: len(c) for k, c in msg.ports.items()}
                raise DetectorInputError(
                    "pipeline", lengths, f"{msg.device} seq {msg.seq}: ragged ports columns"
                )
        changes: list[AlertChange] = []
        wave: list[Telemetry] = []
        in_wave: set[str] = set()
        for msg in msgs:
            changes += self._liveness(msg)
            kind = self.kinds.get(msg.model) or ("blocker" if "detections" in msg.values else "pile")
            if kind == "blocker":
                changes += self._blocker(msg)
                continue
            if msg.device in in_wave:
                changes += self._wave(wave)
                wave, in_wave = [], set()
            wave.append(msg)
            in_wave.add(msg.device)
        if wave:
            changes += self._wave(wave)
        return changes

    def process_telemetry(self, msg: Telemetry) -> list[AlertChange]:
        """Analyse one poll of one device; return the alert changes it causes."""
        return self.process_batch((msg,))

    def _liveness(self, msg: Telemetry) -> list[AlertChange]:
        changes: list[AlertChange] = []
        if self.last_seen.get(msg.device, -1.0) < 0 or self._offline(msg.device):
            changes = self.alerts.resolve_device(msg.ts, msg.device, _LIVENESS)
        self.last_seen[msg.device] = max(msg.ts, self.last_seen.get(msg.device, msg.ts))
        return changes

    def _offline(self, device: str) -> bool:
        return self.alerts.is_open(device, None, "device_offline")

    def _slot(self, msg: Telemetry, ports: int) -> Slot:
        slot = self.piles.get(msg.device)
        if slot is None or slot.ports != ports:
            limit = self.limits.get(msg.model, {}).get(
                "port_max_current_a", self.config.rules.default_max_current_a
            )
            slot = self.piles[msg.device] = self.fleet.add(msg.device, ports, limit)
            log.info(kv("pile_tracked", device=msg.device, ports=ports))
        return slot

    def _wave(self, msgs: list[Telemetry]) -> list[AlertChange]:
        piles = []
        for msg in msgs:
            ports = max((len(c) for c in msg.ports.values()), default=0)
            if ports:
                codes = self.trip_codes.get(msg.model) or ()
                piles.append(PileInput(msg, self._slot(msg, ports), codes, msg.model in self.metered))
        if not piles:
            return []
        done = len(self.finished)
        per_pile, ambient = self.fleet.wave(piles, self.finished)
        if len(self.finished) > done:
            self._fault_reasons(done, {p.msg.device: p.msg for p in piles})
        open_devices = self.alerts.devices()
        changes: list[AlertChange] = []
        for pile, conditions, amb in zip(piles, per_pile, ambient.tolist(), strict=True):
            msg = pile.msg
            if msg.values.get("smoke_alarm"):
                conditions.append(Condition(None, "smoke", "critical", "pile smoke sensor alarm"))
            if not conditions and msg.device not in open_devices:
                continue
            evidence = functools.partial(self.fleet.evidence, pile.slot, ambient=amb)
            changes += self.alerts.evaluate(msg.ts, msg.device, _PILE_KINDS, conditions, evidence)
        return changes

    def _fault_reasons(self, done: int, msgs: Mapping[str, Telemetry]) -> None:
        """Name a ``fault``/``stopped`` end by the port's fault code (the pile's own trip)."""
        for k in range(done, len(self.finished)):
            rec = self.finished[k]
            msg = msgs.get(rec.device)
            codes = msg.ports.get("fault_code") if msg is not None else None
            if (
                rec.end_reason not in {"fault", "stopped"}
                or msg is None
                or not codes
                or rec.port >= len(codes)
            ):
                continue
            code = codes[rec.port]
            label = self.fault_labels.get(msg.model, {}).get(int(code)) if code is not None else None
            if label and label != "none":
                reason = "stopped" if label == "remote_stop" else label
                self.finished[k] = msgspec.structs.replace(rec, end_reason=reason)

    def _blocker(self, msg: Telemetry) -> list[AlertChange]:
        rules = self.blockers.get(msg.device)
        if rules is None:
            max_hold = self.limits.get(msg.model, {}).get("max_hold_s")
            rules = self.blockers[msg.device] = BlockerRules(self.config.rules, max_hold)
        conditions: list[Condition] = []
        rules.evaluate(msg.ts, msg.values, conditions)
        sample: dict[str, float | str | None] = {"ts": msg.ts, **msg.values}
        return self.alerts.evaluate(msg.ts, msg.device, BlockerRules.KINDS, conditions, lambda _: [sample])

    # -- events, time, sessions ------------------------------------------------------------------
    def process_event(self, msg: Event) -> list[AlertChange]:
        """Analyse one device event: liveness from the agent; an agent interlock that cut a
        charging port names the end of its session."""
        changes: list[AlertChange] = []
        if msg.kind == "device_down":
            cond = Condition(None, "device_offline", "critical", "agent reports the device not answering")
            changes = self.alerts.evaluate(msg.ts, msg.device, _LIVENESS, [cond], lambda _: [])
        elif msg.kind == "device_up":
            changes = self.alerts.resolve_device(msg.ts, msg.device, _LIVENESS)
        elif msg.kind == "interlock" and msg.port is not None and msg.device in self.piles:
            sessions = self.fleet.sessions
            slot = self.piles[msg.device]
            if (
                sessions is not None
                and 0 <= msg.port < slot.ports
                and sessions.active[slot.offset + msg.port]
            ):
                sessions.end_reason[slot.offset + msg.port] = "interlock"
        return changes

    def tick(self, now: float) -> list[AlertChange]:
        """Liveness (no telemetry for ``offline_after_s``) and blocker droughts."""
        changes: list[AlertChange] = []
        limit = self.config.offline_after_s
        for device, seen in self.last_seen.items():
            if now - seen > limit and not self._offline(device):
                msg = f"no telemetry for {now - seen:.0f} s"
                cond = Condition(None, "device_offline", "critical", msg)
                changes += self.alerts.evaluate(now, device, _LIVENESS, [cond], lambda _: [])
        for device, rules in self.blockers.items():
            conditions: list[Condition] = []
            rules.drought(now, conditions)
            changes += self.alerts.evaluate(now, device, ("blocker_no_detections",), conditions, lambda _: [])
        return changes

    def pop_sessions(self) -> list[SessionRecord]:
        """Sessions finished since the last call (for the ``session`` measurement)."""
        out, self.finished = self.finished, []
        return out

    # -- persistence -----------------------------------------------------------------------------
    def checkpoint(self) -> bytes:
        """All learnt state and open alerts, versioned (configuration and profiles excluded)."""
        state = {k: v for k, v in self.__dict__.items() if k not in _CONFIGURED}
        return pickle.dumps({"version": CHECKPOINT_VERSION, "state": state}, protocol=pickle.HIGHEST_PROTOCOL)

    def restore(self, data: bytes) -> None:
        """Replace this pipeline's learnt state with a :meth:`checkpoint`.

        The configuration is this pipeline's, not the checkpoint's: thresholds, alert timings
        and the device profiles are re-applied to every restored rule.
        """
        try:
            blob = pickle.loads(data)  # noqa: S301 - our own checkpoint from the gateway's disk
        except Exception as exc:
            raise CheckpointError(f"analytics checkpoint is not readable: {exc}") from exc
        if not isinstance(blob, dict) or blob.get("version") != CHECKPOINT_VERSION:
            raise CheckpointError(f"analytics checkpoint version is not {CHECKPOINT_VERSION}; start fresh")
        self.__dict__.update({k: v for k, v in blob["state"].items() if k not in _GONE})
        self._apply_config()
        log.info(kv("analytics_restored", piles=len(self.piles), blockers=len(self.blockers)))

    def _apply_config(self) -> None:
        """Point every restored rule at this pipeline's configuration."""
        cfg = self.config
        self.alerts.specs = {**DEFAULT_SPECS, **cfg.alerts}
        fleet = self.fleet
        fleet.rules, fleet.session_config = cfg.rules, cfg.sessions
        fleet.selfheat_config = cfg.self_heating
        rules = fleet.state
        if rules is not None:
            rules.sensor.config = rules.physical.config = rules.meter.config = cfg.rules
            rules.sessions.config = cfg.sessions
            rules.selfheat.config = cfg.self_heating
        for blocker in self.blockers.values():
            blocker.config = cfg.rules


#: attributes set from configuration and profiles, never taken from a checkpoint
_CONFIGURED = frozenset({"config", "limits", "kinds", "trip_codes", "metered"})
#: ... nor those older checkpoints carry that no longer exist (``grouper``: grouping is the gateway's)
_GONE = _CONFIGURED | {"grouper"}
