"""Fleet-wide pile state: every port of every pile in one set of numpy arrays.

The per-port rules (sensor plausibility, physical rules with the thermal baseline, charging
sessions) keep their state as arrays over ports. :class:`Fleet` holds ONE instance of each
over all pile ports (a pile owns a contiguous range of *slots*, appended when it is first
seen), so a *wave* — the telemetry of many distinct piles, each at its own timestamp (time
is an array over ports) — costs one vectorised pass whatever the number of piles. When a
wave covers every slot in order the rules run on the fleet arrays in place; otherwise the
wave's slots are gathered into a sub-state, evaluated and scattered back (:func:`_take` /
:func:`_put`). Conditions come back per device with the device's own port numbers. Pure
computation, no I/O.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from analytics.alerts import Condition
from analytics.rules import MeterRules, PhysicalRules, RuleConfig, SensorRules
from analytics.rules.physical import Groups
from analytics.rules.selfheat import SelfHeatConfig, SelfHeatRules
from analytics.sessions import SessionConfig, SessionRecord, SessionTracker
from chargewatch.messages import Telemetry

IntArray = npt.NDArray[np.intp]
#: per-port columns the rules read
PORT_COLS: tuple[str, ...] = ("socket_temp", "current", "power", "voltage", "state", "energy")
_PARTS = ("sensor", "physical", "sessions", "meter", "selfheat")
#: columns kept as evidence (after the timestamp)
EVIDENCE_COLS: tuple[str, ...] = ("socket_temp", "current", "power", "voltage")


@dataclass(slots=True)
class Slot:
    """Where one pile's ports live in the fleet arrays."""

    device: str
    offset: int
    ports: int

    @property
    def index(self) -> IntArray:
        """The pile's slots."""
        return np.arange(self.offset, self.offset + self.ports)


@dataclass(slots=True)
class PileInput:
    """One pile's telemetry in a wave, with what the pipeline knows of its model."""

    msg: Telemetry
    slot: Slot
    trip_codes: Sequence[float]
    #: the model's energy register is fine enough for the meter cross-check
    metered: bool = False


def _grow(obj: Any, fresh: Any, size: int) -> None:
    """Append ``fresh``'s per-port state (arrays and lists of length ``size``) to ``obj``'s."""
    for name, value in vars(obj).items():
        new = getattr(fresh, name)
        if isinstance(value, np.ndarray) and value.ndim and value.shape[0] == size:
            setattr(obj, name, np.concatenate([value, new]))
        elif isinstance(value, list) and len(value) == size:
            setattr(obj, name, value + new)


def _take(obj: Any, idx: IntArray, size: int) -> Any:
    """A copy of ``obj`` restricted to the slots ``idx`` (int-keyed dicts renumbered)."""
    sub = copy.copy(obj)
    pos = {int(s): k for k, s in enumerate(idx)}
    for name, value in vars(obj).items():
        if isinstance(value, np.ndarray) and value.ndim and value.shape[0] == size:
            setattr(sub, name, value[idx])
        elif isinstance(value, list) and len(value) == size:
            setattr(sub, name, [value[int(i)] for i in idx])
        elif isinstance(value, dict) and all(isinstance(k, int) for k in value):
            setattr(sub, name, {pos[k]: v for k, v in value.items() if k in pos})
    return sub


def _put(obj: Any, sub: Any, idx: IntArray, size: int) -> None:
    """Write the state of ``sub`` (from :func:`_take`) back into the slots ``idx`` of ``obj``."""
    for name, value in vars(obj).items():
        if isinstance(value, np.ndarray) and value.ndim and value.shape[0] == size:
            value[idx] = getattr(sub, name)
        elif isinstance(value, dict) and all(isinstance(k, int) for k in value):
            inside = set(idx.tolist())
            kept = {k: v for k, v in value.items() if k not in inside}
            kept.update({int(idx[k]): v for k, v in getattr(sub, name).items()})
            setattr(obj, name, kept)


