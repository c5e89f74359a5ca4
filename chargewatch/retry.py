"""The one retry policy of the codebase: capped exponential backoff with full jitter,
bounded by attempts *and* total time, retrying only named exception types (after stamina)."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class Backoff:
    """Delays ``initial * 2**n`` capped at ``cap``, each drawn uniformly from [delay/2, delay]."""

    initial: float = 0.5
    cap: float = 60.0
    attempts: int = 0  # 0 = unbounded
    timeout: float = 0.0  # total seconds; 0 = unbounded
    rng: random.Random = field(default_factory=random.Random, compare=False)

    def __post_init__(self) -> None:
        if self.initial <= 0 or self.cap < self.initial:
            raise ValueError(f"backoff needs 0 < initial <= cap, got initial={self.initial} cap={self.cap}")

    def delay(self, attempt: int) -> float:
        """Delay before retry number ``attempt`` (0-based)."""
        base: float = min(self.cap, self.initial * 2.0 ** min(attempt, 62))
        return base / 2 + self.rng.random() * base / 2

    def delays(self) -> Iterator[float]:
        """Delays until attempts or total time run out."""
        start = time.monotonic()
        n = 0
        while not self.attempts or n < self.attempts - 1:
            d = self.delay(n)
            if self.timeout and time.monotonic() - start + d > self.timeout:
                return
            yield d
            n += 1


async def retry_async(
    fn: Callable[[], Awaitable[T]], on: tuple[type[BaseException], ...], policy: Backoff
) -> T:
    """Await ``fn()``; on an exception in ``on`` sleep per ``policy`` and try again, else re-raise."""
    delays = policy.delays()
    while True:
        try:
            return await fn()
        except on:
            d = next(delays, None)
            if d is None:
                raise
            await asyncio.sleep(d)
