"""cancel_and_wait: every task ends, their errors surface, our own cancellation is never swallowed."""

from __future__ import annotations

import asyncio

import pytest

from chargewatch.tasks import cancel_and_wait


async def _forever() -> None:
    await asyncio.Event().wait()


async def _fails_on_cancel() -> None:
    try:
        await asyncio.Event().wait()
    except asyncio.CancelledError:
        raise RuntimeError("cleanup failed") from None


async def test_cancels_and_awaits_every_task() -> None:
    tasks = [asyncio.create_task(_forever(), name=f"t{i}") for i in range(3)]
    await cancel_and_wait(*tasks, None)
    assert all(t.cancelled() for t in tasks)


async def test_an_error_surfaces_after_every_task_has_ended() -> None:
    bad = asyncio.create_task(_fails_on_cancel())
    good = asyncio.create_task(_forever())
    await asyncio.sleep(0)
    with pytest.raises(RuntimeError, match="cleanup failed"):
        await cancel_and_wait(bad, good)
    assert good.cancelled()


async def test_our_own_cancellation_propagates() -> None:
    stubborn_started = asyncio.Event()

    async def stubborn() -> None:
        stubborn_started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            await asyncio.sleep(0.05)  # slow cleanup: the owner is cancelled meanwhile
            raise

    inner = asyncio.create_task(stubborn())

    async def owner() -> str:
        await stubborn_started.wait()
        await cancel_and_wait(inner)
        return "finished"  # must not be reached: the owner was cancelled

    outer = asyncio.create_task(owner())
    await stubborn_started.wait()
    await asyncio.sleep(0.01)
    outer.cancel()
    with pytest.raises(asyncio.CancelledError):
        await outer
    assert inner.done()


async def test_cleanup_while_already_cancelled_completes() -> None:
    cleaned: list[str] = []
    inner = asyncio.create_task(_forever())

    async def owner() -> None:
        try:
            await asyncio.Event().wait()
        finally:  # unwinding our own cancellation: the helper must not cut the cleanup short
            await cancel_and_wait(inner)
            cleaned.append("after")

    outer = asyncio.create_task(owner())
    await asyncio.sleep(0)
    outer.cancel()
    with pytest.raises(asyncio.CancelledError):
        await outer
    assert inner.cancelled()
    assert cleaned == ["after"]
