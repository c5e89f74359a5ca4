"""StopSignals: a SIGTERM during start-up ends the command cleanly, one after start-up calls stop.

Real signals sent to this process (the handlers are the event loop's, as in the CLI commands).
"""

from __future__ import annotations

import asyncio
import os
import signal

import pytest

from chargewatch.signals import StopSignals


async def test_a_signal_during_start_up_cancels_it_and_the_block_ends_normally() -> None:
    steps: list[str] = []

    async def start_up() -> None:
        try:
            steps.append("starting")
            os.kill(os.getpid(), signal.SIGTERM)
            await asyncio.sleep(30)
            steps.append("started")
        finally:
            steps.append("closed")

    async with asyncio.timeout(10):
        with StopSignals() as sigs:
            await start_up()
            sigs.attach(lambda: steps.append("stop"))
    assert steps == ["starting", "closed"]
    assert sigs.received is signal.SIGTERM
    current = asyncio.current_task()
    assert current is not None
    assert current.cancelling() == 0
    # the handlers are gone: the loop no longer routes SIGTERM to this object
    assert not asyncio.get_running_loop().remove_signal_handler(signal.SIGTERM)


async def test_a_signal_once_attached_calls_stop_and_nothing_is_cancelled() -> None:
    stopped = asyncio.Event()
    with StopSignals() as sigs:
        sigs.attach(stopped.set)
        os.kill(os.getpid(), signal.SIGINT)
        async with asyncio.timeout(10):
            await stopped.wait()
    assert sigs.received is signal.SIGINT


async def test_a_start_up_that_absorbs_the_cancel_is_stopped_at_once_on_attach() -> None:
    calls: list[str] = []

    async def stubborn_start_up() -> None:
        os.kill(os.getpid(), signal.SIGTERM)
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            current = asyncio.current_task()
            assert current is not None
            current.uncancel()

    async with asyncio.timeout(10):
        with StopSignals() as sigs:
            await stubborn_start_up()
            sigs.attach(lambda: calls.append("stop"))
    assert calls == ["stop"]


async def test_an_error_in_start_up_is_not_swallowed() -> None:
    with pytest.raises(RuntimeError, match="start-up failed"), StopSignals():
        raise RuntimeError("start-up failed")