class _Rules:
    """The per-port rule state of some ports."""

    def __init__(
        self,
        ports: int,
        device: str,
        limit: float,
        *,
        rules: RuleConfig,
        sessions: SessionConfig,
        selfheat: SelfHeatConfig,
    ) -> None:
        self.sensor = SensorRules(ports, rules)
        self.physical = PhysicalRules(ports, rules, np.full(ports, limit))
        self.sessions = SessionTracker(device, ports, sessions)
        self.meter = MeterRules(ports, rules)
        self.selfheat = SelfHeatRules(ports, selfheat)


class Fleet:
    """Rule state of every pile port, evaluated one wave of piles at a time."""

    def __init__(
        self,
        rules: RuleConfig,
        sessions: SessionConfig,
        evidence: int,
        selfheat: SelfHeatConfig | None = None,
    ) -> None:
        self.rules = rules
        self.session_config = sessions
        self.selfheat_config = selfheat or SelfHeatConfig()
        self.size = 0
        self.state: _Rules | None = None
        self.ring = np.full((evidence, 0, len(EVIDENCE_COLS) + 1), np.nan)
        self.ring_pos = np.zeros(0, dtype=np.int64)
        self._groups: dict[tuple[int, ...], Groups] = {}

    def add(self, device: str, ports: int, limit: float) -> Slot:
        """Give a new pile ``ports`` slots (after every existing one)."""
        fresh = _Rules(
            ports,
            device,
            limit,
            rules=self.rules,
            sessions=self.session_config,
            selfheat=self.selfheat_config,
        )
        slot = Slot(device, self.size, ports)
        if self.state is None:
            self.state = fresh
        else:
            for part in _PARTS:
                _grow(getattr(self.state, part), getattr(fresh, part), self.size)
            _grow(self.state.physical.thermal, fresh.physical.thermal, self.size)
        ring = np.full((self.ring.shape[0], ports, self.ring.shape[2]), np.nan)
        self.ring = np.concatenate([self.ring, ring], axis=1)
        self.ring_pos = np.concatenate([self.ring_pos, np.zeros(ports, dtype=np.int64)])
        self.size += ports
        return slot

    @property
    def sessions(self) -> SessionTracker | None:
        """The session tracker over every slot (None before the first pile)."""
        return None if self.state is None else self.state.sessions

    def _layout(self, sizes: tuple[int, ...]) -> Groups:
        layout = self._groups.get(sizes)
        if layout is None:
            layout = self._groups[sizes] = Groups.of_sizes(list(sizes))
        return layout

    def wave(
        self, piles: Sequence[PileInput], finished: list[SessionRecord]
    ) -> tuple[list[list[Condition]], npt.NDArray[np.float64]]:
        """Evaluate the telemetry of ``piles`` (distinct piles, each at its own timestamp).

        Returns the conditions of each pile (its own port numbers) and the ambient per pile;
        sessions that ended are appended to ``finished``.
        """
        state = self.state
        assert state is not None, "add a pile before evaluating it"
        sizes = tuple(p.slot.ports for p in piles)
        t = np.repeat(np.array([p.msg.ts for p in piles], dtype=np.float64), sizes)
        idx = np.concatenate([p.slot.index for p in piles])
        whole = len(idx) == self.size and bool(np.all(idx == np.arange(self.size)))
        present = set.intersection(*(set(p.msg.ports) for p in piles))
        cols = {name: _column(piles, name) for name in PORT_COLS}
        ambient = np.array([_ambient(p.msg) for p in piles])
        amb = np.repeat(ambient, sizes)
        flags = _flags(piles)
        tripped = np.concatenate([_tripped(p) for p in piles])
        conditions: list[Condition] = []
        run = state if whole else _Rules.__new__(_Rules)
        if not whole:
            for part in _PARTS:
                setattr(run, part, _take(getattr(state, part), idx, self.size))
            run.physical.thermal = _take(state.physical.thermal, idx, self.size)
        temp_ok = run.sensor.evaluate(t, cols, flags, conditions, present, ambient=amb)
        run.physical.evaluate(
            t,
            cols,
            amb,
            smoke=False,
            temp_ok=temp_ok,
            conditions=conditions,
            tripped=tripped,
            groups=self._layout(sizes),
        )
        run.meter.evaluate(t, cols, run.physical.spiking, conditions, self._layout(sizes))
        state_col = cols["state"] if "state" in present else None
        finished += run.sessions.update(
            t,
            cols["power"],
            cols["socket_temp"],
            state_col,
            conditions,
            spiking=run.physical.spiking,
            meter=cols["energy"],
        )
        tracker = run.sessions
        run.selfheat.evaluate(
            t,
            active=tracker.active,
            start_t=tracker.start_t,
            smooth_w=tracker.smooth,
            median_w=tracker.med,
            power=cols["power"],
            socket_c=cols["socket_temp"],
            ambient_c=amb,
            temp_ok=temp_ok,
            socket_moved_t=run.sensor.changed_t,
            conditions=conditions,
            state=state_col,
        )
        if not whole:
            for part in _PARTS:
                _put(getattr(state, part), getattr(run, part), idx, self.size)
            _put(state.physical.thermal, run.physical.thermal, idx, self.size)
        self._remember(t, idx, cols)
        return _split(conditions, sizes, piles), ambient

    def _remember(
        self, t: npt.NDArray[np.float64], idx: IntArray, cols: dict[str, npt.NDArray[np.float64]]
    ) -> None:
        depth = self.ring.shape[0]
        row = np.empty((len(idx), len(EVIDENCE_COLS) + 1))
        row[:, 0] = t
        for j, name in enumerate(EVIDENCE_COLS, start=1):
            row[:, j] = cols[name]
        self.ring[self.ring_pos[idx] % depth, idx] = row
        self.ring_pos[idx] += 1

    def evidence(self, slot: Slot, port: int | None, ambient: float) -> list[dict[str, float | str | None]]:
        """The last raw samples of one port (every port of the pile when ``port`` is None)."""
        depth = self.ring.shape[0]
        out: list[dict[str, float | str | None]] = []
        ports = range(slot.ports) if port is None else (port,)
        for p in ports:
            s = slot.offset + p
            n = int(self.ring_pos[s])
            for k in range(max(n - depth, 0), n):
                row = self.ring[k % depth, s]
                sample: dict[str, float | str | None] = {"port": float(p), "ambient_temp": ambient}
                for j, name in enumerate(("ts", *EVIDENCE_COLS)):
                    value = float(row[j])
                    sample[name] = None if np.isnan(value) else value
                out.append(sample)
        return out


