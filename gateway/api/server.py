"""The gateway's HTTP API (aiohttp) and control room.

Routes: ``GET /health``, ``GET /api/devices``, ``GET /api/alerts``, ``POST /api/alerts/{id}/ack``,
``GET /api/series?device=&port=&field=&since=``, ``GET /api/sessions?device=&since=&until=&limit=``,
``GET /api/sessions.csv`` (see :mod:`gateway.api._sessions`), ``GET /api/dead_letters``,
``POST /api/commands`` (sign and send one operator command; operators only, JSON
body only), ``GET /api/commands?device=&since=`` (the command audit trail), ``GET /metrics``
(Prometheus text), ``GET /api/ports`` (the control room's port grid, :mod:`gateway.api._ports`),
``GET /api/events`` (live updates as Server-Sent Events, :mod:`gateway.api._events`) and ``GET /``
(the control room: static files under ``static/``, charts by the vendored uPlot). Handlers read
from a :class:`GatewayView`, so the API never reaches into the ingest internals.

Who may read and who may act is decided by one guard in front of every route
(:mod:`gateway.api.auth`: users and roles, bearer tokens and passwords, the anti-CSRF rule);
``GET /api/whoami`` says who the caller is and what it may do. Acknowledgements and commands are
recorded under the authenticated user's name.

Bad query parameters get a 400 with ``{"error": reason}``: ``since`` must be finite seconds in
(0, 7 days], ``limit`` an integer in 1..1000, ``field`` one the measurement stores (the error
lists them), ``measurement`` one of ``port``, ``pile``, ``blocker``.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Annotated, Any, Protocol, Self
from zoneinfo import ZoneInfo

import msgspec
from aiohttp import web

from chargewatch.clock import Clock, SystemClock
from chargewatch.logs import kv
from chargewatch.messages import ID_PATTERN
from chargewatch.profiles import DeviceProfile, load_profiles
from gateway.api._events import EventHub
from gateway.api._ports import BlockedToday, grid
from gateway.api._sessions import QueryError, parse_query, to_csv
from gateway.api.auth import Authenticator, NotYouError, actor, identity
from gateway.store.base import Row
from gateway.store.errors import StoreError, UnknownSeriesError

log = logging.getLogger(__name__)

_MAX_SPAN_S = 7 * 86400.0
_ID = re.compile(ID_PATTERN)
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,47}$")
_MAX_LIMIT = 1000
_MAX_PORT = 64
STATIC = Path(__file__).with_name("static")


def series_fields(profiles: Iterable[DeviceProfile] | None = None) -> dict[str, frozenset[str]]:
    """Fields each series measurement stores, from ``profiles`` (default: the bundled ones)."""
    out: dict[str, set[str]] = {"port": set(), "pile": set(), "blocker": set()}
    for profile in load_profiles().values() if profiles is None else profiles:
        out["port"].update(p.name for p in profile.port_points)
        out[profile.kind].update(p.name for p in profile.device_points)
    return {m: frozenset(names | {"boot", "seq", "flags"}) for m, names in out.items()}


class GatewayView(Protocol):
    """What the API needs from the running gateway."""

    def health(self) -> dict[str, Any]: ...

    def devices(self) -> list[dict[str, Any]]: ...

    def alerts(self, open_only: bool) -> list[dict[str, Any]]: ...

    def acknowledge(self, alert_id: str, user: str) -> dict[str, Any]: ...

    def dead_letters(self, limit: int) -> list[dict[str, Any]]: ...

    async def send_command(
        self, device: str, point: str, value: float, port: int | None, operator: str
    ) -> dict[str, Any]: ...

    async def commands(
        self, where: Mapping[str, str], start_ms: int, end_ms: int
    ) -> list[dict[str, Any]]: ...

    def metrics_text(self) -> str: ...

    def timezone(self) -> ZoneInfo: ...

    async def charging_sessions(
        self, device: str | None, start_ms: int, end_ms: int, limit: int
    ) -> list[dict[str, Any]]: ...

    async def series(
        self, measurement: str, fields: Sequence[str], where: Mapping[str, str], start_ms: int, end_ms: int
    ) -> list[Row]: ...


class _CommandRequest(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Body of ``POST /api/commands``."""

    device: Annotated[str, msgspec.Meta(pattern=ID_PATTERN)]
    point: Annotated[str, msgspec.Meta(pattern=r"^[a-z][a-z0-9_]{0,47}$")]
    value: float
    port: Annotated[int, msgspec.Meta(ge=0, le=63)] | None = None
    #: optional when signed in (the user's own name is recorded; another name is refused)
    operator: Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9_.@-]{1,64}$")] | None = None


