"""What the outage run measures (:mod:`demo.outage`): the faults, their scaled timing, and the
figures judged from the gateway's published alert history, its ``data_gap`` events and its
``/health`` samples."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

FAULTS: tuple[str, ...] = (
    "broker_kill_5s",
    "broker_kill_120s",
    "partition_120s",
    "gateway_kill",
    "store_hung_120s",
    "agent_kill",
    "agent_stop",
)
HOT = ("p1", 1)
OVERHEAT_KEY = f"{HOT[0]}.{HOT[1]}.socket_overtemp"
LIVENESS_KINDS = frozenset({"device_offline", "agent_offline", "store_config"})
AGENT_DOWN = frozenset({"partition_120s", "agent_kill"})  # faults where one agent page is right
AGENT_KEEPALIVE_S = 5
#: simulated seconds per second: the faulty connector passes 85 °C after ~40 s and settles near
#: 125 °C (inside the sensor's plausible range, rising slower than its jump limit)
SIM_SPEED = 8.0
SPOOL_INTERVAL_S = 1.0


@dataclass(frozen=True)
class Timing:
    """Durations and time-outs at ``scale`` of the real ones, never below what keeps them meaningful."""

    scale: float

    def s(self, full: float, least: float) -> float:
        return max(full * self.scale, least)

    @property
    def device_keepalive_s(self) -> float:  # silent 1.5 × this → offline; > the will's 1.5 × 5 s
        return self.s(60, 10)

    @property
    def gap_timeout_s(self) -> float:
        return self.s(30, 2)

    @property
    def drain_delay_s(self) -> float:  # the agent's reconnect_drain_delay_max, > gap_timeout_s
        return self.s(120, 4)

    @property
    def status_interval_s(self) -> float:
        return self.s(30, 1)

    @property
    def degraded_after_s(self) -> float:
        return self.s(45, 3)

    @property
    def settle_s(self) -> float:
        return self.drain_delay_s + self.status_interval_s + self.gap_timeout_s + 2

    def duration(self, fault: str) -> float:
        return {
            "broker_kill_5s": self.s(5, 0.5),
            "broker_kill_120s": self.s(120, 10),
            "partition_120s": self.s(120, 10),
            "gateway_kill": self.s(5, 1),
            "store_hung_120s": self.s(120, 8),
            "agent_kill": AGENT_KEEPALIVE_S * 1.5 + 5 + self.s(10, 2),
            "agent_stop": self.s(10, 3),
        }[fault]


@dataclass
class FaultReport:
    fault: str
    start: float
    end: float
    double_pages: int = 0
    early_resolves: int = 0
    false_offline_pages: int = 0
    agent_pages: int = 0
    agent_page_latency_s: float | None = None
    phantom_gaps: int = 0
    health_flip_s: float | None = None
    health_bound_s: float | None = None

    def figures(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        del out["start"], out["end"]
        return out


@dataclass
class Outcome:
    faults: list[FaultReport]
    history: list[dict[str, Any]]
    stored_alerts: list[tuple[int, str, str]]
    health_cleared: bool
    overheat_ids: list[str] = field(default_factory=list)


def judge(
    reports: list[FaultReport],
    history: list[dict[str, Any]],
    gaps: list[float],
    health: list[tuple[float, int]],
) -> None:
    """Fill each fault's figures from what happened between its start and the next fault's."""
    for r in reports:
        inside = [c for c in history if r.start <= c["ts"] < r.end]
        fired = [c for c in inside if c["state"] == "firing"]
        r.double_pages = sum(
            1 for c in fired if c["kind"] not in LIVENESS_KINDS and not c["id"].endswith(".1")
        )
        r.early_resolves = sum(
            1 for c in inside if c["state"] == "resolved" and c["id"].startswith(OVERHEAT_KEY)
        )
        agent_pages = [c for c in fired if c["kind"] == "agent_offline"]
        device_pages = [c for c in fired if c["kind"] == "device_offline"]
        r.agent_pages = len(agent_pages)
        if agent_pages:
            r.agent_page_latency_s = round(agent_pages[0]["ts"] - r.start, 2)
        right = 1 if r.fault in AGENT_DOWN else 0
        r.false_offline_pages = len(device_pages) + max(0, len(agent_pages) - right)
        r.phantom_gaps = sum(1 for g in gaps if r.start <= g < r.end)
        if r.health_bound_s is not None:
            flips = [ts for ts, code in health if ts >= r.start and code == 503]
            r.health_flip_s = round(flips[0] - r.start, 2) if flips else None


def summary(outcome: Outcome) -> dict[str, Any]:
    """The figures the bench prints: per fault, and the totals (all targets 0)."""
    totals = {
        k: sum(getattr(r, k) for r in outcome.faults)
        for k in ("double_pages", "early_resolves", "false_offline_pages", "phantom_gaps")
    }
    return {
        "faults": {r.fault: r.figures() for r in outcome.faults},
        "totals": totals,
        "overheat_ids": outcome.overheat_ids,
        "published_changes": len(outcome.history),
        "stored_equals_published": published_points(outcome.history) == outcome.stored_alerts,
        "health_cleared": outcome.health_cleared,
    }


def published_points(history: list[dict[str, Any]]) -> list[tuple[int, str, str]]:
    """(ts ms, id, state) of the published changes, as the store keys their points."""
    from gateway.lineproto import ts_ms  # noqa: PLC0415 - the demo loads components lazily

    return sorted({(ts_ms(c["ts"]), c["id"], c["state"]) for c in history})
