"""The one retry policy of the codebase (after stamina): capped exponential backoff with jitter,
bounded by attempts *and* total time, retrying only named exception types, switchable off in
tests.

* :class:`Backoff` is the policy (frozen, shared): delays ``initial * 2**n`` capped at ``cap``,
  each drawn from ``[delay/2, delay]``; ``attempts`` and ``timeout`` bound a run (0 = unbounded,
  for supervisors that reconnect for as long as they live); ``on`` names what is retried.
* :class:`Retrying` is one run of it: ``failed(exc)`` after a failure gives the delay before the
  next attempt (and re-raises ``exc`` when it is not retryable or the budget is spent),
  ``succeeded()`` starts over. Supervisors and pollers keep one per connection or device.
* :func:`retry_async` retries one awaitable call.
* :func:`for_tests` switches retrying off (as ``stamina.set_testing``): at most ``attempts``
  attempts per bounded run and no delay longer than ``max_delay``.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import random
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class _Testing:
    attempts: int
    max_delay: float


_testing: _Testing | None = None


@contextlib.contextmanager
def for_tests(attempts: int = 1, max_delay: float = 0.0) -> Iterator[None]:
    """While active, bounded runs stop after ``attempts`` attempts and no delay exceeds
    ``max_delay`` (give supervisors a small ``max_delay`` so a reconnect loop does not spin)."""
    global _testing  # noqa: PLW0603 -- one process-wide switch, like stamina's
    if attempts < 1 or max_delay < 0:
        raise ValueError(f"testing needs attempts >= 1 and max_delay >= 0, got {attempts}, {max_delay}")
    before, _testing = _testing, _Testing(attempts, max_delay)
    try:
        yield
    finally:
        _testing = before


@dataclass(frozen=True)
class Backoff:
    """The retry policy: see the module docstring."""

    initial: float = 0.5
    cap: float = 60.0
    attempts: int = 0  # 0 = unbounded
    timeout: float = 0.0  # total seconds; 0 = unbounded
    on: tuple[type[BaseException], ...] = (Exception,)
    rng: random.Random = field(default_factory=random.Random, compare=False)

    def __post_init__(self) -> None:
        if self.initial <= 0 or self.cap < self.initial:
            raise ValueError(f"backoff needs 0 < initial <= cap, got initial={self.initial} cap={self.cap}")
        if self.attempts < 0 or self.timeout < 0:
            raise ValueError(f"backoff needs attempts, timeout >= 0, got {self.attempts}, {self.timeout}")

    @property
    def bounded(self) -> bool:
        return bool(self.attempts or self.timeout)

    def delay(self, attempt: int) -> float:
        """Delay before retry number ``attempt`` (0-based), jittered, capped (and capped by
        :func:`for_tests`)."""
        base: float = min(self.cap, self.initial * 2.0 ** min(attempt, 62))
        d = base / 2 + self.rng.random() * base / 2
        return d if _testing is None else min(d, _testing.max_delay)

    def start(self, now: Callable[[], float] = time.monotonic) -> Retrying:
        """A fresh run of this policy; ``now`` is the clock its total time is measured on."""
        return Retrying(self, now)


class Retrying:
    """One run of a :class:`Backoff`: count failures, give delays, know when to give up."""

    def __init__(self, policy: Backoff, now: Callable[[], float] = time.monotonic) -> None:
        self.policy = policy
        self.attempt = 0
        self._now = now
        self._start = now()

    def succeeded(self) -> None:
        """The operation worked: the next failure starts a new run."""
        self.attempt = 0
        self._start = self._now()

    def next_delay(self) -> float | None:
        """Count a failure; the delay before the next attempt, or None when the budget is spent."""
        p = self.policy
        attempts = p.attempts
        if _testing is not None and p.bounded:
            attempts = min(attempts or _testing.attempts, _testing.attempts)
        if attempts and self.attempt + 1 >= attempts:
            return None
        d = p.delay(self.attempt)
        if p.timeout and self._now() - self._start + d > p.timeout:
            return None
        self.attempt += 1
        return d

    def failed(self, exc: BaseException) -> float:
        """Delay before retrying after ``exc``; re-raises ``exc`` if it is not one of the policy's
        ``on`` types or the attempts or time are used up."""
        if not isinstance(exc, self.policy.on):
            raise exc
        d = self.next_delay()
        if d is None:
            raise exc
        return d


async def retry_async(
    fn: Callable[[], Awaitable[T]],
    on: tuple[type[BaseException], ...] | None = None,
    policy: Backoff | None = None,
) -> T:
    """Await ``fn()``; on an exception in ``on`` (default: the policy's) sleep per ``policy``
    and try again until its attempts or time run out, then re-raise."""
    policy = policy or Backoff(attempts=3)
    if on is not None:
        policy = dataclasses.replace(policy, on=on)
    run = policy.start()
    while True:
        try:
            return await fn()
        except policy.on as exc:
            delay = run.failed(exc)
        await asyncio.sleep(delay)
