"""Group commit: the outbox writes of every bus, committed together on the writer thread.

Bus tasks never open an outbox transaction themselves: after the interlocks have acted, a poll
*stages* its writes (telemetry, transition and interlock events) with :meth:`GroupCommit.stage`
and returns to polling. One named task takes everything staged since the last commit and
commits it in one transaction on the outbox's writer thread
(:class:`~edge_agent.outbox.OutboxWriter`) — one fsync however many buses finished a poll. The
loop never waits for the disk: while a commit runs, polls and interlocks go on and stage the
next batch, so a slow fsync makes the next batch larger instead of stalling safety. Staged
writes keep their order, so per-device seq order is the order the polls were made.

A failed commit rolls back the whole batch (nothing of it was committed, so nothing committed
is lost); the task ends and ``on_failure`` is told, so the owner can stop instead of polling
into a store that no longer accepts writes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from chargewatch.logs import kv
from edge_agent.outbox.writer import OutboxWriter

log = logging.getLogger(__name__)

Write = Callable[[], object]


class GroupCommit:
    """Async context manager owning the commit task of one outbox writer."""

    def __init__(self, writer: OutboxWriter, on_failure: Callable[[BaseException], None]) -> None:
        self.writer = writer
        self.commits = 0
        self.writes = 0
        self._on_failure = on_failure
        self._staged: list[Write] = []
        self._wake = asyncio.Event()
        self._closing = False
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> GroupCommit:
        self._closing = False
        self._task = asyncio.create_task(self._run(), name="outbox-group-commit")
        return self

    async def __aexit__(self, *exc: object) -> None:
        """Commit what is staged, then end the task (a cancelled exit cancels it)."""
        task, self._task = self._task, None
        if task is None:
            return
        self._closing = True
        self._wake.set()
        with contextlib.suppress(Exception):  # logged and reported through on_failure already
            await task

    def stage(self, write: Write) -> None:
        """Queue ``write`` (a call of an Outbox ``add_*`` method) for the next group commit."""
        self._staged.append(write)
        self._wake.set()

    @property
    def staged(self) -> int:
        """Writes waiting for the next commit."""
        return len(self._staged)

    async def flush(self) -> None:
        """Commit every write staged so far, in one transaction on the writer thread."""
        staged, self._staged = self._staged, []
        if not staged:
            return
        outbox = self.writer.outbox

        def commit() -> None:
            with outbox.transaction():
                for write in staged:
                    write()

        await self.writer.run(commit)
        self.commits += 1
        self.writes += len(staged)

    async def _run(self) -> None:
        try:
            while not (self._closing and not self._staged):
                await self._wake.wait()
                self._wake.clear()
                await self.flush()
        except Exception as exc:
            log.exception(kv("outbox_commit_failed", path=self.writer.outbox.path))
            self._on_failure(exc)
            raise
