"""Admission control before anything is decoded: rate limits, a new-device budget, bounded state.

:meth:`Admission.admit` runs in the MQTT session's ``on_message`` for every received message,
on the topic alone (no JSON decode), so a flood costs one dict lookup per message and never
reaches the inbox, the pipeline or the broker's queue for the gateway:

* **new-device budget** — a device id not yet known (known = one of its messages was accepted,
  or it has seq marks in the state db) must get a slot: at most ``new_devices_per_min`` new ids
  a minute and ``max_devices`` ids in all (known + on trial). Without a slot the message is
  dead-lettered as ``unknown_device_budget``. A slot is held for :data:`TRIAL_S` seconds; the
  first accepted message makes the device known for good.
* **steadiness** — a device faster than ``steady_msgs_per_s`` (after ``steady_burst``) is not
  refused for it, only marked distrusted (``distrusted_at``): routing.py then reads it on the
  discovery session, not the trusted one.
* **rate limits** — a token bucket per device (``device_msgs_per_s``, ``device_burst``) and per
  agent (``agent_msgs_per_s``, ``agent_burst``: its status topic and every device its last
  status listed). Over the limit the message is dead-lettered as ``rate_limited``.
* **bounded dead letters** — every rejection is counted in ``cw_ingest_rejected_total{reason}``;
  only the first ``dead_letter_sample_per_min`` of one (reason, source) per minute are kept as
  dead-letter rows, the rest counted in ``cw_ingest_dead_letters_sampled_out_total{reason}``.
  Budget rejections are one source (the ids are unbounded by nature).

Every per-id map here is bounded by ``max_devices`` (buckets are LRU; trial slots expire).
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Callable

from chargewatch import topics
from chargewatch.logs import kv
from gateway.config import LimitsConfig
from gateway.liveness import KnownDevices
from gateway.metrics import Metrics

log = logging.getLogger(__name__)

DeadItem = tuple[float, str, str, str, bytes]
TRIAL_S = 60.0
_DEV = f"{topics.PREFIX}/dev/"
_AGENT = f"{topics.PREFIX}/agent/"


class TokenBucket:
    """``rate`` tokens a second up to ``burst``; :meth:`take` spends one when there is one."""

    __slots__ = ("burst", "last", "rate", "tokens")

    def __init__(self, rate: float, burst: float, now: float) -> None:
        self.rate = rate
        self.burst = burst
        self.tokens = burst
        self.last = now

    def take(self, now: float) -> bool:
        elapsed = now - self.last
        if elapsed > 0:
            self.tokens = min(self.burst, self.tokens + elapsed * self.rate)
            self.last = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False


class Buckets:
    """Token buckets by key, least recently used dropped beyond ``max_keys``."""

    def __init__(self, rate: float, burst: float, max_keys: int) -> None:
        self.rate = rate
        self.burst = burst
        self.max_keys = max_keys
        self._b: OrderedDict[str, TokenBucket] = OrderedDict()

    def take(self, key: str, now: float) -> bool:
        b = self._b.get(key)
        if b is None:
            b = self._b[key] = TokenBucket(self.rate, self.burst, now)
            if len(self._b) > self.max_keys:
                self._b.popitem(last=False)
        else:
            self._b.move_to_end(key)
        return b.take(now)

    def __len__(self) -> int:
        return len(self._b)


class DeadLetterSampler:
    """Keeps the first ``per_min`` dead letters of each (reason, source) a minute; counts the rest."""

    def __init__(self, per_min: int, metrics: Metrics, max_keys: int) -> None:
        self.per_min = per_min
        self.metrics = metrics
        self.max_keys = max_keys
        self._window = -1
        self._kept: dict[tuple[str, str], int] = {}
        self._items: list[DeadItem] = []

    def add(self, source: str, item: DeadItem) -> None:
        reason = item[2]
        self.metrics.inc("cw_ingest_rejected_total", reason=reason)
        window = int(item[0] // 60)
        if window != self._window:
            self._window = window
            self._kept.clear()
        key = (reason, source)
        kept = self._kept.get(key, 0)
        if kept >= self.per_min or (kept == 0 and len(self._kept) >= self.max_keys):
            self.metrics.inc("cw_ingest_dead_letters_sampled_out_total", reason=reason)
            return
        self._kept[key] = kept + 1
        self._items.append(item)

    def take(self) -> list[DeadItem]:
        """The dead letters kept since the last call."""
        items, self._items = self._items, []
        return items


class Admission:
    """The gateway's admission check; see the module doc."""

    def __init__(
        self,
        cfg: LimitsConfig,
        metrics: Metrics,
        known: KnownDevices,
        agent_of: Callable[[str], str] = lambda _device: "",
    ) -> None:
        self.cfg = cfg
        self.metrics = metrics
        self.known = known
        self.agent_of = agent_of
        n = cfg.max_devices
        self.devices = Buckets(cfg.device_msgs_per_s, cfg.device_burst, n)
        self.agents = Buckets(cfg.agent_msgs_per_s, cfg.agent_burst, n)
        self.steady = Buckets(cfg.steady_msgs_per_s, cfg.steady_burst, n)
        self._new: TokenBucket | None = None
        self.trial: OrderedDict[str, float] = OrderedDict()
        self.dead = DeadLetterSampler(cfg.dead_letter_sample_per_min, metrics, 2 * n + 1)
        #: when each known device last gave reason for distrust: refused, or accepted the first time
        self.distrusted_at: dict[str, float] = {}
        self._now = 0.0
        self._budget_full_logged = False
        known.on_add = self._became_known

    def _became_known(self, device: str) -> None:
        self.trial.pop(device, None)
        self.distrusted_at[device] = self._now

    def admit(self, topic: str, payload: bytes, received: float) -> bool:
        """Whether to pass the message on; a refused one is counted and maybe dead-lettered."""
        self._now = received
        if topic.startswith(_AGENT):
            agent = topic[len(_AGENT) :].partition("/")[0]
            return self._agent_ok(agent, topic, payload, received)
        if not topic.startswith(_DEV):
            return True
        device = topic[len(_DEV) :].partition("/")[0]
        if device not in self.known and not self._slot(device, received):
            item = (received, topic, "unknown_device_budget", f"no slot for new device {device}", payload)
            self.dead.add("*", item)
            return False
        if not self.devices.take(device, received):
            self._distrust(device, received)
            self.dead.add(device, (received, topic, "rate_limited", f"device {device}", payload))
            return False
        agent = self.agent_of(device)
        if agent and not self._agent_ok(agent, topic, payload, received):
            self._distrust(device, received)
            return False
        if not self.steady.take(device, received):
            self._distrust(device, received)  # accepted, but too busy to be trusted (routing.py)
        return True

    def _distrust(self, device: str, now: float) -> None:
        if device in self.known:  # bounded: known ids only (trial ids come and go)
            self.distrusted_at[device] = now

    def _agent_ok(self, agent: str, topic: str, payload: bytes, received: float) -> bool:
        if self.agents.take(agent, received):
            return True
        self.dead.add("agent:" + agent, (received, topic, "rate_limited", f"agent {agent}", payload))
        return False

    def _slot(self, device: str, now: float) -> bool:
        """A trial slot for a device never accepted: held, or newly granted within the budget."""
        trial = self.trial
        held = trial.get(device)
        if held is not None and now - held < TRIAL_S:
            return True
        while trial:
            first, since = next(iter(trial.items()))
            if now - since < TRIAL_S:
                break
            del trial[first]
        if self._new is None:
            per_min = float(self.cfg.new_devices_per_min)
            self._new = TokenBucket(per_min / 60.0, per_min, now)
        if len(self.known) + len(trial) >= self.cfg.max_devices or not self._new.take(now):
            if not self._budget_full_logged:
                self._budget_full_logged = True
                log.warning(
                    kv("new_device_budget_exhausted", device=device, known=len(self.known), trial=len(trial))
                )
            return False
        self._budget_full_logged = False
        trial.pop(device, None)
        trial[device] = now
        return True

    def take_dead(self) -> list[DeadItem]:
        """Dead letters of refused messages kept since the last call (for the state db)."""
        return self.dead.take()
