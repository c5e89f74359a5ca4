"""The shipped persistence settings: QoS 1 messages queued for an offline gateway survive kill -9,
losing at most the ``autosave_interval`` changes not yet saved."""

from __future__ import annotations

import re

import pytest

from tests.security.broker import SHIPPED, Probe, ShippedMosquitto
from tests.security.conftest import USERS

pytestmark = pytest.mark.integration

QUEUED = 100


def test_queued_messages_survive_kill_9(broker: ShippedMosquitto) -> None:
    match = re.search(r"^autosave_interval (\d+)$", SHIPPED.read_text(), re.MULTILINE)
    assert match, "the shipped config sets autosave_interval"
    unsaved_max = int(match.group(1))
    gateway = Probe(broker, "gw", USERS["gw"], "cw-gateway-1")
    assert gateway.connect(session_expiry=3600) == 0
    assert gateway.subscribe("cw/v1/dev/+/telemetry") == 1
    gateway.close()
    agent = Probe(broker, "agent-1", USERS["agent-1"], "agent-1")
    try:
        assert agent.connect() == 0
        for i in range(QUEUED):
            assert agent.publish("cw/v1/dev/pile-a1/telemetry", str(i).encode()) == 0
    finally:
        agent.close()
    broker.kill()
    broker.start()
    again = Probe(broker, "gw", USERS["gw"], "cw-gateway-1")
    try:
        assert again.connect(session_expiry=3600) == 0
        again.sync()
        got = [int(p) for _, p, _ in again.got()]
    finally:
        again.close()
    assert got == list(range(len(got))), "queued messages came back out of order or with holes"
    assert QUEUED - unsaved_max <= len(got) <= QUEUED
