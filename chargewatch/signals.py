"""SIGINT/SIGTERM for a long-running command, installed before its component starts.

``with StopSignals() as sigs: async with Component(...) as c: sigs.attach(c.stop); await c.wait()``

The handlers are in place from the first line of the command, so a signal that arrives while the
component is still starting (a service manager stopping a unit it just started) never meets
Python's default action, which would end the process with no cleanup and exit code -15. A signal
during start-up cancels the start-up (every part already entered is closed on the way out) and the
block ends normally; a signal once the component is attached calls its ``stop``.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable
from types import TracebackType

from chargewatch.logs import kv

__all__ = ["StopSignals"]

log = logging.getLogger(__name__)
SIGNALS = (signal.SIGINT, signal.SIGTERM)


class StopSignals:
    """Route SIGINT/SIGTERM to a component's ``stop``, or cancel its start-up if it is not up yet."""

    def __init__(self) -> None:
        self.received: signal.Signals | None = None
        self._stop: Callable[[], None] | None = None
        self._task: asyncio.Task[object] | None = None

    def __enter__(self) -> StopSignals:
        loop = asyncio.get_running_loop()
        self._task = asyncio.current_task()
        for sig in SIGNALS:
            loop.add_signal_handler(sig, self._on_signal, sig)
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> bool:
        loop = asyncio.get_running_loop()
        for sig in SIGNALS:
            loop.remove_signal_handler(sig)
        task = self._task
        if exc_type is asyncio.CancelledError and self._cancelled_start_up() and task is not None:
            task.uncancel()
            log.info(kv("stopped_during_start_up", signal=self.received.name if self.received else None))
            return True
        return False

    def attach(self, stop: Callable[[], None]) -> None:
        """The component is up: a signal now calls ``stop`` (at once if one already came)."""
        self._stop = stop
        if self.received is not None:
            stop()

    def _cancelled_start_up(self) -> bool:
        return self.received is not None and self._stop is None

    def _on_signal(self, sig: signal.Signals) -> None:
        first = self.received is None
        self.received = sig
        log.info(kv("signal_received", signal=sig.name, started=self._stop is not None))
        if self._stop is not None:
            self._stop()
        elif first and self._task is not None:
            self._task.cancel()
