"""The outbox's one writer thread: every SQLite call of the agent runs there, none on the loop.

A commit waits for an fsync (``synchronous=full``) and a slow flash card can take hundreds of
milliseconds; on the event loop that would stall every poll and every interlock. So the agent's
:class:`~edge_agent.outbox.Outbox` is opened *in* one dedicated thread, which owns its SQLite
connection (sqlite3 refuses a call from any other thread), and the loop reaches it only through
``await writer.run(fn)``: calls run one at a time in submission order, so the order of
:meth:`run` calls is the order of the writes. Listeners (the MQTT link) are told about committed
and deleted rows on the loop, in commit order, via ``call_soon_threadsafe``.

A caller that opened an :class:`Outbox` itself and uses it on the loop (tests, the drain
benchmark) wraps it with :meth:`OutboxWriter.inline`: the same API, calls made in place.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from edge_agent.outbox.store import Outbox, OutboxListener, Row

T = TypeVar("T")


class _OnLoop:
    """Forwards an outbox listener's calls from the writer thread to the event loop."""

    def __init__(self, listener: OutboxListener, loop: asyncio.AbstractEventLoop) -> None:
        self.listener = listener
        self._loop = loop

    def committed(self, rows: Sequence[Row]) -> None:
        self._loop.call_soon_threadsafe(self.listener.committed, rows)

    def deleted(self, ids: Sequence[int]) -> None:
        self._loop.call_soon_threadsafe(self.listener.deleted, ids)


class OutboxWriter:
    """Async context manager: opens ``outbox`` on its own thread and runs every call there."""

    def __init__(self, outbox: Outbox, *, threaded: bool = True) -> None:
        self.outbox = outbox
        self.threaded = threaded
        self._pool: ThreadPoolExecutor | None = None
        self._wrapped: dict[int, _OnLoop] = {}

    @classmethod
    def inline(cls, outbox: Outbox) -> OutboxWriter:
        """For an outbox the caller opened and uses on the loop: calls run in place."""
        return cls(outbox, threaded=False)

    async def __aenter__(self) -> OutboxWriter:
        if self.threaded:
            self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="outbox-writer")
            try:
                await self.run(self.outbox.open)
            except BaseException:
                self._pool.shutdown(wait=True)
                self._pool = None
                raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        pool = self._pool
        if pool is None:
            return
        try:
            await self.run(self.outbox.close)
        finally:
            self._pool = None
            pool.shutdown(wait=True)

    async def run(self, fn: Callable[[], T]) -> T:
        """``fn()`` on the writer thread (after every call submitted before it)."""
        if self._pool is None:
            if self.threaded:
                raise RuntimeError(f"{self.outbox.path}: outbox writer is not running")
            return fn()
        return await asyncio.get_running_loop().run_in_executor(self._pool, fn)

    async def add_listener(self, listener: OutboxListener) -> None:
        """Tell ``listener`` (on the loop) about every commit from now on."""
        wrapped: OutboxListener = listener
        if self.threaded:
            wrapped = self._wrapped[id(listener)] = _OnLoop(listener, asyncio.get_running_loop())
        await self.run(lambda: self.outbox.add_listener(wrapped))

    async def remove_listener(self, listener: OutboxListener) -> None:
        wrapped: OutboxListener = self._wrapped.pop(id(listener), listener)
        await self.run(lambda: self.outbox.remove_listener(wrapped))
