"""The ``TimeSeriesStore`` protocol every backend implements, and what they share."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from chargewatch.logs import kv
from gateway.store.errors import PartialWriteError, UnknownSeriesError

log = logging.getLogger(__name__)

Field = float | str | bool
#: every measurement the gateway writes (gateway.lineproto, the ingest pipeline, the command audit)
MEASUREMENTS = frozenset({"port", "pile", "blocker", "event", "alert", "session", "gateway", "command"})


@dataclass(frozen=True, slots=True)
class Row:
    """One point read back: ``ts`` in milliseconds since the epoch."""

    ts: int
    tags: dict[str, str]
    fields: dict[str, Field]


class TimeSeriesStore(Protocol):
    """Write line protocol (ms precision) and answer the HTTP API's queries.

    ``write`` returns only when every line is stored; otherwise it raises
    :class:`~gateway.store.errors.StoreUnavailableError` (retry later),
    :class:`~gateway.store.errors.StoreConfigError` (401/403/404: keep the data, alert) or
    :class:`~gateway.store.errors.PartialWriteError` (the listed lines were rejected, the rest stored).
    """

    name: str

    async def write(self, lines: Sequence[str]) -> None: ...

    async def last(self, measurement: str, where: Mapping[str, str] | None = None) -> list[Row]:
        """The newest point of every series of ``measurement`` whose tags match ``where``."""
        ...

    async def series(
        self,
        measurement: str,
        fields: Sequence[str],
        where: Mapping[str, str] | None,
        start_ms: int,
        end_ms: int,
    ) -> list[Row]:
        """Points in ``[start_ms, end_ms)`` ordered by time, holding only ``fields``."""
        ...

    async def count(
        self, measurement: str, field: str, where: Mapping[str, str] | None, start_ms: int, end_ms: int
    ) -> int:
        """How many points in ``[start_ms, end_ms)`` carry ``field``."""
        ...

    async def aclose(self) -> None: ...


Sender = Callable[[Sequence[str]], Awaitable[str | None]]


async def bisect_rejects(send: Sender, lines: Sequence[str], reason: str) -> list[tuple[str, str]]:
    """Find the lines of a rejected batch that the store refuses, by re-sending halves.

    ``send`` returns ``None`` when the store accepted a batch, or the store's reason for a 400.
    Re-sent good lines overwrite themselves (source timestamps), so nothing is duplicated.
    """
    if len(lines) == 1:
        return [(lines[0], reason)]
    mid = len(lines) // 2
    rejected: list[tuple[str, str]] = []
    for half in (lines[:mid], lines[mid:]):
        why = await send(half)
        if why is not None:
            rejected += await bisect_rejects(send, half, why)
    return rejected


async def write_or_bisect(store: str, send: Sender, lines: Sequence[str]) -> None:
    """Send ``lines``; on a 400 find the refused lines and raise PartialWriteError with them
    (the accepted rest is already stored)."""
    if not lines:
        return
    reason = await send(lines)
    if reason is None:
        return
    rejected = await bisect_rejects(send, lines, reason)
    if rejected:
        log.warning(kv("store_lines_rejected", store=store, rejected=len(rejected)))
        raise PartialWriteError(store, rejected, len(lines) - len(rejected))


def influxql_ident(name: str) -> str:
    """A double-quoted InfluxQL identifier."""
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def influxql_string(value: str) -> str:
    """A single-quoted InfluxQL string literal."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def check_known(store: str, measurement: str, fields: Sequence[str], known: set[str]) -> None:
    """Raise UnknownSeriesError for a measurement outside the layout that holds no data, or when
    none of ``fields`` is held by the measurement. A measurement with no data yet has no known
    fields and passes (its query is simply empty), and so does a query of several fields of
    which some are not written yet (the command audit trail asks for the reply's fields too)."""
    if not known:
        if measurement not in MEASUREMENTS:
            raise UnknownSeriesError(store, measurement, "", sorted(MEASUREMENTS))
        return
    if fields and not any(field in known for field in fields):
        raise UnknownSeriesError(store, measurement, ", ".join(fields), sorted(known))