def _column(piles: Sequence[PileInput], name: str) -> npt.NDArray[np.float64]:
    parts = [
        np.array(p.msg.ports[name], dtype=np.float64)
        if name in p.msg.ports and (p.metered or name != "energy")
        else np.full(p.slot.ports, np.nan)
        for p in piles
    ]
    return np.concatenate(parts)


def _ambient(msg: Telemetry) -> float:
    value = msg.values.get("ambient_temp")
    return np.nan if value is None else float(value)


def _tripped(p: PileInput) -> npt.NDArray[np.bool_]:
    faults = p.msg.ports.get("fault_code")
    if not p.trip_codes or faults is None:
        return np.zeros(p.slot.ports, dtype=bool)
    return np.isin(np.array(faults, dtype=np.float64), p.trip_codes)


def _flags(piles: Sequence[PileInput]) -> dict[str, str]:
    """Per-reading flags renumbered to wave positions (``name[i]``)."""
    out: dict[str, str] = {}
    base = 0
    for p in piles:
        for key, flag in p.msg.flags.items():
            name, sep, rest = key.partition("[")
            if sep and rest.endswith("]") and rest[:-1].isdigit():
                out[f"{name}[{base + int(rest[:-1])}]"] = flag
        base += p.slot.ports
    return out


def _split(
    conditions: list[Condition], sizes: tuple[int, ...], piles: Sequence[PileInput]
) -> list[list[Condition]]:
    """Conditions per pile, renumbered to the pile's own ports."""
    starts = np.cumsum((0, *sizes))
    out: list[list[Condition]] = [[] for _ in piles]
    for cond in conditions:
        assert cond.port is not None
        k = int(np.searchsorted(starts, cond.port, side="right")) - 1
        out[k].append(Condition(cond.port - int(starts[k]), cond.kind, cond.severity, cond.message))
    return out
