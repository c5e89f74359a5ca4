"""Finished charging sessions: priced, written as ``session`` points, read back for the API.

Path: the analytics pipeline hands over the sessions that ended in a batch
(``Pipeline.pop_sessions``, drained after every batch so memory stays bounded); the ingest
pipeline turns each into one ``session`` point with :class:`SessionLog` and commits it to the
durable spool before the batch is acknowledged, like every other point. The store is the one
place sessions live: ``GET /api/sessions`` and the CSV export read them back from it
(:func:`read_sessions`), so what the API shows is what InfluxDB/SQLite holds, and a store
outage shows as a 502 rather than as a list that silently disagrees with the store.

Point layout: tags ``device``, ``port`` (0-based, as on the wire and in the ``port``
measurement, so a session joins its port's series) and ``site``; timestamp = the session's end
(ms). Fields: ``port_no`` (the number printed on the pile, 1-based), ``start``/``end`` (epoch
s), ``end_reason``, ``energy_kwh`` (billed: the pile's meter when it has one), ``measured_kwh``
(integrated power), ``energy_source``, ``duration_s``, ``peak_w``, ``avg_w``, ``peak_temp_c``,
``temp_rise_c``, ``alerts`` (count), ``alert_kinds``/``alert_ids`` (comma-joined), the fee items
``fee_electricity``/``fee_service``/``fee_total``, ``currency``, ``tariff_id``,
``tariff_version`` and ``fee`` (the itemised fee as JSON: periods, billed hours, band).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, Protocol
from zoneinfo import ZoneInfo

import msgspec

from analytics.sessions import Fee, SessionRecord, Tariff
from gateway.lineproto import FieldValue, line, ts_ms
from gateway.store.base import Field, Row, TimeSeriesStore

FIELDS: tuple[str, ...] = (
    "port_no",
    "start",
    "end",
    "end_reason",
    "energy_kwh",
    "measured_kwh",
    "energy_source",
    "duration_s",
    "peak_w",
    "avg_w",
    "peak_temp_c",
    "temp_rise_c",
    "alerts",
    "alert_kinds",
    "alert_ids",
    "fee_electricity",
    "fee_service",
    "fee_total",
    "currency",
    "tariff_id",
    "tariff_version",
    "fee",
)
_MAX_IDS = 20


class AlertLookup(Protocol):
    def alerts_during(self, device: str, port: int, start: float, end: float) -> list[tuple[str, str]]: ...


def port_no(port_index: int) -> int:
    """The number printed on the pile for wire port ``port_index`` (profiles count from 0, piles from 1)."""
    return port_index + 1


class SessionLog:
    """Prices finished sessions and builds their ``session`` lines."""

    def __init__(
        self, site: str, tariff: Tariff, alerts: AlertLookup, source: Callable[[], list[SessionRecord]]
    ) -> None:
        self.site = site
        self.tariff = tariff
        self.alerts = alerts
        self.source = source

    def fee(self, rec: SessionRecord) -> Fee:
        return self.tariff.fee(
            start=rec.start,
            duration_s=rec.duration_s,
            energy_kwh=rec.billed_kwh,
            slot_kwh=rec.slot_kwh,
            peak_w=rec.peak_w,
            avg_w=rec.avg_w,
        )

    def drain(self) -> list[str]:
        """Lines of every session finished since the last call (the source is emptied)."""
        return [self.line(rec) for rec in self.source()]

    def line(self, rec: SessionRecord) -> str:
        fee = self.fee(rec)
        alerts = self.alerts.alerts_during(rec.device, rec.port, rec.start, rec.end)
        kinds = sorted({k for _, k in alerts})
        fields: dict[str, FieldValue] = {
            "port_no": float(port_no(rec.port)),
            "start": rec.start,
            "end": rec.end,
            "end_reason": rec.end_reason,
            "energy_kwh": round(rec.billed_kwh, 4),
            "measured_kwh": round(rec.energy_kwh, 4),
            "energy_source": "meter" if rec.meter_kwh is not None else "power",
            "duration_s": rec.duration_s,
            "peak_w": round(rec.peak_w, 1),
            "avg_w": round(rec.avg_w, 1),
            "peak_temp_c": rec.peak_temp_c,
            "temp_rise_c": round(rec.temp_rise_c, 2),
            "alerts": float(len(alerts)),
            "alert_kinds": ",".join(kinds) or None,
            "alert_ids": ",".join(i for i, _ in alerts[:_MAX_IDS]) or None,
            "fee_electricity": fee.electricity,
            "fee_service": fee.service,
            "fee_total": fee.total,
            "currency": fee.currency,
            "tariff_id": fee.tariff_id,
            "tariff_version": float(fee.tariff_version),
            "fee": msgspec.json.encode(fee).decode(),
        }
        tags = {"device": rec.device, "port": str(rec.port), "site": self.site}
        return line("session", tags, fields, ts_ms(rec.end))


def _num(fields: Mapping[str, Field], key: str) -> float | None:
    value = fields.get(key)
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _text(fields: Mapping[str, Field], key: str) -> str:
    value = fields.get(key)
    return value if isinstance(value, str) else ""


def session_of(row: Row, tz: ZoneInfo) -> dict[str, Any]:
    """One stored ``session`` point as the API shows it (``port`` as printed on the pile)."""
    f = row.fields
    start, end = _num(f, "start") or 0.0, _num(f, "end") or row.ts / 1000.0
    fee_text = _text(f, "fee")
    kinds, ids = _text(f, "alert_kinds"), _text(f, "alert_ids")
    return {
        "device": row.tags.get("device", ""),
        "site": row.tags.get("site", ""),
        "port": int(_num(f, "port_no") or int(row.tags.get("port", "0")) + 1),
        "port_index": int(row.tags.get("port", "0")),
        "start": start,
        "end": end,
        "start_local": datetime.fromtimestamp(start, tz).isoformat(timespec="seconds"),
        "end_local": datetime.fromtimestamp(end, tz).isoformat(timespec="seconds"),
        "duration_s": _num(f, "duration_s"),
        "end_reason": _text(f, "end_reason"),
        "energy_kwh": _num(f, "energy_kwh"),
        "measured_kwh": _num(f, "measured_kwh"),
        "energy_source": _text(f, "energy_source"),
        "peak_w": _num(f, "peak_w"),
        "avg_w": _num(f, "avg_w"),
        "peak_temp_c": _num(f, "peak_temp_c"),
        "temp_rise_c": _num(f, "temp_rise_c"),
        "alerts": {
            "count": int(_num(f, "alerts") or 0),
            "kinds": kinds.split(",") if kinds else [],
            "ids": ids.split(",") if ids else [],
        },
        "fee": msgspec.json.decode(fee_text) if fee_text else None,
    }


async def read_sessions(
    store: TimeSeriesStore,
    tz: ZoneInfo,
    *,
    device: str | None,
    start_ms: int,
    end_ms: int,
    limit: int,
) -> list[dict[str, Any]]:
    """Sessions that ended in ``[start_ms, end_ms)``, oldest first, the newest ``limit`` of them."""
    where = {"device": device} if device else None
    rows = await store.series("session", FIELDS, where, start_ms, end_ms)
    return [session_of(r, tz) for r in rows[-limit:]] if limit > 0 else []
