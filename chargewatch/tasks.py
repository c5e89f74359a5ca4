"""Shutting down tasks we own: the one cancel-and-await helper of the codebase.

``await cancel_and_wait(*tasks)`` cancels every task, waits until each has ended, and then
re-raises the first exception one of them ended with (other than being cancelled). A
``CancelledError`` is absorbed only when it is the tasks' own: if the caller is itself being
cancelled while it waits, that cancellation propagates (``Task.cancelling()``), so a shutdown
never swallows the cancel of whoever is shutting down.
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
    first: BaseException | None = None
    for task in live:
        try:
            await task
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if current is not None and current.cancelling():
                raise
        except Exception as exc:
            first = first or exc
    if first is not None:
        raise first
