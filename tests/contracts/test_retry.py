"""The one retry policy: capped jittered backoff, bounded by attempts and time, named types only."""

from __future__ import annotations

import random

import pytest

from chargewatch import retry
from chargewatch.retry import Backoff, retry_async


class Flaky:
    """Fails with ``exc`` ``times`` times, then returns the number of calls."""

    def __init__(self, times: int, exc: type[Exception] = ConnectionError) -> None:
        self.times = times
        self.exc = exc
        self.calls = 0

    async def __call__(self) -> int:
        self.calls += 1
        if self.calls <= self.times:
            raise self.exc(f"failure {self.calls}")
        return self.calls


def test_delays_grow_capped_and_jittered() -> None:
    policy = Backoff(initial=1.0, cap=8.0, rng=random.Random(3))
    delays = [policy.delay(n) for n in range(8)]
    for n, d in enumerate(delays):
        base = min(8.0, 2.0**n)
        assert base / 2 <= d <= base, (n, d)
    assert len(set(delays)) == len(delays), "jittered"


def test_a_run_is_bounded_by_attempts_and_restarts_on_success() -> None:
    run = Backoff(initial=0.1, cap=1.0, attempts=3).start()
    err = ConnectionError("down")
    assert run.failed(err) > 0
    assert run.failed(err) > 0
    with pytest.raises(ConnectionError, match="down"):
        run.failed(err)
    run.succeeded()
    assert run.next_delay() is not None


def test_a_run_is_bounded_by_total_time_on_its_clock() -> None:
    now = [0.0]
    run = Backoff(initial=1.0, cap=1.0, timeout=5.0).start(lambda: now[0])
    assert run.next_delay() is not None
    now[0] = 4.5
    assert run.next_delay() is None, "a delay would end past the 5 s budget"
    run.succeeded()
    assert run.next_delay() is not None, "a success starts the clock again"


def test_only_named_exception_types_are_retried() -> None:
    run = Backoff(initial=0.1, cap=1.0, on=(ConnectionError,)).start()
    with pytest.raises(ValueError, match="bad"):
        run.failed(ValueError("bad"))
    assert run.attempt == 0


async def test_retry_async_retries_then_gives_up(no_retry: None) -> None:
    del no_retry
    with retry.for_tests(attempts=3):
        flaky = Flaky(2)
        assert await retry_async(flaky, (ConnectionError,), Backoff(initial=5.0, cap=60.0, attempts=10)) == 3
        hopeless = Flaky(10)
        with pytest.raises(ConnectionError, match="failure 3"):
            await retry_async(hopeless, (ConnectionError,), Backoff(initial=5.0, cap=60.0, attempts=10))
        assert hopeless.calls == 3
    wrong = Flaky(1, ValueError)
    with pytest.raises(ValueError, match="failure 1"):
        await retry_async(wrong, (ConnectionError,), Backoff(initial=5.0, cap=60.0, attempts=10))
    assert wrong.calls == 1


async def test_testing_switches_retrying_off(no_retry: None) -> None:
    del no_retry
    flaky = Flaky(1)
    with pytest.raises(ConnectionError):
        await retry_async(flaky, (ConnectionError,), Backoff(initial=60.0, cap=60.0, attempts=5))
    assert flaky.calls == 1, "one attempt, no retry, no 60 s wait"
    supervisor = Backoff(initial=60.0, cap=60.0).start()
    assert supervisor.next_delay() == 0.0, "unbounded runs keep retrying, without waiting"


def test_testing_is_scoped() -> None:
    with retry.for_tests(max_delay=0.01):
        assert Backoff(initial=1.0, cap=1.0).delay(0) <= 0.01
    assert Backoff(initial=1.0, cap=1.0).delay(0) >= 0.5
