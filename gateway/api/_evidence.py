"""``GET /api/alerts/{id}/evidence`` (JSON) and ``GET /api/alerts/{id}/evidence.csv``.

JSON: ``{"alert_id", "device", "port" (wire index or null), "kind", "alert_ts", "window":
{"start", "end", "before_s", "after_s"}, "sealed", "sha256" (null while open), "series":
[{"name", "scope": "port"|"pile", "port", "unit", "points": [[ts, value], ...]}], ...}`` plus
``events``, ``settled_ts``, ``samples``, ``dropped``, and ``sealed_at`` and ``sealed_reason``
once sealed (while the alert is pending, ``window.end`` is its newest sample so far) (see
:mod:`gateway.evidence.window`). 404 ``{"error"}`` for an alert without evidence.

CSV: :func:`gateway.evidence.to_csv` (``lang=en``: English headers only); the
``X-Evidence-SHA256`` response header carries the checksum, which covers the JSON document
(``chargewatch evidence --verify`` checks it), not the CSV.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Any
from zoneinfo import ZoneInfo

import msgspec
from aiohttp import web

from gateway.evidence import to_csv

#: the evidence of an alert id (None when there is none)
Lookup = Callable[[str], Awaitable[dict[str, Any] | None]]
_ALERT_ID = re.compile(r"^[A-Za-z0-9_.-]{1,200}$")


def _json(data: object, status: int = 200) -> web.Response:
    return web.Response(body=msgspec.json.encode(data), status=status, content_type="application/json")


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


__all__ = ["Lookup", "routes"]
