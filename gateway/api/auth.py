"""Who is asking, and what they may do: the API's one guard in front of every route.

Every request is identified first: ``Authorization: Bearer <token>`` or ``Basic <name:password>``
names a user of ``http.users`` (gateway.users); no header is ``anonymous``; a header that names
nobody is a 401 (logged ``http_auth_failed``), and a client (IP address) with more failed logins
than ``auth_failures_per_min`` gets 429 until its budget refills (logged once, ``http_auth_locked``).
Tokens are compared in constant time against every user; a Basic password is checked with scrypt
in a worker thread (an unknown name against a decoy hash, at the same cost), and a successful
check is remembered for the process's life, keyed by an HMAC of the header.

Then the request must be allowed:

- reading (GET/HEAD/OPTIONS) needs a viewer or operator when reads need a login (``http.read:
  login``, or ``auto`` with the API beyond loopback), else anyone; the page shell (``/``,
  ``/static/...``), ``/health`` (anonymous callers see only its status) and ``/api/whoami``
  always load, so the page can show its login box;
- anything else (acknowledging, commands) needs an operator, or anyone on loopback when no users
  are configured. Unless it carries a bearer token (which a browser never attaches on its own), it
  also needs the ``X-ChargeWatch-CSRF: 1`` header and, when the browser sends an ``Origin``, one
  naming this host: a cross-site form can carry neither.

Anonymous is 401, a viewer acting is 403 (logged ``http_forbidden``). Handlers take the acting
name from :func:`actor`: the authenticated user's, never a name the request body claims.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import logging
import os
import re
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlsplit

import msgspec
from aiohttp import web
from aiohttp.typedefs import Middleware

from chargewatch.clock import Clock, SystemClock
from chargewatch.logs import kv
from gateway.passwords import DECOY, verify_password
from gateway.users import NAME_PATTERN, ApiUser

log = logging.getLogger(__name__)

CSRF_HEADER = "X-ChargeWatch-CSRF"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
#: routes anyone may GET (matched on the route the router resolved, not on the raw path)
PUBLIC_ROUTES = frozenset({"/", "/health", "/api/whoami"})
PUBLIC_PREFIXES = ("/static",)
Level = Literal["anonymous", "viewer", "operator"]
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
_CACHE_MAX = 1024
_NAME = re.compile(NAME_PATTERN)
_VERIFY_PARALLEL = 2  # scrypt needs 32 MiB a check: bound the memory a burst of logins takes


@dataclass(frozen=True, slots=True)
class Identity:
    """The user a request authenticated as (``user`` None: anonymous)."""

    user: str | None
    role: Level
    scheme: Literal["none", "bearer", "basic"] = "none"


ANONYMOUS = Identity(None, "anonymous")
IDENTITY = web.RequestKey("cw_identity", Identity)


class NotYouError(ValueError):
    """A request body names someone other than the authenticated user."""


class _RefusedError(Exception):
    def __init__(self, status: int, message: str, retry_after: float = 0.0) -> None:
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after


class FailureLimiter:
    """A token bucket of failed logins per client: ``per_min`` a minute, bursts of ``per_min``."""

    def __init__(self, per_min: int, clock: Clock, max_clients: int = 4096) -> None:
        self._cap = float(per_min)
        self._rate = per_min / 60.0
        self._clock = clock
        self._max = max_clients
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def __len__(self) -> int:
        """Clients remembered (at most ``max_clients``)."""
        return len(self._buckets)

    def _level(self, client: str) -> float:
        tokens, last = self._buckets.get(client, (self._cap, self._clock.monotonic()))
        return min(self._cap, tokens + (self._clock.monotonic() - last) * self._rate)

    def wait_s(self, client: str) -> float:
        """Seconds until ``client`` may try again (0: now)."""
        level = self._level(client)
        return 0.0 if level >= 1.0 else (1.0 - level) / self._rate

    def fail(self, client: str) -> bool:
        """Count one failure; True when it used the client's last try (it is now locked)."""
        level = self._level(client) - 1.0
        self._buckets[client] = (level, self._clock.monotonic())
        self._buckets.move_to_end(client)
        while len(self._buckets) > self._max:
            self._buckets.popitem(last=False)
        return level < 1.0


