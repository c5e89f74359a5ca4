"""The alert stream of a site through outages (issue 9), through the real processes.

The simulator (in this process, Modbus TCP) → the edge agent (a child process) → a TCP relay
→ Mosquitto → the gateway (a child process, analytics pipeline) → InfluxDB 1.x. A connector on
pile ``p1`` overheats from the start; once its ``socket_overtemp`` alert fires, the faults run
one after the other with a settle time between: broker kill -9 for 5 s and for 120 s, an
agent↔broker partition of 120 s (the relay stops), gateway kill -9, the store hung (SIGSTOP)
for 120 s, agent kill -9, agent clean stop. Every duration and time-out is multiplied by
``scale`` (bounded below so that the relationships hold: the agent's will comes before a
device would count as silent, the agent's drain delay exceeds the gateway's gap time-out).

What is judged is the gateway's published alert history (``alert_change`` in its state file,
what it published state for state), its ``data_gap`` events in the store and its ``/health``:
per fault ``double_pages`` (an analytics alert re-opened under a new id), ``early_resolves``
(the overheating alert resolved while the connector still overheats), ``false_offline_pages``
(a device paged offline, or an agent paged where no agent died or lost its link),
``agent_pages`` (the one page expected for a killed or partitioned agent) with its latency,
``phantom_gaps`` and the ``/health`` flip latency against its bound.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import yaml

from demo._outage_report import (
    AGENT_KEEPALIVE_S,
    FAULTS,
    HOT,
    OVERHEAT_KEY,
    SIM_SPEED,
    SPOOL_INTERVAL_S,
    FaultReport,
    Outcome,
    Timing,
    judge,
    published_points,
    summary,
)
from demo._procs import Child, OutageError, Relay, http_status

__all__ = ["AGENT_KEEPALIVE_S", "FAULTS", "OVERHEAT_KEY", "OutageRun", "published_points", "summary"]

ROOT = Path(__file__).resolve().parents[1]


class Server(Protocol):
    """A server the run may crash and restart (Mosquitto) or hang (InfluxDB)."""

    def start(self) -> None: ...

    def kill(self) -> None: ...


class Hangable(Protocol):
    def pause(self) -> None: ...

    def resume(self) -> None: ...


class OutageRun:
    """One run of the sequence; ``await run()`` returns the :class:`Outcome`."""

    def __init__(
        self,
        workdir: Path,
        *,
        broker: Server,
        broker_port: int,
        store: Hangable,
        store_url: str,
        http_port: int,
        scale: float = 0.1,
        faults: Sequence[str] = FAULTS,
    ) -> None:
        unknown = set(faults) - set(FAULTS)
        if unknown:
            raise OutageError(f"unknown faults {sorted(unknown)}; choose from {', '.join(FAULTS)}")
        self.workdir = workdir
        self.broker = broker
        self.broker_port = broker_port
        self.store = store
        self.store_url = store_url
        self.http_port = http_port
        self.t = Timing(scale)
        self.faults = list(faults)
        self.relay = Relay(broker_port)
        self.health: list[tuple[float, int]] = []
        self._agent_starts = 0
        self.gateway = Child(
            [sys.executable, "-m", "chargewatch_cli", "gateway", "--config", str(workdir / "gateway.yaml")],
            workdir / "gateway.log",
            ready=lambda: http_status(f"http://127.0.0.1:{http_port}/metrics") == 200,
            cwd=ROOT,
        )
        self.agent = Child(
            [sys.executable, "-m", "chargewatch_cli", "agent", "--config", str(workdir / "agent.yaml")],
            workdir / "agent.log",
            ready=self._agent_started,
            cwd=ROOT,
        )

    # -- set-up ------------------------------------------------------------------------------
    def _agent_started(self) -> bool:
        log = self.agent.log
        return log.exists() and log.read_text(errors="replace").count(" agent_started ") > self._agent_starts

    def _configs(self, endpoints: list[dict[str, Any]]) -> None:
        t = self.t
        gateway = {
            "site": "outage",
            "checkpoint_every_s": 2,
            "mqtt": {
                "url": f"mqtt://127.0.0.1:{self.broker_port}",
                "client_id": "outage-gateway",
                "keepalive_s": 5,
            },
            "store": {"kind": "influx_v1", "url": self.store_url, "db": "outage"},
            "spool": {
                "path": str(self.workdir / "spool.sqlite"),
                "state_path": str(self.workdir / "state.sqlite"),
                "analytics_path": str(self.workdir / "analytics.ckpt"),
                "degraded_after_s": t.degraded_after_s,
            },
            "http": {"bind": "127.0.0.1", "port": self.http_port},
            # the agent stamps the devices' clocks, which the simulator runs SIM_SPEED times
            # faster than the wall: source ts get ahead of the gateway by (SIM_SPEED - 1) s a
            # second, past the default 300 s within a minute (then all telemetry is future_ts)
            "limits": {"gap_timeout_s": t.gap_timeout_s, "max_future_skew_s": 86400.0},
            "liveness": {
                "device_keepalive_s": t.device_keepalive_s,
                "tick_s": 0.25,
                "drain_max_s": t.drain_delay_s + t.s(90, 10),
            },
            "pipeline": {
                "alerts": {"socket_overtemp": {"for_s": t.s(30, 2), "clear_s": t.s(60, 5)}},
                # the meter cross-check is not what this run measures (the simulated meters carry
                # a gain error of their own)
                "rules": {"meter_excess_wh": 1e6},
            },
        }
        buses = [
            {
                "name": f"tcp-{ep['device']}",
                "transport": "tcp",
                "host": ep["host"],
                "port": ep["port"],
                "timeout_s": 0.3,
                "devices": [{"id": ep["device"], "unit": ep["unit"], "model": ep["model"], "poll_s": 1.0}],
            }
            for ep in endpoints
        ]
        agent = {
            "agent_id": "outage-agent",
            "buses": buses,
            # the port must stay hot through the faults: the agent's interlock would cut it at 90 °C
            "interlocks": {"critical_socket_temp_c": 150.0},
            "outbox": {
                "path": str(self.workdir / "outbox.sqlite"),
                "reconnect_drain_delay_max": t.drain_delay_s,
                "resend_timeout": t.s(30, 3),
            },
            "mqtt": {
                "url": f"mqtt://127.0.0.1:{self.relay.port}",
                "client_id": "outage-agent",
                "keepalive_s": AGENT_KEEPALIVE_S,
                "backoff_initial_s": 0.2,
                "backoff_cap_s": 1.0,
                "status_interval_s": t.status_interval_s,
                "connect_timeout_s": 2.0,
            },
        }
        for name, data in (("gateway.yaml", gateway), ("agent.yaml", agent)):
            (self.workdir / name).write_text(yaml.safe_dump(data, sort_keys=False))

    # -- the run -------------------------------------------------------------------------------
    async def run(self) -> Outcome:
        from firmware_sim.faults import Fault  # noqa: PLC0415 - the demo loads components lazily
        from firmware_sim.runner import SiteRunner  # noqa: PLC0415
        from firmware_sim.site import DeviceSpec, SiteSpec, validate_site  # noqa: PLC0415

        devices = [("p1", "cw-pile-10"), ("p2", "vx-pile-12"), ("k1", "cw-blocker")]
        spec = SiteSpec(
            site="outage",
            start_time=datetime.now(UTC),
            seed=3,
            ambient="summer",
            devices=[
                DeviceSpec(
                    id=d, model=m, host="127.0.0.1", port=0, params={"temp_cut_c": 0.0} if d == HOT[0] else {}
                )
                for d, m in devices
            ],
        )
        site = validate_site(spec, self.workdir / "site.yaml")
        overheat = Fault(
            kind="connector_overheat",
            at=site.start_time + 2,
            port=HOT[1],
            params={"doubling_s": 10.0, "max_ohm": 2.0},
        )
        reports: list[FaultReport] = []
        async with SiteRunner(site, speed=SIM_SPEED, faults=[(HOT[0], overheat)]) as sim:
            self._configs([ep.to_json() for ep in sim.endpoints])
            await self.relay.start()
            poller = asyncio.create_task(self._poll_health(), name="outage-health")
            try:
                await asyncio.to_thread(self.gateway.start)
                await self._start_agent()
                await self._until(
                    lambda: any(
                        c["state"] == "firing" and c["id"].startswith(OVERHEAT_KEY) for c in self.history()
                    ),
                    180,
                    "the overheating alert",
                )
                for fault in self.faults:
                    reports.append(await self._inject(fault))
                await self._until(self._spool_empty, 120, "the spool to empty")
                cleared = await self._health_cleared()
            finally:
                poller.cancel()
                await asyncio.gather(poller, return_exceptions=True)
                await asyncio.to_thread(self.agent.stop)
                await asyncio.to_thread(self.gateway.stop)
                await self.relay.stop()
        history = self.history()
        judge(reports, history, self._gap_times(), self.health)
        return Outcome(
            faults=reports,
            history=history,
            stored_alerts=self.stored_alerts(),
            health_cleared=cleared,
            overheat_ids=sorted({c["id"] for c in history if c["id"].startswith(OVERHEAT_KEY)}),
        )

    async def _start_agent(self) -> None:
        await asyncio.to_thread(self.agent.start)
        self._agent_starts += 1

    async def _until(self, cond: Any, within: float, what: str) -> None:
        deadline = time.monotonic() + within
        while not await asyncio.to_thread(cond):
            if time.monotonic() > deadline:
                raise OutageError(f"{what} did not happen within {within} s; logs in {self.workdir}")
            await asyncio.sleep(0.25)

    async def _inject(self, fault: str) -> FaultReport:
        t = self.t
        dur = t.duration(fault)
        report = FaultReport(fault, time.time(), 0.0)
        if fault.startswith("broker_kill"):
            await asyncio.to_thread(self.broker.kill)
            report.health_bound_s = t.degraded_after_s
            await asyncio.sleep(dur)
            await asyncio.to_thread(self.broker.start)
        elif fault == "partition_120s":
            await self.relay.stop()
            await asyncio.sleep(dur)
            await self.relay.start()
        elif fault == "gateway_kill":
            await asyncio.to_thread(self.gateway.kill)
            await asyncio.sleep(dur)
            await asyncio.to_thread(self.gateway.start)
        elif fault == "store_hung_120s":
            await asyncio.to_thread(self.store.pause)
            # counted from the first write that does not return, which starts within one spool
            # write interval (1 s) of the hang
            report.health_bound_s = t.degraded_after_s + SPOOL_INTERVAL_S
            await asyncio.sleep(dur)
            await asyncio.to_thread(self.store.resume)
        elif fault == "agent_kill":
            await asyncio.to_thread(self.agent.kill)
            await asyncio.sleep(dur)
            await self._start_agent()
        else:
            await asyncio.to_thread(self.agent.stop)
            await asyncio.sleep(dur)
            await self._start_agent()
        await asyncio.sleep(t.settle_s)
        report.end = time.time()
        return report

    async def _poll_health(self) -> None:
        url = f"http://127.0.0.1:{self.http_port}/health"
        while True:
            code = await asyncio.to_thread(http_status, url)
            self.health.append((time.time(), code))
            await asyncio.sleep(0.2)

    async def _health_cleared(self) -> bool:
        body = await asyncio.to_thread(self._health_body)
        return body.get("status") == "ok" and body.get("store_error") == "" and not body.get("reasons")

    def _health_body(self) -> dict[str, Any]:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.http_port}/health", timeout=5) as resp:
            data: dict[str, Any] = json.loads(resp.read())
        return data

    def _spool_empty(self) -> bool:
        try:
            return self._health_body().get("spool_depth") == 0
        except OSError:
            return False

    # -- what happened ---------------------------------------------------------------------------
    def history(self) -> list[dict[str, Any]]:
        """Every alert change the gateway published, in order (its state file's ``alert_change``)."""
        path = self.workdir / "state.sqlite"
        if not path.exists():
            return []
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            rows = db.execute(
                "SELECT id, device, port, kind, severity, state, ts FROM alert_change ORDER BY n"
            ).fetchall()
        except sqlite3.OperationalError:
            return []
        finally:
            db.close()
        keys = ("id", "device", "port", "kind", "severity", "state", "ts")
        return [dict(zip(keys, r, strict=True)) for r in rows]

    def _influxql(self, query: str) -> list[list[Any]]:
        q = urllib.parse.urlencode({"db": "outage", "q": query, "epoch": "ms"})
        with urllib.request.urlopen(f"{self.store_url}/query?{q}", timeout=10) as resp:  # noqa: S310
            data = json.loads(resp.read())
        series = data["results"][0].get("series", [])
        return [v for s in series for v in s["values"]]

    def stored_alerts(self) -> list[tuple[int, str, str]]:
        """(ts ms, id, state) of every stored ``alert`` point."""
        return sorted(
            (int(v[0]), str(v[1]), str(v[2])) for v in self._influxql("SELECT id, state FROM alert")
        )

    def _gap_times(self) -> list[float]:
        return [v[0] / 1000 for v in self._influxql("SELECT size FROM event WHERE kind='data_gap'")]