def _json(data: object, status: int = 200) -> web.Response:
    return web.Response(body=msgspec.json.encode(data), status=status, content_type="application/json")


def _bad(detail: str) -> web.Response:
    return _json({"error": detail}, 400)


class ApiServer:
    """``async with ApiServer(view, host, port) as api:`` — ``api.port`` is the bound port."""

    def __init__(
        self,
        view: GatewayView,
        host: str,
        port: int,
        *,
        auth: Authenticator | None = None,
        fields: Mapping[str, frozenset[str]] | None = None,
        routes: Sequence[web.RouteDef] = (),
        profiles: Mapping[str, DeviceProfile] | None = None,
        site: str = "",
        clock: Clock | None = None,
        events: EventHub | None = None,
    ) -> None:
        self.view = view
        self.host = host
        self.port = port
        self.auth = auth if auth is not None else Authenticator()
        self.profiles = dict(profiles) if profiles is not None else load_profiles()
        self.fields = dict(fields) if fields is not None else series_fields(self.profiles.values())
        self.site = site
        self.clock = clock or SystemClock()
        self.events = events or EventHub()
        self._blocked = BlockedToday(self.profiles)
        app = web.Application(client_max_size=64 * 1024, middlewares=[self.auth.middleware()])
        app.add_routes(self.auth.routes())
        app.add_routes(
            [
                web.get("/", self._index),
                web.static("/static", STATIC, append_version=False),
                web.get("/api/ports", self._ports),
                web.get("/api/events", self.events.handle),
                web.get("/health", self._health),
                web.get("/metrics", self._metrics),
                web.get("/api/devices", self._devices),
                web.get("/api/alerts", self._alerts),
                web.post("/api/alerts/{id}/ack", self._ack),
                web.get("/api/series", self._series),
                web.get("/api/sessions", self._sessions),
                web.get("/api/sessions.csv", self._sessions_csv),
                web.get("/api/dead_letters", self._dead_letters),
                web.post("/api/commands", self._send_command),
                web.get("/api/commands", self._commands),
                *routes,  # e.g. gateway.api._evidence
            ]
        )
        self._runner = web.AppRunner(app, access_log=None)

    async def __aenter__(self) -> Self:
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        if self.port == 0:
            self.port = int(self._runner.addresses[0][1])
        log.info(kv("http_listening", host=self.host, port=self.port))
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.events.aclose()  # streams end first: the runner's cleanup would wait on them
        await self._runner.cleanup()

    async def _index(self, _r: web.Request) -> web.FileResponse:
        return web.FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})

    async def _ports(self, _r: web.Request) -> web.Response:
        devices = self.view.devices()
        now = self.clock.time()
        blocked = await self._blocked.counts(self.view.series, devices, self.view.timezone(), now)
        body = grid(devices, self.view.alerts(open_only=True), self.profiles, self.site, blocked)
        return _json(body | {"ts": now})

    async def _health(self, r: web.Request) -> web.Response:
        h = self.view.health()
        shown = h if self.auth.may_read(identity(r)) else {"status": h.get("status")}
        return _json(shown, 200 if h.get("status") == "ok" else 503)

    async def _metrics(self, _r: web.Request) -> web.Response:
        return web.Response(text=self.view.metrics_text(), content_type="text/plain", charset="utf-8")

    async def _devices(self, _r: web.Request) -> web.Response:
        return _json(self.view.devices())

    async def _alerts(self, r: web.Request) -> web.Response:
        return _json(self.view.alerts(open_only=r.query.get("open") in {"1", "true"}))

    async def _dead_letters(self, r: web.Request) -> web.Response:
        raw = r.query.get("limit", "100")
        limit = int(raw) if raw.isdigit() and len(raw) <= 7 else 0
        if not 1 <= limit <= _MAX_LIMIT:
            return _bad(f"limit must be an integer in 1..{_MAX_LIMIT}, got {raw[:32]!r}")
        return _json(self.view.dead_letters(limit))

    async def _session_list(self, r: web.Request, default_limit: int) -> list[dict[str, Any]] | web.Response:
        try:
            device, start_ms, end_ms, limit = parse_query(r.query, self.view.timezone(), default_limit)
        except QueryError as exc:
            return _bad(str(exc))
        try:
            return await self.view.charging_sessions(device, start_ms, end_ms, limit)
        except StoreError as exc:
            return _json({"error": str(exc)}, 502)

    async def _sessions(self, r: web.Request) -> web.Response:
        got = await self._session_list(r, 500)
        return got if isinstance(got, web.Response) else _json(got)

    async def _sessions_csv(self, r: web.Request) -> web.Response:
        got = await self._session_list(r, 10_000)
        if isinstance(got, web.Response):
            return got
        return web.Response(
            body=to_csv(got, self.view.timezone(), r.query.get("lang", "zh")),
            content_type="text/csv",
            charset="utf-8",
            headers={"Content-Disposition": 'attachment; filename="sessions.csv"'},
        )

    async def _ack(self, r: web.Request) -> web.Response:
        claimed = r.query.get("user")
        if r.can_read_body:
            try:
                body = msgspec.json.decode(await r.read(), type=dict[str, str])
            except msgspec.DecodeError:
                return _bad('body must be JSON like {"user": "name"} (or empty when signed in)')
            claimed = body.get("user", claimed)
        try:
            user = actor(r, claimed)
        except NotYouError as exc:
            return _json({"error": str(exc)}, 403)
        try:
            acked = self.view.acknowledge(r.match_info["id"], user)
        except KeyError:
            return _json({"error": f"no alert {r.match_info['id']!r}"}, 404)
        self.events.publish("alert", acked)
        return _json(acked)

    async def _series(self, r: web.Request) -> web.Response:
        q = r.query
        device, field, port = q.get("device", ""), q.get("field", ""), q.get("port")
        if not _ID.match(device) or not _NAME.match(field):
            return _bad("device and field are required, e.g. ?device=p1&port=0&field=socket_temp")
        if port is not None and not (port.isdigit() and len(port) <= 3 and int(port) < _MAX_PORT):
            return _bad(f"port must be an integer in 0..{_MAX_PORT - 1}, got {port[:32]!r}")
        measurement = q.get("measurement", "port" if port is not None else "pile")
        known = self.fields.get(measurement)
        if known is None:
            return _bad(f"measurement must be one of {sorted(self.fields)}, got {measurement[:32]!r}")
        if field not in known:
            return _bad(f"{measurement} has no field {field!r}; known: {sorted(known)}")
        raw = q.get("since", "3600")
        try:
            since = float(raw)
        except ValueError:
            since = math.nan
        if not (math.isfinite(since) and 0 < since <= _MAX_SPAN_S):
            return _bad(f"since must be seconds in (0, {_MAX_SPAN_S:.0f}], got {raw[:32]!r}")
        where = {"device": device}
        if port is not None:
            where["port"] = port
        end = self.clock.time()  # the gateway's clock (simulated time in the demo)
        try:
            rows = await self.view.series(
                measurement, [field], where, int((end - since) * 1000), int(end * 1000) + 1
            )
        except UnknownSeriesError as exc:
            return _bad(str(exc))
        except StoreError as exc:
            return _json({"error": str(exc)}, 502)
        points = [[row.ts, row.fields.get(field)] for row in rows]
        return _json({"device": device, "port": port, "field": field, "points": points})

    async def _send_command(self, r: web.Request) -> web.Response:
        # the role (and, without a bearer token, the anti-CSRF header) was checked by the auth guard
        if r.content_type != "application/json":  # a cross-site form cannot send this without CORS
            return _json({"error": "send the command as Content-Type: application/json"}, 415)
        try:
            req = msgspec.json.decode(await r.read(), type=_CommandRequest)
        except msgspec.DecodeError as exc:
            return _bad(
                f'{exc}; body like {{"device": "p1", "point": "relay_on", "port": 0, "value": 0, '
                f'"operator": "name"}}'
            )
        try:
            operator = actor(r, req.operator)
        except NotYouError as exc:
            return _json({"error": str(exc)}, 403)
        try:
            sent = await self.view.send_command(req.device, req.point, req.value, req.port, operator)
        except KeyError as exc:
            return _json({"error": str(exc.args[0])}, 503)
        log.info(kv("http_command_sent", remote=r.remote, operator=operator, **sent))
        self.events.publish("command", sent)
        return _json(sent, 202)

    async def _commands(self, r: web.Request) -> web.Response:
        device = r.query.get("device")
        if device is not None and not _ID.match(device):
            return _bad("device must be a device id")
        try:
            since = float(r.query.get("since", "86400"))
        except ValueError:
            return _bad("since must be seconds (e.g. 86400)")
        if not 1.0 <= since <= _MAX_SPAN_S:
            return _bad(f"since must be between 1 and {_MAX_SPAN_S:.0f} seconds")
        now = self.clock.time()
        where = {"device": device} if device else {}
        # replies carry the agent's timestamp: a clock ahead of ours must not hide them
        start_ms, end_ms = int((now - since) * 1000), int((now + _MAX_SPAN_S) * 1000)
        try:
            rows = await self.view.commands(where, start_ms, end_ms)
        except StoreError as exc:
            return _json({"error": str(exc)}, 502)
        return _json(rows)
