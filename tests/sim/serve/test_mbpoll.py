"""A third-party client (mbpoll, libmodbus) reads exactly the values the simulator holds,
over Modbus TCP and over RTU on a socat pty pair, and switches a port relay off."""

from __future__ import annotations

import asyncio
import re
import subprocess
from pathlib import Path
from typing import cast

import pytest

from firmware_sim.devices import Pile
from firmware_sim.runner import Endpoint, SiteRunner
from firmware_sim.site import load_site
from tests.sim.serve.expect import expected_words, point_value
from tests.sim.serve.fakes import write_site
from tests.support.servers import PtyPair, require

pytestmark = pytest.mark.integration

_LINE = re.compile(r"^\[(\d+)\]:\s+(-?[0-9.eE+-]+)", re.MULTILINE)


async def mbpoll(
    ep: Endpoint, *args: str, serial: Path | None = None, write: tuple[str, ...] = ()
) -> dict[int, float]:
    """Run mbpoll once (PDU addressing, -0) against ``ep``; {address: value}; ``write`` values to write."""
    exe = require("mbpoll", "mbpoll")
    if serial is not None:
        where = ["-m", "rtu", "-b", "115200", "-P", "none", str(serial)]
    else:
        where = ["-m", "tcp", "-p", str(ep.port), ep.host]
    proc = await asyncio.create_subprocess_exec(
        exe, "-a", str(ep.unit), "-0", "-1", "-o", "2", *args, *where, *write,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip
    async with asyncio.timeout(15):
        out, _ = await proc.communicate()
    text = out.decode()
    assert proc.returncode == 0, text
    return {int(a): float(v) for a, v in _LINE.findall(text)}


def _site(tmp_path: Path, serial: Path | None) -> Path:
    models = ("cw-pile-10", "vx-pile-12", "cw-blocker")
    where = f"transport: rtu, serial: {serial}" if serial else "transport: tcp, port: 0"
    devices = "".join(f"  - {{id: d{i}, model: {m}, {where}, unit: {i + 1}}}\n" for i, m in enumerate(models))
    return write_site(tmp_path / "site.yaml", devices)


async def _check_reads(runner: SiteRunner, serial: Path | None) -> None:
    cw, vx, blk = runner.endpoints
    m_cw, m_vx, m_blk = (runner.devices[ep.device].model for ep in (cw, vx, blk))

    # cw-pile-10 port 2: 16-bit input registers, raw words exactly as the model's state encodes
    regs = await mbpoll(cw, "-t", "3", "-r", "132", "-c", "13", serial=serial)
    assert [int(regs[a]) for a in range(132, 145)] == expected_words(m_cw, "input", 145)[132:145]
    # …and decoded: u16 scaled voltage, big-endian u32 current (-B), port relay coils
    assert regs[133] * 0.1 == pytest.approx(point_value(m_cw, "voltage", 2), abs=0.05)
    cur = await mbpoll(cw, "-t", "3:int", "-B", "-r", "134", "-c", "1", serial=serial)
    assert cur[134] * 0.001 == pytest.approx(point_value(m_cw, "current", 2), abs=0.0005)
    coils = await mbpoll(cw, "-t", "0", "-r", "0", "-c", "10", serial=serial)
    assert [coils[i] for i in range(10)] == [point_value(m_cw, "relay_on", i) for i in range(10)]

    # vx-pile-12, every port: float32 with the low word first (mbpoll's default word order)
    for port in range(12):
        base = 2000 + 20 * port
        floats = await mbpoll(vx, "-t", "4:float", "-r", str(base + 2), "-c", "3", serial=serial)
        for addr, name in ((base + 2, "voltage"), (base + 4, "current"), (base + 6, "power")):
            assert floats[addr] == pytest.approx(point_value(m_vx, name, port), rel=1e-5, abs=1e-4)
    secs = await mbpoll(vx, "-t", "4:int", "-r", "2033", "-c", "1", serial=serial)
    assert secs[2033] == point_value(m_vx, "session_s", 1)

    # cw-blocker: discrete inputs and a big-endian u32 counter
    bits = await mbpoll(blk, "-t", "1", "-r", "0", "-c", "5", serial=serial)
    names = ("ebike_present", "door_hold", "voice_alarm", "camera_online", "relay_closed")
    assert [bits[i] for i in range(5)] == [point_value(m_blk, n) for n in names]
    det = await mbpoll(blk, "-t", "3:int", "-B", "-r", "0", "-c", "1", serial=serial)
    assert det[0] == point_value(m_blk, "detections")

    # switch a charging port's relay off: the physics stops the session, the coil reads back 0
    pile = cast(Pile, m_cw)
    port = next(i for i, p in enumerate(pile.ports) if p.charging)
    await mbpoll(cw, "-t", "0", "-r", str(port), serial=serial, write=("0",))
    assert not pile.ports[port].relay_on
    assert not pile.ports[port].charging
    assert (await mbpoll(cw, "-t", "0", "-r", str(port), "-c", "1", serial=serial))[port] == 0.0


async def test_mbpoll_over_tcp(tmp_path: Path) -> None:
    async with SiteRunner(load_site(_site(tmp_path, None)), speed=None, rtc="site") as runner:
        runner.advance(900)
        await _check_reads(runner, None)


async def test_mbpoll_over_rtu_serial(tmp_path: Path, pty_pair: PtyPair) -> None:
    site = load_site(_site(tmp_path, pty_pair.a))
    async with SiteRunner(site, speed=None, rtc="site") as runner:
        runner.advance(900)
        await _check_reads(runner, pty_pair.b)
