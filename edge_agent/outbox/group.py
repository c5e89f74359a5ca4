"""Group commit: the outbox writes of every bus, committed together once per loop tick.

Bus tasks never open an outbox transaction themselves: after the interlocks have acted, a poll
*stages* its writes (telemetry, transition and interlock events) with :meth:`GroupCommit.stage`
and returns to polling. One named task wakes once per loop tick and commits everything staged
since the last commit in one transaction — one fsync however many buses finished a poll, and
a slow fsync makes the next batch larger instead of multiplying. Staged writes keep their
order, so per-device seq order is the order the polls were made.

A failed commit rolls back the whole batch (nothing of it was committed, so nothing committed
is lost); the task ends and ``on_failure`` is told, so the owner can stop instead of polling
into a store that no longer accepts writes.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from chargewatch.logs import kv
from edge_agent.outbox.store import Outbox

log = logging.getLogger(__name__)

Write = Callable[[], object]


class GroupCommit:
    """Async context manager owning the commit task of one outbox."""

    def __init__(self, outbox: Outbox, on_failure: Callable[[BaseException], None]) -> None:
        self.outbox = outbox
        self.commits = 0
        self.writes = 0
        self._on_failure = on_failure
        self._staged: list[Write] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> GroupCommit:
        self._task = asyncio.create_task(self._run(), name="outbox-group-commit")
        return self

    async def __aexit__(self, *exc: object) -> None:
        task, self._task = self._task, None
        failed = False
        if task is not None:
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                current = asyncio.current_task()
                if current is not None and current.cancelling():
                    raise
            except Exception:  # logged and reported through on_failure already
                failed = True
        if not failed:
            self.flush()

    def stage(self, write: Write) -> None:
        """Queue ``write`` (a call of an Outbox ``add_*`` method) for the next group commit."""
        self._staged.append(write)
        self._wake.set()

    @property
    def staged(self) -> int:
        """Writes waiting for the next commit."""
        return len(self._staged)

    def flush(self) -> None:
        """Commit every staged write now, in one transaction."""
        staged, self._staged = self._staged, []
        if not staged:
            return
        with self.outbox.transaction():
            for write in staged:
                write()
        self.commits += 1
        self.writes += len(staged)

    async def _run(self) -> None:
        try:
            while True:
                await self._wake.wait()
                self._wake.clear()
                self.flush()
        except Exception as exc:
            log.exception(kv("outbox_commit_failed", path=self.outbox.path))
            self._on_failure(exc)
            raise
