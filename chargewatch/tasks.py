"""Shutting down tasks we own: the one cancel-and-await helper of the codebase.

``await cancel_and_wait(*tasks)`` cancels every task, waits until each has ended, and then
re-raises the first exception one of them ended with (other than being cancelled). A
``CancelledError`` is absorbed when it is the tasks' own; if the caller itself is cancelled
*while it waits* (its ``Task.cancelling()`` count grew), that cancellation is re-raised once
every task has ended, so a shutdown never swallows the cancel of whoever is shutting down. A
caller already unwinding a cancellation (cleanup in ``__aexit__``/``finally``) gets its tasks
ended and goes on with the rest of its cleanup; its cancellation is already propagating.
"""

from __future__ import annotations

import asyncio
from typing import Any

__all__ = ["cancel_and_wait"]


async def cancel_and_wait(*tasks: asyncio.Future[Any] | None) -> None:
    """Cancel ``tasks`` (None entries are skipped), await them all, re-raise the first error."""
    live = [t for t in tasks if t is not None]
    for task in live:
        task.cancel()
    current = asyncio.current_task()
    before = current.cancelling() if current is not None else 0
    first: BaseException | None = None
    for task in live:
        try:
            await task
        except asyncio.CancelledError as exc:
            if current is not None and current.cancelling() > before:
                first = exc  # a cancel aimed at us: raised once every task has ended
                before = current.cancelling()
        except Exception as exc:  # kept, and re-raised once every task has ended
            first = first or exc
    if first is not None:
        raise first
