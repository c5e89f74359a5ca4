"""Device liveness: online/offline from agent status, last wills and silence.

* A device is online while it sends; silent for ``offline_after`` seconds (1.5 × keepalive by
  default) it goes offline at the next :meth:`Liveness.tick`.
* An agent's Status ``online=False`` (its last will, or a clean stop) takes all its devices
  offline — unless the status belongs to an older boot than the one we know: a stale will,
  delivered late or retained from a previous run, never overrides a fresh online.
* Only devices with an accepted message (:class:`KnownDevices`, shared with the gateway's
  admission check) are ever reported offline: ids only listed in a status or only seen in a
  flood never page. Every map here is bounded by ``max_devices``: status lists beyond it are cut, new agents
  beyond it ignored (logged).
* Transitions are returned as :class:`Transition` items (and logged once each), so the gateway
  can raise or resolve ``device_offline`` alerts.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

from chargewatch.logs import kv
from chargewatch.messages import Status

log = logging.getLogger(__name__)


class KnownDevices:
    """Device ids with at least one accepted message (loaded from the state db's seq marks)."""

    def __init__(self, devices: Iterable[str] = ()) -> None:
        self._ids: set[str] = set(devices)
        self.on_add: Callable[[str], None] | None = None

    def add(self, device: str) -> None:
        if device not in self._ids:
            self._ids.add(device)
            if self.on_add is not None:
                self.on_add(device)

    def __contains__(self, device: object) -> bool:
        return device in self._ids

    def __len__(self) -> int:
        return len(self._ids)

    def __iter__(self) -> Iterator[str]:
        return iter(self._ids)


@dataclass(frozen=True)
class Transition:
    device: str
    online: bool
    ts: float
    reason: str


@dataclass
class DeviceLive:
    online: bool
    last_seen: float
    agent: str = ""
    last_values: dict[str, object] = field(default_factory=dict)


@dataclass
class _Agent:
    boot: int
    online: bool
    ts: float
    devices: list[str]


class Liveness:
    """Online state per device; ``now`` is always the gateway's clock (never the device's)."""

    def __init__(
        self, offline_after: float, known: KnownDevices | None = None, max_devices: int = 10_000
    ) -> None:
        self.offline_after = offline_after
        self.known = known if known is not None else KnownDevices()
        self.max_devices = max_devices
        self.devices: dict[str, DeviceLive] = {}
        self._agents: dict[str, _Agent] = {}

    def _set(self, device: str, online: bool, now: float, reason: str, out: list[Transition]) -> None:
        d = self.devices.get(device)
        if d is None:
            if len(self.devices) >= self.max_devices:
                return
            d = self.devices[device] = DeviceLive(online=online, last_seen=now if online else 0.0)
            if online:
                out.append(Transition(device, True, now, reason))
                log.info(kv("device_online", device=device, reason=reason))
            return
        if d.online != online:
            d.online = online
            if online or device in self.known:
                out.append(Transition(device, online, now, reason))
            log.info(kv("device_online" if online else "device_offline", device=device, reason=reason))

    def seen(self, device: str, now: float) -> list[Transition]:
        """An accepted message from ``device`` arrived (the device becomes known)."""
        self.known.add(device)
        out: list[Transition] = []
        self._set(device, True, now, "message", out)
        d = self.devices.get(device)
        if d is not None:
            d.last_seen = now
        return out

    def status(self, agent: str, st: Status, now: float) -> list[Transition]:
        """An agent status (online, or offline / last will) arrived."""
        known = self._agents.get(agent)
        if known is not None and st.boot < known.boot:
            log.info(kv("stale_status_ignored", agent=agent, boot=st.boot, current_boot=known.boot))
            return []
        if (
            known is not None
            and st.boot == known.boot
            and not st.online
            and known.online
            and st.ts < known.ts
        ):
            log.info(kv("stale_status_ignored", agent=agent, boot=st.boot, ts=st.ts))
            return []
        if known is None and len(self._agents) >= self.max_devices:
            log.warning(kv("agent_ignored", agent=agent, reason="max_devices agents tracked"))
            return []
        devices = (st.devices or (known.devices if known else []))[: self.max_devices]
        self._agents[agent] = _Agent(st.boot, st.online, st.ts, devices)
        out: list[Transition] = []
        for device in devices:
            self._set(device, st.online, now, "agent_online" if st.online else "agent_offline", out)
            d = self.devices.get(device)
            if d is None:
                continue
            d.agent = agent
            if st.online:
                d.last_seen = now
        return out

    def tick(self, now: float) -> list[Transition]:
        """Devices silent for longer than ``offline_after`` go offline."""
        out: list[Transition] = []
        for device, d in self.devices.items():
            if d.online and now - d.last_seen > self.offline_after:
                self._set(device, False, now, "silent", out)
        return out

    def agent_of(self, device: str) -> str:
        """The agent whose last status listed ``device`` ('' when none did)."""
        d = self.devices.get(device)
        return d.agent if d is not None else ""

    def online(self, device: str) -> bool:
        d = self.devices.get(device)
        return d is not None and d.online
