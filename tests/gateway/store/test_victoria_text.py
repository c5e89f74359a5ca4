"""Text fields read back identically from VictoriaMetrics, InfluxDB 1.x and SQLite: the command
audit trail, alert changes, session and event text, a long value and a value with every
character line protocol and labels escape (and Chinese)."""

from __future__ import annotations

import asyncio
import time
import urllib.request
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from analytics.sessions import SessionRecord, Tariff
from chargewatch.errors import ConfigError
from chargewatch.messages import Alert, CommandReply, Event
from chargewatch.signing import new_command
from gateway.commands.audit import AUDIT_FIELDS, reply_line, sent_line
from gateway.config import load_config
from gateway.ingest.raiser import alert_line
from gateway.lineproto import event_lines, line, telemetry_lines
from gateway.metrics import Metrics
from gateway.sessions import FIELDS, SessionLog, read_sessions
from gateway.store import InfluxV1Store, InfluxV2Store, PartialWriteError, SQLiteStore, TimeSeriesStore
from gateway.store._vmtext import CUT_MARK
from gateway.wiring import make_store
from tests.gateway.evidence.support import tel
from tests.support.servers import InfluxDB1, VictoriaMetrics

pytestmark = pytest.mark.integration

T0 = float(int(time.time()) // 60 * 60 - 3600)  # inside VictoriaMetrics' retention
SPAN = (int(T0 * 1000) - 1000, int(T0 * 1000) + 60_000)
NASTY = 'a,b c="d"=e\\f\\\n第二行 充电桩 \\"x\\" 100%25 %'
LONG = "告警" * 6000  # 36,000 bytes: more than VictoriaMetrics' 16,384-byte label value
FIT = ("x=1, y " * 700)[:4000]  # long, with separators, and within the label limit


class _Alerts:
    def alerts_during(self, device: str, port: int, start: float, end: float) -> list[tuple[str, str]]:
        return [("p1.3.socket_temp_high.1", "socket_temp_high"), ("p1.3.arc.2", "arc")]


def _lines() -> list[str]:
    cmd = new_command(device="p1", point="relay_on", value=0.0, port=3, operator="李伟", now=T0, ttl=60.0)
    reply = CommandReply(
        id=cmd.id,
        device="p1",
        ok=False,
        reason=NASTY,
        ts=T0 + 1,
        point="relay_on",
        port=3,
        value=0.0,
        operator="李伟",
        nonce=cmd.nonce,
        key="gw",
        verified=True,
    )
    unanswered = new_command(
        device="p1", point="relay_on", value=1.0, port=None, operator="王 芳", now=T0 + 2, ttl=60.0
    )
    rec = SessionRecord(
        device="p1",
        port=3,
        start=T0 - 3600,
        end=T0 + 3,
        end_reason="unplugged",
        energy_kwh=0.5,
        duration_s=3603.0,
        peak_w=400.0,
        float_frac=0.1,
        temp_rise_c=4.0,
    )
    session = SessionLog("s", Tariff(), _Alerts(), list).line(rec)
    event = Event(
        device="p1",
        boot=1,
        seq=9,
        ts=T0 + 4,
        kind="interlock",
        port=3,
        data={"rule": "socket_temp", "detail": NASTY, "value": 91.0, "verified": False, "error": ""},
    )
    cut = Event(
        device="p1", boot=1, seq=10, ts=T0 + 5, kind="device_fault", data={"detail": FIT, "fault": LONG}
    )
    firing = Alert(
        id="p1.3.arc.2",
        device="p1",
        port=3,
        kind="arc",
        state="firing",
        severity="critical",
        ts=T0 + 6,
        message=NASTY,
    )
    return [
        sent_line(cmd, "gw", "s"),
        reply_line(reply, "s", T0 + 1),
        sent_line(unanswered, "gw", "s"),
        session,
        *event_lines(event, "s"),
        *event_lines(cut, "s"),
        alert_line(firing, "s"),
        *telemetry_lines(tel(11, 40.0, device="p1", ts=T0 + 7), "s"),
    ]


async def _read(store: TimeSeriesStore) -> dict[str, Any]:
    return {
        "commands": [
            {"ts": r.ts, **r.tags, **r.fields}
            for r in await store.series("command", AUDIT_FIELDS, {"device": "p1"}, *SPAN)
        ],
        "sessions": await read_sessions(
            store, ZoneInfo("Asia/Shanghai"), device="p1", start_ms=SPAN[0], end_ms=SPAN[1], limit=10
        ),
        "session_fields": [r.fields for r in await store.series("session", FIELDS, None, *SPAN)],
        "events": [
            (r.ts, r.tags, r.fields)
            for r in await store.series(
                "event", ["rule", "detail", "value", "verified", "error"], None, *SPAN
            )
        ],
        "fault": [r.fields for r in await store.series("event", ["fault"], {"kind": "device_fault"}, *SPAN)],
        "alerts": [(r.ts, r.tags, r.fields) for r in await store.last("alert")],
        "messages": await store.count("alert", "message", None, *SPAN),
        "reasons": await store.count("command", "reason", None, *SPAN),
    }


def _flush(url: str) -> None:
    urllib.request.urlopen(f"{url}/internal/force_flush", timeout=10).close()


async def test_text_reads_back_the_same_from_every_store(
    tmp_path: Path, victoria: VictoriaMetrics, influxdb: InfluxDB1
) -> None:
    metrics = Metrics()
    async with AsyncExitStack() as stack:
        vm = await stack.enter_async_context(
            InfluxV2Store(victoria.url, org="cw", bucket="cw", metrics=metrics)
        )
        influx = await stack.enter_async_context(InfluxV1Store(influxdb.url, "cw"))
        lite = await stack.enter_async_context(SQLiteStore(tmp_path / "s.sqlite"))
        lines = _lines()  # command ids and nonces are random: one set for all three
        for store in (vm, influx, lite):
            await store.write(lines)
        await asyncio.to_thread(_flush, victoria.url)
        from_vm, from_influx, from_lite = [await _read(s) for s in (vm, influx, lite)]

    assert metrics.get("cw_store_text_truncated_total", measurement="event") == 1
    vm_fault = from_vm.pop("fault")
    assert from_influx.pop("fault") == from_lite.pop("fault") == [{"fault": LONG}]
    [vm_long] = [f["fault"] for f in vm_fault]
    assert isinstance(vm_long, str)
    assert vm_long.startswith(LONG[:5000]), "cut at the label limit, not emptied"
    assert f"{CUT_MARK}{len(LONG.encode())} bytes" in vm_long
    assert 16000 < len(vm_long.encode()) < len(LONG.encode())

    assert from_vm == from_lite
    assert from_influx == from_lite
    commands = from_lite["commands"]
    assert [(c["result"], c.get("operator"), c.get("reason")) for c in commands] == [
        ("sent", "李伟", None),
        ("refused", "李伟", NASTY),
        ("sent", "王 芳", None),
    ]
    assert [c["verified"] for c in commands] == [True, True, True]
    assert all(isinstance(c["nonce"], str) and c["nonce"] for c in commands)
    [session] = from_lite["sessions"]
    assert (session["end_reason"], session["energy_source"]) == ("unplugged", "power")
    assert session["alerts"]["kinds"] == ["arc", "socket_temp_high"]
    assert session["fee"]["currency"] == "CNY"
    [interlock, fault] = from_lite["events"]
    assert interlock[2] == {
        "rule": "socket_temp",
        "detail": NASTY,
        "value": 91.0,
        "verified": False,
        "error": "",
    }
    assert fault[2] == {"detail": FIT}
    assert [a[2] for a in from_lite["alerts"]] == [
        {"id": "p1.3.arc.2", "state": "firing", "severity": "critical", "message": NASTY}
    ]
    assert (from_lite["messages"], from_lite["reasons"]) == (1, 1)


async def test_a_line_that_cannot_carry_its_text_is_rejected_and_the_rest_stored(
    victoria: VictoriaMetrics,
) -> None:
    ts = int(T0 * 1000)
    good = line("alert", {"device": "p2", "kind": "arc", "site": "s"}, {"state": "firing"}, ts)
    reserved = line("alert", {"_s_state": "x", "device": "p3", "site": "s"}, {"state": "firing"}, ts)
    crowded = line("event", {"device": "p4"}, {f"t{i}": "x" for i in range(30)} | {"seq": 1.0}, ts)
    telemetry = telemetry_lines(tel(1, 40.0, device="p5", ts=T0), "s")
    async with InfluxV2Store(victoria.url, org="cw", bucket="cw") as vm:
        with pytest.raises(PartialWriteError) as info:
            await vm.write([*telemetry, reserved, good, crowded])
        await asyncio.to_thread(_flush, victoria.url)
        assert [text for text, _ in info.value.rejected] == [reserved, crowded]
        reasons = [why for _, why in info.value.rejected]
        assert "_s_state: names reserved for text" in reasons[0]
        assert "-maxLabelsPerTimeseries=30" in reasons[1]
        assert info.value.accepted == len(telemetry) + 1
        assert [(r.tags["device"], r.fields) for r in await vm.last("alert")] == [("p2", {"state": "firing"})]
        assert await vm.count("port", "socket_temp", {"device": "p5"}, ts, ts + 1) == 10


async def test_the_configured_label_limit_reaches_the_store(
    tmp_path: Path, victoria: VictoriaMetrics
) -> None:
    path = tmp_path / "gw.yaml"
    path.write_text(
        "mqtt: {client_id: gw1}\n"
        f"store: {{kind: influx_v2, url: '{victoria.url}', org: cw, bucket: cw, max_label_value_len: 256}}\n"
    )
    metrics = Metrics()
    alert = Alert(
        id="a1", device="p6", kind="arc", state="firing", severity="critical", ts=T0, message="长" * 300
    )
    async with make_store(load_config(path).store, metrics) as store:
        await store.write([alert_line(alert, "s")])
        await asyncio.to_thread(_flush, victoria.url)
        [row] = await store.last("alert", {"device": "p6"})
    message = row.fields["message"]
    assert isinstance(message, str)
    assert message.startswith("长" * 10)
    assert f"{CUT_MARK}900 bytes" in message
    assert metrics.get("cw_store_text_truncated_total", measurement="alert") == 1
    path.write_text(
        "mqtt: {client_id: gw1}\nstore: {kind: influx_v2, org: cw, bucket: cw, max_label_value_len: 10}\n"
    )
    with pytest.raises(ConfigError, match="max_label_value_len"):
        load_config(path)
