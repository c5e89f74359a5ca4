"""``GET /api/alerts/{id}/evidence`` (JSON) and ``GET /api/alerts/{id}/evidence.csv``.

JSON: ``{"alert_id", "device", "port" (wire index or null), "kind", "alert_ts", "window":
{"start", "end", "before_s", "after_s"}, "sealed", "sha256" (null while open), "series":
[{"name", "scope": "port"|"pile", "port", "unit", "points": [[ts, value], ...]}], ...}`` plus
``events``, ``samples``, ``dropped``, and ``sealed_at`` and ``sealed_reason`` once sealed (see
:mod:`gateway.evidence.window`). 404 ``{"error"}`` for an alert without evidence.

CSV: UTF-8 with a byte-order mark, one row per sample (long format), headers Chinese with the
English key in parentheses (``lang=en``: English keys only), times in the site's local time
beside the epoch seconds. The first line is a ``#`` comment naming the alert, whether it is
sealed and its SHA-256, which the ``X-Evidence-SHA256`` response header also carries; the
checksum covers the JSON document (``chargewatch evidence --verify`` checks it), not the CSV.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import msgspec
from aiohttp import web

#: the evidence of an alert id (None when there is none)
Lookup = Callable[[str], Awaitable[dict[str, Any] | None]]
_ALERT_ID = re.compile(r"^[A-Za-z0-9_.-]{1,200}$")

#: (key, Chinese header) of each CSV column, in order
COLUMNS: tuple[tuple[str, str], ...] = (
    ("time", "时间"),
    ("ts", "时间戳(秒)"),
    ("series", "测点"),
    ("scope", "范围"),
    ("port", "端口"),
    ("unit", "单位"),
    ("value", "数值"),
)
SCOPES_ZH = {"port": "端口", "pile": "整桩"}


def _json(data: object, status: int = 200) -> web.Response:
    return web.Response(body=msgspec.json.encode(data), status=status, content_type="application/json")


def to_csv(doc: dict[str, Any], tz: ZoneInfo, lang: str = "zh") -> bytes:
    """The CSV export of one evidence document (UTF-8 with BOM)."""
    out = io.StringIO()
    zh = lang != "en"
    out.write(
        f"# alert={doc['alert_id']} device={doc['device']} kind={doc['kind']} "
        f"sealed={str(doc['sealed']).lower()} sha256={doc['sha256'] or ''}\r\n"
    )
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([f"{name} ({key})" if zh else key for key, name in COLUMNS])
    for s in doc["series"]:
        scope = f"{SCOPES_ZH[s['scope']]} ({s['scope']})" if zh else s["scope"]
        port = "" if s["port"] is None else s["port"]
        for ts, value in s["points"]:
            local = datetime.fromtimestamp(ts, tz).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
            shown = "" if value is None else value
            writer.writerow([local, repr(ts), s["name"], scope, port, s["unit"], shown])
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def routes(lookup: Lookup, timezone: Callable[[], ZoneInfo]) -> list[web.RouteDef]:
    """The evidence routes, reading through ``lookup``."""

    async def fetch(r: web.Request) -> dict[str, Any] | web.Response:
        alert_id = r.match_info["id"]
        if not _ALERT_ID.match(alert_id):
            return _json({"error": f"not an alert id: {alert_id[:64]!r}"}, 400)
        doc = await lookup(alert_id)
        if doc is None:
            return _json({"error": f"no evidence for alert {alert_id!r} (unknown alert, or none kept)"}, 404)
        return doc

    async def as_json(r: web.Request) -> web.Response:
        got = await fetch(r)
        return got if isinstance(got, web.Response) else _json(got)

    async def as_csv(r: web.Request) -> web.Response:
        got = await fetch(r)
        if isinstance(got, web.Response):
            return got
        name = re.sub(r"[^A-Za-z0-9_.-]", "_", got["alert_id"])
        return web.Response(
            body=to_csv(got, timezone(), r.query.get("lang", "zh")),
            content_type="text/csv",
            charset="utf-8",
            headers={
                "Content-Disposition": f'attachment; filename="evidence-{name}.csv"',
                "X-Evidence-SHA256": got["sha256"] or "",
                "X-Evidence-Sealed": str(got["sealed"]).lower(),
            },
        )

    return [
        web.get("/api/alerts/{id}/evidence", as_json),
        web.get("/api/alerts/{id}/evidence.csv", as_csv),
    ]


__all__ = ["COLUMNS", "Lookup", "routes", "to_csv"]
