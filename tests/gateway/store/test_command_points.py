"""The command audit points read back whole from every store kind: tags, strings, bools, numbers."""

from __future__ import annotations

from pathlib import Path

import pytest

from chargewatch.messages import CommandReply
from chargewatch.signing import new_command
from gateway.commands.audit import AUDIT_FIELDS, reply_line, sent_line
from gateway.store import InfluxV1Store, SQLiteStore, TimeSeriesStore
from tests.support.servers import InfluxDB1

T0 = 1_750_000_000.0


async def _round_trip(store: TimeSeriesStore) -> list[dict[str, object]]:
    cmd = new_command(device="p1", point="relay_on", value=0.0, port=3, operator="li.wei", now=T0, ttl=60.0)
    echo = {
        "point": "relay_on",
        "port": 3,
        "value": 0.0,
        "operator": "li.wei",
        "nonce": cmd.nonce,
        "key": "gw",
    }
    reason = 'not_allowed: key "gw" may not, ok'
    reply = CommandReply(id=cmd.id, device="p1", ok=False, reason=reason, ts=T0 + 1, verified=True, **echo)  # type: ignore[arg-type]
    await store.write([sent_line(cmd, "gw", "s"), reply_line(reply, "s", T0 + 2)])
    rows = await store.series(
        "command", AUDIT_FIELDS, {"device": "p1"}, int(T0 * 1000), int(T0 * 1000) + 5000
    )
    return [{"ts": r.ts, "result": r.tags["result"], **r.fields} for r in rows]


def _expected() -> list[dict[str, object]]:
    common = {
        "point": "relay_on",
        "port": 3.0,
        "value": 0.0,
        "operator": "li.wei",
        "key": "gw",
        "verified": True,
    }
    return [
        {"ts": int(T0 * 1000), "result": "sent", **common},
        {
            "ts": int(T0 * 1000) + 1000,
            "result": "refused",
            **common,
            "reason": 'not_allowed: key "gw" may not, ok',
        },
    ]


def _strip_nonce(rows: list[dict[str, object]]) -> list[dict[str, object]]:
    assert all(isinstance(r.pop("nonce"), str) for r in rows)
    return rows


async def test_sqlite(tmp_path: Path) -> None:
    async with SQLiteStore(str(tmp_path / "s.sqlite")) as store:
        assert _strip_nonce(await _round_trip(store)) == _expected()


@pytest.mark.integration
async def test_influx_v1(influxdb: InfluxDB1) -> None:
    async with InfluxV1Store(influxdb.url, "cw") as store:
        rows = _strip_nonce(await _round_trip(store))
    assert [{k: v for k, v in r.items() if v is not None} for r in rows] == _expected()
