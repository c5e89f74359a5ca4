"""``chargewatch demo``: the whole chain on one machine with nothing installed but Python.

Simulated piles and a blocker served over real Modbus TCP → one edge agent → an in-process
MQTT broker (amqtt, standing in for Mosquitto) → the gateway with the embedded SQLite store,
the analytics pipeline and the HTTP dashboard. The same code runs in production; only the
endpoints differ. A connector overheating fault and a garbage sensor are injected so that
alerts show up within minutes.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import json
import logging
import signal
import sys
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import msgspec
import yaml

from chargewatch import logs
from chargewatch.errors import ChargeWatchError
from chargewatch.logs import kv
from chargewatch.signing import write_keypair
from demo.broker import EmbeddedBroker

log = logging.getLogger(__name__)


class SimTime(Protocol):
    """The simulator's clock as the demo reads it."""

    @property
    def time(self) -> float: ...


SITE = Path(__file__).resolve().parents[1] / "configs" / "sites" / "demo.yaml"


def demo_keys(workdir: Path) -> tuple[Path, Path]:
    """A throwaway command-signing key pair under ``workdir/keys`` (made once, then reused)."""
    keys = workdir / "keys"
    private, public = keys / "demo-gateway.key", keys / "demo-gateway.pub"
    if not private.exists():
        write_keypair(keys, "demo-gateway")
    return private, public


def agent_config(endpoints: list[dict[str, Any]], broker_url: str, workdir: Path) -> dict[str, Any]:
    """An edge-agent config (as the YAML file would hold it) for the simulator's endpoints; it
    executes ``relay_on`` commands signed with the demo gateway's throwaway key."""
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
    return {
        "agent_id": "demo-agent",
        "buses": buses,
        "commands": {
            "allow": ["relay_on"],
            "trusted_keys": [
                {
                    "id": "demo-gateway",
                    "public_key_file": str(demo_keys(workdir)[1]),
                    "points": ["relay_on"],
                    "devices": ["*"],
                }
            ],
        },
        "outbox": {"path": str(workdir / "agent-outbox.sqlite3"), "reconnect_drain_delay_max": 1.0},
        "mqtt": {"url": broker_url, "client_id": "demo-agent", "protocol": "3.1.1"},
    }


#: a residential time-of-day tariff (峰/平/谷) plus a service fee per kWh, as posted at a pile
DEMO_TARIFF: dict[str, Any] = {
    "id": "demo-tou",
    "version": 1,
    "currency": "CNY",
    "timezone": "Asia/Shanghai",
    "scheme": "energy",
    "periods": [
        {"name": "峰", "start": "08:00", "end": "11:00", "price_per_kwh": 0.62},
        {"name": "平", "start": "11:00", "end": "18:00", "price_per_kwh": 0.56},
        {"name": "峰", "start": "18:00", "end": "22:00", "price_per_kwh": 0.62},
        {"name": "谷", "start": "22:00", "end": "08:00", "price_per_kwh": 0.32},
    ],
    "service_per_kwh": 0.30,
}


def gateway_config(broker_url: str, workdir: Path, http_port: int, notify_url: str = "") -> dict[str, Any]:
    """A gateway config with the embedded SQLite store (and a notification webhook, when given)."""
    return {
        "site": "demo",
        "mqtt": {"url": broker_url, "client_id": "demo-gateway"},
        "store": {"kind": "sqlite", "path": str(workdir / "store.sqlite3")},
        "spool": {
            "path": str(workdir / "spool.sqlite3"),
            "state_path": str(workdir / "state.sqlite3"),
            "analytics_path": str(workdir / "analytics.ckpt"),
        },
        "http": {"bind": "127.0.0.1", "port": http_port},
        "liveness": {"device_keepalive_s": 60},
        "limits": {"max_future_skew_s": 7 * 86400},
        # a command's validity runs on the simulated clock: 300 s is 10 real seconds at --speed 30
        "commands": {"signing_key_file": str(demo_keys(workdir)[0]), "key_id": "demo-gateway", "ttl_s": 300},
        "tariff": DEMO_TARIFF,
        "notify": {"group_s": 5, "webhook": {"url": notify_url}} if notify_url else {},
    }


class SimulatedTimeClock:
    """Wall time read from the simulator (so agent and gateway stamp and judge samples in
    simulated seconds at any ``--speed``); monotonic time stays real for pacing and deadlines."""

    def __init__(self, sim: SimTime) -> None:
        self._sim = sim

    def time(self) -> float:
        return self._sim.time

    def monotonic(self) -> float:
        return time.monotonic()


def _write(path: Path, data: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


@dataclasses.dataclass
class DemoChain:
    """The running demo: the gateway (``gw.http_port`` serves the control room), the simulator
    and the notification printer."""

    gw: Any
    sim: Any
    sink: Any
    agent: contextlib.AsyncExitStack

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.gw.http_port}/"

    async def stop_agent(self) -> None:
        """Stop the agent and write what the gateway accepted (so a summary is final)."""
        await self.agent.aclose()
        await self.gw.spool.flush()


