"""Device liveness: online/offline from agent status, last wills and silence.

* A device is online while it sends live data; silent for ``offline_after`` seconds (1.5 ×
  keepalive by default) while its agent is up it goes offline at the next :meth:`Liveness.tick`
  and is paged (``device_offline``): the agent is there, the device is not. The agent's
  ``device_down`` event pages the same at once (:meth:`reported`).
* An agent's Status ``online=False`` takes all its devices offline at once. A last will (the
  broker saw the agent's session die) pages ONE ``agent_offline`` for the agent, not one per
  device; a planned stop (``planned=True``, sent by a clean shutdown) pages nothing. Within one
  boot an offline status is always honoured whatever its ``ts`` (the broker publishes the will
  only after the session died); a status of an older boot never overrides a newer one.
* While the gateway's own broker link is down (:meth:`pause`) nothing goes offline on silence,
  and after it is back (:meth:`resume`) every device gets a full ``offline_after`` to be heard
  from again: the gateway's outage is not the devices'.
* A seq gap of a device is judged only once its agent's status says it holds nothing from
  before the gap (:meth:`draining`): the status carries the outbox depth and the age of the
  oldest unacknowledged row, so a reconnected agent still draining its backlog (or a dead one,
  whose outbox survives it) holds the gap, and a blip stores no ``data_gap``. After a gateway
  restart the devices it already knew (:meth:`restored`) hold their gaps until their agent's
  first status of this run says what it holds: a gateway killed with messages unspooled makes
  gaps that the agent's resend fills, and an agent status can be a whole interval away.
* Only devices with an accepted message (:class:`KnownDevices`, shared with the gateway's
  admission check) are ever reported offline: ids only listed in a status or only seen in a
  flood never page. Every map here is bounded by ``max_devices``: status lists beyond it are
  cut, new agents beyond it ignored (logged).
* Transitions are returned as :class:`Transition` items (and logged once each), so the gateway
  can raise or resolve the alerts.
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
    #: the alert this transition raises or resolves
    kind: str = "device_offline"
    #: False: the state changes but nobody is paged (agent-wide or planned)
    page: bool = True


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
    #: gateway time the status arrived, and since when (gateway time) the agent holds rows
    status_at: float = 0.0
    holds_since: float = float("inf")


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
        self._paused = False
        self._restored: set[str] = set()

    def _set(
        self, device: str, online: bool, now: float, reason: str, out: list[Transition], *, page: bool = True
    ) -> None:
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
                out.append(Transition(device, online, now, reason, page=page))
            log.info(kv("device_online" if online else "device_offline", device=device, reason=reason))

    def seen(self, device: str, now: float) -> list[Transition]:
        """An accepted live message from ``device`` arrived (the device becomes known)."""
        self.known.add(device)
        out: list[Transition] = []
        self._set(device, True, now, "message", out)
        d = self.devices.get(device)
        if d is not None:
            d.last_seen = now
        return out

    def reported(self, device: str, up: bool, now: float) -> list[Transition]:
        """The device's agent reports it answering again (``device_up``) or not (``device_down``):
        the agent is there and the device is not, which pages ``device_offline``."""
        out: list[Transition] = []
        self._set(device, up, now, "agent_reports_up" if up else "agent_reports_down", out)
        d = self.devices.get(device)
        if up and d is not None:
            d.last_seen = now
        return out

    def status(self, agent: str, st: Status, now: float) -> list[Transition]:
        """An agent status (online, offline by its last will, or a planned stop) arrived."""
        known = self._agents.get(agent)
        if known is not None and st.boot < known.boot:
            log.info(kv("stale_status_ignored", agent=agent, boot=st.boot, current_boot=known.boot))
            return []
        if known is None and len(self._agents) >= self.max_devices:
            log.warning(kv("agent_ignored", agent=agent, reason="max_devices agents tracked"))
            return []
        devices = (st.devices or (known.devices if known else []))[: self.max_devices]
        was_online = known is not None and known.online
        new = self._agents[agent] = _Agent(st.boot, st.online, st.ts, devices, status_at=now)
        out: list[Transition] = []
        if st.online:
            if st.health.get("outbox_depth", 0.0) > 0:
                new.holds_since = now - st.health.get("outbox_oldest_age_s", 0.0)
            if not was_online:  # back (or first heard of): resolves an open agent_offline
                out.append(Transition(agent, True, now, "agent_online", kind="agent_offline"))
        elif was_online or known is None:
            planned = st.planned
            reason = "planned_stop" if planned else "last_will"
            out.append(Transition(agent, False, now, reason, kind="agent_offline", page=not planned))
            log.info(kv("agent_offline", agent=agent, boot=st.boot, reason=reason))
        for device in devices:
            reason = "agent_online" if st.online else ("planned_stop" if st.planned else "agent_offline")
            self._set(device, st.online, now, reason, out, page=False)
            d = self.devices.get(device)
            if d is None:
                continue
            d.agent = agent
            if st.online:
                d.last_seen = now
        return out

    def restored(self, devices: Iterable[str]) -> None:
        """Devices known from before this start (the state db's seq marks): their agents may hold
        messages this gateway has not seen, until a status of this run says otherwise."""
        self._restored.update(devices)

    def draining(self, device: str, since: float) -> bool:
        """True while the agent of ``device`` may still hold its messages from before ``since``
        (gateway time): it is offline (its outbox outlives it), or its last status is older
        than ``since`` or reports a row from before it, or the device is :meth:`restored` and no
        status of its agent came yet. False for a device never reported by an agent."""
        d = self.devices.get(device)
        agent = self._agents.get(d.agent) if d is not None and d.agent else None
        if agent is None:
            return device in self._restored
        return not agent.online or agent.status_at < since or agent.holds_since <= since

    def pause(self) -> None:
        """The gateway's broker link is down: silence proves nothing until :meth:`resume`."""
        if not self._paused:
            self._paused = True
            log.info(kv("liveness_paused", reason="gateway_link_down"))

    def resume(self, now: float) -> None:
        """The link is back: every device gets a full ``offline_after`` from ``now``."""
        if self._paused:
            self._paused = False
            for d in self.devices.values():
                d.last_seen = max(d.last_seen, now)
            log.info(kv("liveness_resumed", devices=len(self.devices)))

    def tick(self, now: float) -> list[Transition]:
        """Devices silent for longer than ``offline_after`` go offline (never while paused)."""
        out: list[Transition] = []
        if self._paused:
            return out
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
