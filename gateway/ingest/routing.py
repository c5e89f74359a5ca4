"""Two MQTT sessions, so that a flood cannot make the broker drop the real devices' messages.

Mosquitto queues messages per *client*: when one subscriber falls behind (a flood it cannot
read fast enough), the broker drops what exceeds ``max_queued_messages`` for that client —
whoever published it. Admission (limits.py) makes a refused message cheap, but a flood can still
out-publish any single reader. So the gateway reads with two sessions:

* **discovery** (``mqtt.client_id``) — the wildcard subscriptions and agent status: new ids,
  distrusted devices, floods. When it falls behind, the broker drops only its copies.
* **trusted** (``mqtt.client_id`` + ``-known``) — one subscription per *trusted* device
  (telemetry and event topics): a known device that has not been refused for ``trust_after_s``
  or unsteady (gateway/ingest/limits.py ``distrusted_at``; at start-up every device with seq
  marks in the state db is trusted). A trusted device refused once, or faster than
  ``steady_msgs_per_s`` (a flood, a backlog drain), is unsubscribed at once and falls back to
  discovery, where it is rate-limited like any other.

A trusted device's messages reach both sessions. The discovery copy is dropped when its (boot,
seq) was already recorded (``SeqTracker.seen``), else held for ``hold_s``: the trusted copy
usually arrives meanwhile; one that never does (published before the subscription took effect)
is released into the pipeline through admission, a short delay rather than a loss. Held copies
are bounded (:data:`MAX_HELD`); beyond that a copy goes through admission directly (at worst a
duplicate, which dedupe catches).
"""

from __future__ import annotations

import logging
import re
from collections import OrderedDict
from collections.abc import Callable

from chargewatch import topics
from chargewatch.logs import kv
from gateway.ingest.limits import Admission
from gateway.ingest.mqtt import Inbound, MqttSession
from gateway.liveness import KnownDevices
from gateway.metrics import Metrics

log = logging.getLogger(__name__)

MAX_HELD = 10_000
_DEV = f"{topics.PREFIX}/dev/"
_BOOT = re.compile(rb'"boot"\s*:\s*(\d{1,18})\b')
_SEQ = re.compile(rb'"seq"\s*:\s*(\d{1,18})\b')
Seen = Callable[[str, int, int], bool]
_TRUSTED_LEAVES = frozenset({topics.TELEMETRY, topics.EVENT})


def _key(device: str, payload: bytes) -> tuple[str, int, int] | None:
    """(device, boot, seq) read from the raw payload without decoding it; None when absent."""
    boot, seq = _BOOT.search(payload), _SEQ.search(payload)
    if boot is None or seq is None:
        return None
    return device, int(boot.group(1)), int(seq.group(1))


def trusted_filters(device: str) -> list[str]:
    return [topics.device_filter(topics.TELEMETRY, device), topics.device_filter(topics.EVENT, device)]


class Router:
    """Admission for both sessions and the trusted session's subscriptions; see the module doc."""

    def __init__(
        self,
        admission: Admission,
        known: KnownDevices,
        seen: Seen,
        metrics: Metrics,
        *,
        trust_after_s: float,
        hold_s: float = 1.0,
    ) -> None:
        self.admission = admission
        self.known = known
        self.seen = seen
        self.metrics = metrics
        self.trust_after_s = trust_after_s
        self.hold_s = hold_s
        self.trusted: dict[str, float] = {}  # device → when it was trusted
        self.held: OrderedDict[tuple[str, int, int], Inbound] = OrderedDict()
        self.session: MqttSession | None = None

    def admit_discovery(self, topic: str, payload: bytes, received: float) -> bool:
        """The discovery session's check: trusted devices' copies are held or dropped."""
        if not topic.startswith(_DEV):
            return self.admission.admit(topic, payload, received)
        device, _, leaf = topic[len(_DEV) :].partition("/")
        copy = device in self.trusted and leaf in _TRUSTED_LEAVES
        key = _key(device, payload) if copy else None
        if key is None:
            return self.admission.admit(topic, payload, received)
        if self.seen(*key):
            self.metrics.inc("cw_ingest_copies_dropped_total")
            return False
        if key not in self.held and len(self.held) < MAX_HELD:
            self.held[key] = (topic, payload, received)
            return False
        return self.admission.admit(topic, payload, received)

    def admit_trusted(self, topic: str, payload: bytes, received: float) -> bool:
        """The trusted session's check: admission; a refusal or an unsteady rate ends the
        device's trust (the message itself is accepted unless admission refused it)."""
        ok = self.admission.admit(topic, payload, received)
        if topic.startswith(_DEV):
            device = topic[len(_DEV) :].partition("/")[0]
            since = self.trusted.get(device)
            if since is not None and self.admission.distrusted_at.get(device, -1.0) >= since:
                self.distrust(device)
        return ok

    def distrust(self, device: str) -> None:
        """Unsubscribe ``device`` from the trusted session (it falls back to discovery)."""
        if self.trusted.pop(device, None) is None:
            return
        if self.session is not None:
            self.session.remove_filters(trusted_filters(device))
        self.metrics.inc("cw_devices_distrusted_total")
        log.warning(kv("device_distrusted", device=device, reason="refused or unsteady"))

    def release(self, now: float) -> list[Inbound]:
        """Held discovery copies older than ``hold_s`` whose seq the trusted session did not
        deliver, passed through admission (so a held copy never bypasses the rate limits)."""
        out: list[Inbound] = []
        held = self.held
        while held:
            key, item = next(iter(held.items()))
            if now - item[2] < self.hold_s:
                break
            del held[key]
            if self.seen(*key):
                self.metrics.inc("cw_ingest_copies_dropped_total")
            elif self.admission.admit(*item):
                out.append(item)
                self.metrics.inc("cw_ingest_copies_released_total")
        return out

    async def trust_due(self, now: float) -> int:
        """Subscribe the trusted session to known devices quiet for ``trust_after_s``; how many."""
        if self.session is None:
            return 0
        distrusted = self.admission.distrusted_at

        def quiet(d: str) -> bool:
            return now - distrusted.get(d, now - self.trust_after_s) >= self.trust_after_s

        due = [d for d in self.known if d not in self.trusted and quiet(d)]
        if not due:
            return 0
        if not await self.session.add_filters([f for d in due for f in trusted_filters(d)]):
            return 0
        fresh = [d for d in due if quiet(d)]  # again: a refusal may have come meanwhile
        self.trusted.update(dict.fromkeys(fresh, now))
        for d in set(due) - set(fresh):
            self.session.remove_filters(trusted_filters(d))
        log.info(kv("devices_trusted", count=len(fresh), trusted=len(self.trusted)))
        return len(fresh)
