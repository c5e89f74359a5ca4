"""The real agent process (``chargewatch agent --config``) killed with SIGKILL at random points, many times.

The simulator runs in the test's process and serves Modbus TCP; the agent process polls it and
publishes through a real Mosquitto to the acker. After every kill the outbox's series table
says, per device, the boot and last seq that were committed. Each restart must open the
outbox (next boot id), and in the end every committed (device, boot, seq) must have arrived,
with no seq reused within a boot (a reused seq would show up as a conflict: same key, other ts).
"""

from __future__ import annotations

import asyncio
import random
import signal
import sqlite3
import sys
from pathlib import Path

import msgspec
import pytest

from edge_agent.acker import Acker
from edge_agent.mqtt import MqttSettings
from firmware_sim import SiteRunner
from tests.agent.sim.support import agent_buses, agent_config, make_site, outbox_settings, until
from tests.support.servers import Mosquitto

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[3]
KILLS = 8
DEVICES = [("p1", "cw-pile-10"), ("p2", "vx-pile-12"), ("k1", "cw-blocker")]


def _committed(db: Path) -> dict[tuple[str, int], int]:
    """(device, boot) → last committed seq, from the outbox of a dead agent."""
    con = sqlite3.connect(db)
    try:
        return {(d, int(b)): int(s) for d, b, s in con.execute("SELECT device, boot, seq FROM series")}
    finally:
        con.close()


def _boot_started(log: Path) -> int | None:
    for line in log.read_text(errors="replace").splitlines():
        if " agent_started " in line:
            return int(line.split(" boot=")[1].split()[0])
    return None


async def _start(config: Path, log: Path) -> tuple[asyncio.subprocess.Process, int]:
    """Start the agent process; return it and its boot id once it logged ``agent_started``."""
    with log.open("wb") as err:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "chargewatch_cli", "agent", "--config", str(config), "--log-level", "INFO",
            cwd=ROOT, stdout=asyncio.subprocess.DEVNULL, stderr=err,
        )  # fmt: skip
    try:
        await until(lambda: _boot_started(log) is not None, within=20.0)
    except BaseException:
        proc.kill()
        await proc.wait()
        raise
    boot = _boot_started(log)
    assert boot is not None
    return proc, boot


async def _end(proc: asyncio.subprocess.Process, sig: signal.Signals) -> int:
    proc.send_signal(sig)
    async with asyncio.timeout(15):
        return await proc.wait()


async def test_agent_process_sigkill_many_times(mosquitto: Mosquitto, tmp_path: Path) -> None:
    rng = random.Random(5)
    site = make_site(tmp_path, "tcp", DEVICES, shared=False)
    committed: dict[tuple[str, int], int] = {}
    boots: list[int] = []
    async with SiteRunner(site, speed=10.0) as runner, Acker(mosquitto.url, client_id="acker-kills") as acker:
        cfg = agent_config(
            agent_buses(runner, poll_s=0.05, timeout_s=0.02, retries=1),
            outbox_settings(tmp_path, synchronous="full"),
            mqtt=MqttSettings(
                url=mosquitto.url, client_id="agent-sim", backoff_initial_s=0.05, backoff_cap_s=0.5
            ),
        )
        config = tmp_path / "agent.yaml"
        config.write_bytes(msgspec.yaml.encode(cfg))
        db = Path(cfg.outbox.path)
        async with asyncio.timeout(10):
            await acker.wait_ready()
        for i in range(KILLS):
            proc, boot = await _start(config, tmp_path / f"agent-{i}.log")
            boots.append(boot)
            await asyncio.sleep(rng.uniform(0.05, 1.2))
            assert await _end(proc, signal.SIGKILL) == -signal.SIGKILL
            committed.update(_committed(db))
        keys = {(d, b, s) for (d, b), last in committed.items() for s in range(last + 1)}
        log = tmp_path / "agent-final.log"
        proc, boot = await _start(config, log)
        boots.append(boot)
        try:
            await until(lambda: keys <= set(acker.seen), within=30.0)
        finally:
            code = await _end(proc, signal.SIGTERM)
        assert code == 0, log.read_text()[-2000:]
    assert boots == list(range(boots[0], boots[0] + KILLS + 1)), "every restart opened the outbox"
    assert acker.conflicts == 0, "a seq was reused within a boot"
    total = 0
    for (device, boot), last in committed.items():
        got = acker.seqs(device, boot)
        assert got[: last + 1] == list(range(last + 1)), f"{device} boot {boot}: committed seq missing"
        total += last + 1
    assert len({b for _, b in committed}) >= KILLS // 2, "most boots committed something before the kill"
    print(
        f"\nagent kills: {KILLS}, {total} committed messages delivered, {acker.duplicates} duplicates deduped"
    )