@contextlib.asynccontextmanager
async def demo_chain(workdir: Path, http_port: int, speed: float) -> AsyncIterator[DemoChain]:
    """Simulator, embedded broker, gateway and agent running until the block exits."""
    from demo.notify_sink import NotificationPrinter  # noqa: PLC0415
    from edge_agent.agent import Agent  # noqa: PLC0415 - the demo loads every component lazily
    from edge_agent.config import load_config as load_agent_config  # noqa: PLC0415
    from firmware_sim.faults import Fault  # noqa: PLC0415
    from firmware_sim.runner import SiteRunner  # noqa: PLC0415
    from firmware_sim.site import load_site  # noqa: PLC0415
    from gateway.app import Gateway  # noqa: PLC0415
    from gateway.config import load_config as load_gateway_config  # noqa: PLC0415

    # The simulation starts now (13:00 of the file becomes "now") so stored points carry recent
    # timestamps; at --speed N simulated time then runs ahead of the wall clock, which the
    # demo gateway's future-skew limit allows for.
    loaded = load_site(SITE)
    site = dataclasses.replace(
        loaded, spec=msgspec.structs.replace(loaded.spec, start_time=datetime.now(UTC))
    )
    t0 = site.start_time
    faults = [
        ("pile-a1", Fault(kind="connector_overheat", at=t0 + 20, port=2, params={"doubling_s": 60.0})),
        ("pile-a2", Fault(kind="sensor_garbage", at=t0 + 30, port=5)),
    ]
    async with (
        EmbeddedBroker() as broker,
        SiteRunner(site, speed=speed, faults=faults) as sim,
        NotificationPrinter() as sink,
    ):
        endpoints = [ep.to_json() for ep in sim.endpoints]
        gw_cfg = load_gateway_config(
            _write(workdir / "gateway.yaml", gateway_config(broker.url, workdir, http_port, sink.url))
        )
        agent_cfg = load_agent_config(
            _write(workdir / "agent.yaml", agent_config(endpoints, broker.url, workdir))
        )
        clock = SimulatedTimeClock(sim)
        async with Gateway(gw_cfg, clock=clock) as gw, contextlib.AsyncExitStack() as agent:
            await agent.enter_async_context(Agent(agent_cfg, clock=clock))
            yield DemoChain(gw, sim, sink, agent)


async def run_demo(workdir: Path, seconds: float | None, http_port: int, speed: float) -> dict[str, Any]:
    """Run the whole chain until ``seconds`` pass or SIGINT/SIGTERM; return a summary."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        async with demo_chain(workdir, http_port, speed) as chain:
            gw = chain.gw
            print(f"ChargeWatch demo: control room (监控大屏) at {chain.url} (Ctrl-C to stop)")
            print(f"ChargeWatch demo: configs and data in {workdir}", flush=True)
            base = chain.url.rstrip("/")
            print(f"ChargeWatch demo: sessions with fees at {base}/api/sessions(.csv)", flush=True)
            try:
                async with asyncio.timeout(seconds):
                    await stop.wait()
            except TimeoutError:
                log.info(kv("demo_time_up", seconds=seconds))
            await chain.stop_agent()
            sessions = await gw.charging_sessions(None, 0, int(gw.clock.time() * 1000) + 1, 10_000)
            try:
                report = str(await daily_report(workdir, gw.clock.time()))
            except ChargeWatchError as exc:  # charts need the optional extra and a CJK font
                report = f"not written: {exc}"
            print(f"ChargeWatch demo: daily report (监管日报): {report}", flush=True)
            print(
                "ChargeWatch demo: alerts' black-box evidence: open an alert in the control room, or "
                f"chargewatch evidence --config {workdir / 'gateway.yaml'} --list",
                flush=True,
            )
            return {
                "report": report,
                "notifications": chain.sink.received,
                "health": gw.health(),
                "devices": [d["device"] for d in gw.devices()],
                "alerts": sorted({f"{a['device']}/{a['port']}/{a['kind']}" for a in gw.alerts(False)}),
                "sessions": len(sessions),
                "session_end_reasons": sorted({s["end_reason"] for s in sessions}),
                "fees_total_cny": round(sum(s["fee"]["total"] for s in sessions), 2),
            }
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)


async def daily_report(workdir: Path, now: float) -> Path:
    """Write the supervision report of the day of ``now`` for the gateway configured in
    ``workdir`` (``gateway.yaml``) into ``workdir/report``; its ``index.html``."""
    from zoneinfo import ZoneInfo  # noqa: PLC0415

    from gateway.config import load_config  # noqa: PLC0415
    from gateway.report.cli import build  # noqa: PLC0415

    config = workdir / "gateway.yaml"
    cfg = load_config(config)
    day = datetime.fromtimestamp(now, ZoneInfo(cfg.tariff.timezone)).date()
    await build(config, cfg.site, day, workdir / "report")
    return workdir / "report" / "index.html"


def main(argv: list[str]) -> int:
    """Entry point of ``chargewatch demo``; prints a JSON summary as its last line."""
    parser = argparse.ArgumentParser(prog="chargewatch demo", description=__doc__)
    parser.add_argument("--seconds", type=float, default=None, help="stop after this long (default: Ctrl-C)")
    parser.add_argument("--http-port", type=int, default=8080, help="dashboard port (0: any free port)")
    parser.add_argument("--workdir", type=Path, default=Path("var/demo"), help="configs, outbox and store")
    parser.add_argument("--speed", type=float, default=10.0, help="simulated seconds per real second")
    parser.add_argument("--log-level", default="WARNING")
    args = parser.parse_args(argv)
    logs.setup(args.log_level)
    args.workdir.mkdir(parents=True, exist_ok=True)
    try:
        summary = asyncio.run(run_demo(args.workdir, args.seconds, args.http_port, args.speed))
    except ChargeWatchError as exc:
        print(f"chargewatch demo: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(summary))
    return 0