class Authenticator:
    """Identifies requests against ``users`` and decides what they may do (see the module doc)."""

    def __init__(
        self,
        users: Sequence[ApiUser] = (),
        *,
        read_login: bool = False,
        failures_per_min: int = 10,
        clock: Clock | None = None,
        on_failure: Callable[[str], None] | None = None,
    ) -> None:
        self.users = {u.name: u for u in users}
        self._on_failure = on_failure  # told each failed login's reason (the gateway counts them)
        self.read_login = read_login
        self.open_writes = not self.users
        self.limiter = FailureLimiter(failures_per_min, clock or SystemClock())
        self._pepper = os.urandom(32)
        self._verified: OrderedDict[bytes, str] = OrderedDict()
        self._verify_slots = asyncio.Semaphore(_VERIFY_PARALLEL)

    def may_read(self, who: Identity) -> bool:
        return who.role != "anonymous" or not self.read_login

    def may_act(self, who: Identity) -> bool:
        """Acknowledge alerts and send commands."""
        return who.role == "operator" or (who.role == "anonymous" and self.open_writes)

    def whoami(self, who: Identity) -> dict[str, object]:
        act = self.may_act(who)
        return {"user": who.user, "role": who.role, "can_ack": act, "can_command": act}

    async def identify(self, r: web.Request) -> Identity:
        """The request's identity; _RefusedError (401 or 429) when its credential names nobody."""
        header = r.headers.get("Authorization")
        if header is None:
            return ANONYMOUS
        client = r.remote or "?"
        wait = self.limiter.wait_s(client)
        if wait > 0:
            raise _RefusedError(429, f"too many failed logins from {client}; try again in {wait:.0f} s", wait)
        scheme, _, value = header.strip().partition(" ")
        scheme = scheme.lower()
        if scheme == "bearer":
            who, claimed, reason = self._bearer(value.strip()), None, "unknown_token"
        elif scheme == "basic":
            claimed, who, reason = await self._basic(value.strip())
        else:
            who, claimed, reason = None, None, "unsupported_scheme"
        if who is not None:
            return Identity(who.name, who.role, "bearer" if scheme == "bearer" else "basic")
        locked = self.limiter.fail(client)
        if self._on_failure is not None:
            self._on_failure(reason)
        log.warning(
            kv(
                "http_auth_failed",
                remote=client,
                scheme=scheme[:16],
                user=claimed if claimed is None or _NAME.match(claimed) else ascii(claimed),
                reason=reason,
                path=r.path,
            )
        )
        if locked:
            log.warning(
                kv("http_auth_locked", remote=client, retry_after_s=round(self.limiter.wait_s(client), 1))
            )
        raise _RefusedError(
            401, "unknown credentials: send Authorization: Bearer <token> or Basic <name:password>"
        )

    def _bearer(self, token: str) -> ApiUser | None:
        found = None
        for u in self.users.values():  # every user compared: the time says nothing about which one
            if u.token and hmac.compare_digest(u.token.encode(), token.encode()):
                found = u
        return found

    async def _basic(self, value: str) -> tuple[str | None, ApiUser | None, str]:
        """(claimed name, the user or None, failure reason)."""
        try:
            name, sep, password = base64.b64decode(value, validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return None, None, "malformed_basic"
        if not sep:
            return None, None, "malformed_basic"
        name = name[:64]
        key = hmac.new(self._pepper, value.encode(), hashlib.sha256).digest()
        if self._verified.get(key) == name:
            return name, self.users[name], ""
        user = self.users.get(name)
        stored = user.password if user is not None and user.password is not None else DECOY
        async with self._verify_slots:
            ok = await asyncio.to_thread(verify_password, password, stored)
        if not ok or user is None or user.password is None:
            return name, None, "bad_password" if user is not None else "unknown_user"
        self._verified[key] = name
        while len(self._verified) > _CACHE_MAX:
            self._verified.popitem(last=False)
        return name, user, ""

    def middleware(self) -> Middleware:
        @web.middleware
        async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
            r = request
            try:
                who = await self.identify(r)
            except _RefusedError as exc:
                headers = {"WWW-Authenticate": 'Bearer realm="ChargeWatch"'}
                if exc.retry_after:
                    headers = {"Retry-After": str(int(exc.retry_after) + 1)}
                return _json({"error": str(exc)}, exc.status, headers)
            r[IDENTITY] = who
            if r.method in SAFE_METHODS:
                if self.may_read(who) or _public(r):
                    return await handler(r)
                return _json({"error": "sign in to read: Authorization: Bearer <token> or Basic"}, 401)
            if not self.may_act(who):
                if who.user is None:
                    return _json(
                        {"error": "this needs an operator: Authorization: Bearer <token> or Basic"}, 401
                    )
                log.warning(kv("http_forbidden", user=who.user, role=who.role, method=r.method, path=r.path))
                return _json({"error": f"{who.user} is a {who.role}; this needs an operator"}, 403)
            if who.scheme != "bearer" and not _same_origin(r):
                log.warning(
                    kv(
                        "http_cross_site_refused",
                        method=r.method,
                        path=r.path,
                        origin=r.headers.get("Origin"),
                    )
                )
                return _json(
                    {"error": f"state-changing requests need the header {CSRF_HEADER}: 1 from this origin"},
                    403,
                )
            return await handler(r)

        return guard

    def routes(self) -> list[web.RouteDef]:
        async def whoami(r: web.Request) -> web.Response:
            return _json(self.whoami(identity(r)))

        return [web.get("/api/whoami", whoami)]


def _public(r: web.Request) -> bool:
    resource = r.match_info.route.resource
    if resource is None:  # no route: a 404 or 405 to those who may read, a 401 to the others
        return False
    return resource.canonical in PUBLIC_ROUTES or resource.canonical.startswith(PUBLIC_PREFIXES)


def _same_origin(r: web.Request) -> bool:
    origin = r.headers.get("Origin")
    return r.headers.get(CSRF_HEADER) == "1" and (origin is None or urlsplit(origin).netloc == r.host)


def _json(data: object, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(
        body=msgspec.json.encode(data), status=status, content_type="application/json", headers=headers
    )


def identity(r: web.Request) -> Identity:
    """Who the guard found the request to be."""
    who = r.get(IDENTITY)
    return who if isinstance(who, Identity) else ANONYMOUS


def actor(r: web.Request, claimed: str | None) -> str:
    """The name the audit trail records for this request.

    An authenticated user acts as itself: a ``claimed`` name that differs raises NotYouError (the
    request is refused, not silently re-attributed). Anonymous requests (loopback without users)
    keep the name they give, as before users existed (default ``anonymous``).
    """
    who = identity(r)
    if who.user is None:
        return (claimed or "anonymous")[:64]
    if claimed and claimed != who.user:
        raise NotYouError(f"you are signed in as {who.user!r}; the request names {claimed[:64]!r}")
    return who.user
