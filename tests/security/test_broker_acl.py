"""The shipped broker config and a generated ACL, walked cell by cell against a real Mosquitto.

Five accounts (two agents, a gateway, a dashboard reader, and an intruder with a valid password
but no ACL lines) × 22 topics × {publish, subscribe}. Every cell's verdict is asserted on the
broker's MQTT 5 reason code (PUBACK 0x87 when denied, SUBACK 1 when allowed) and on what every
subscriber actually received. Mosquitto 2.0.11's acl_file grants every subscription and enforces
read access on each delivery, so a denied subscribe cell is proven by the subscriber receiving
nothing. Then: a forged retained alert never reaches a new subscriber, an agent's will on
another agent's status topic is dropped while its own is delivered, and connections without a
password or with a wrong one are refused.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from tests.security.broker import ACCEPTED, NOT_AUTHORIZED, WAIT_S, Probe, ShippedMosquitto
from tests.security.conftest import DEVICES, LEAVES, LOGIN, USERS

pytestmark = pytest.mark.integration


@dataclass(frozen=True)
class Topic:
    name: str
    kind: str  # device leaf, "agent_status" or "gateway_status"
    owner: str  # device id, agent id or gateway id


TOPICS = [Topic(f"cw/v1/dev/{d}/{leaf}", leaf, d) for ds in DEVICES.values() for d in ds for leaf in LEAVES]
TOPICS += [Topic(f"cw/v1/agent/{a}/status", "agent_status", a) for a in DEVICES]
TOPICS += [Topic(f"cw/v1/gateway/{g}/status", "gateway_status", g) for g in ("cw-gateway-1", "cw-gateway-2")]


def may_write(who: str, t: Topic) -> bool:
    """The intended policy, written independently of the generator."""
    if who in DEVICES:
        own = t.owner in DEVICES[who] and t.kind in {"telemetry", "event", "cmd/reply"}
        return own or (t.kind == "agent_status" and t.owner == who)
    if who == "gateway":
        return t.kind in {"ack", "alert", "cmd"} or (t.kind == "gateway_status" and t.owner == "cw-gateway-1")
    return False


def may_read(who: str, t: Topic) -> bool:
    if who in DEVICES:
        return t.owner in DEVICES[who] and t.kind in {"ack", "cmd"}
    if who == "gateway":
        return t.kind in {"telemetry", "event", "cmd/reply", "agent_status", "gateway_status"}
    if who == "dashboard":
        return t.kind in {"alert", "agent_status", "gateway_status"}
    return False


@pytest.fixture
def probes(broker: ShippedMosquitto) -> Iterator[dict[str, Probe]]:
    out = {who: Probe(broker, LOGIN[who], USERS[LOGIN[who]], f"probe-{who}") for who in LOGIN}
    try:
        for probe in out.values():
            assert probe.connect() == 0, probe.name
        yield out
    finally:
        for probe in out.values():
            probe.close()


def test_every_cell_of_the_acl_matrix(probes: dict[str, Probe]) -> None:
    allowed = denied = 0
    for who, probe in probes.items():
        for t in TOPICS:
            rc = probe.subscribe(t.name)
            # Mosquitto 2.0.11's acl_file grants every SUBSCRIBE (SUBACK 1) and checks read
            # access on each delivery instead, which the delivery assertions below verify for
            # every denied cell; a broker that refuses at SUBACK (0x87) passes too.
            if may_read(who, t):
                allowed += 1
                assert rc == 1, f"{who} subscribe {t.name}: SUBACK {rc:#x}, expected 0x1"
            else:
                denied += 1
                assert rc in {1, NOT_AUTHORIZED}, f"{who} subscribe {t.name}: SUBACK {rc:#x}"
    sent: list[tuple[str, Topic, bytes]] = []
    for who, probe in probes.items():
        for t in TOPICS:
            payload = f"{who}>{t.name}".encode()
            rc = probe.publish(t.name, payload)
            expected = 0 if may_write(who, t) else NOT_AUTHORIZED
            assert rc == expected, f"{who} publish {t.name}: PUBACK {rc:#x}, expected {expected:#x}"
            allowed, denied = allowed + (expected == 0), denied + (expected != 0)
            sent.append((who, t, payload))
    for probe in probes.values():
        probe.sync()
    for reader, probe in probes.items():
        want = sorted((t.name, p) for who, t, p in sent if may_write(who, t) and may_read(reader, t))
        assert sorted((topic, p) for topic, p, _ in probe.got()) == want, (
            f"{reader} received other than allowed"
        )
    # 220 cells = 5 accounts × 22 topics × {subscribe, publish}; allowed: 21 publish + 26 subscribe
    assert (allowed, denied) == (47, 173)


def test_wildcard_subscriptions_reach_only_what_the_acl_allows(probes: dict[str, Probe]) -> None:
    agent = probes["agent-1"]
    for topic_filter in ("cw/v1/dev/+/cmd", "cw/v1/dev/pile-b1/#", "#"):
        assert agent.subscribe(topic_filter) in {1, NOT_AUTHORIZED}
    gateway = probes["gateway"]
    assert gateway.publish("cw/v1/dev/pile-b1/cmd", b"for agent-2") in ACCEPTED
    assert gateway.publish("cw/v1/dev/pile-a1/cmd", b"for agent-1") in ACCEPTED
    agent.sync()
    assert {(t, p) for t, p, _ in agent.got()} == {("cw/v1/dev/pile-a1/cmd", b"for agent-1")}


def test_forged_retained_alert_never_reaches_a_new_subscriber(
    broker: ShippedMosquitto, probes: dict[str, Probe]
) -> None:
    real = b'{"type":"alert","state":"firing","by":"gateway"}'
    assert probes["gateway"].publish("cw/v1/dev/pile-a1/alert", real, retain=True) in ACCEPTED
    for who in ("agent-1", "agent-2", "dashboard", "intruder"):
        assert (
            probes[who].publish("cw/v1/dev/pile-a1/alert", b"forged by " + who.encode(), retain=True)
            == NOT_AUTHORIZED
        )
        assert (
            probes[who].publish("cw/v1/dev/pile-b1/alert", b"forged by " + who.encode(), retain=True)
            == NOT_AUTHORIZED
        )
    late = Probe(broker, "dashboard", USERS["dashboard"], "late-dashboard")
    try:
        assert late.connect() == 0
        assert late.subscribe("cw/v1/dev/+/alert") == 1
        late.sync()
        assert late.got() == [("cw/v1/dev/pile-a1/alert", real, True)]
    finally:
        late.close()


def test_a_will_counts_only_on_the_agents_own_status_topic(
    broker: ShippedMosquitto, probes: dict[str, Probe]
) -> None:
    gateway = probes["gateway"]
    assert gateway.subscribe("cw/v1/agent/+/status") == 1
    forger = Probe(broker, "agent-1", USERS["agent-1"], "agent-1-forged-will")
    honest = Probe(broker, "agent-two", USERS["agent-two"], "agent-2-own-will")
    assert forger.connect(will=("cw/v1/agent/agent-2/status", b"forged offline")) == 0
    assert honest.connect(will=("cw/v1/agent/agent-2/status", b"agent-2 offline")) == 0
    # one after the other, each once the broker has handled it: the forger's will, had it been
    # published, would then reach the gateway before the honest one
    forger.drop_with_will()
    broker.wait_log("Client agent-1-forged-will disconnected")
    honest.drop_with_will()
    broker.wait_log("Client agent-2-own-will disconnected")
    gateway.wait_count(1)
    gateway.sync()
    late = Probe(broker, "gw", USERS["gw"], "late-gateway")
    try:
        assert late.connect() == 0
        assert late.subscribe("cw/v1/agent/+/status") == 1
        late.sync()
        assert gateway.got() == [("cw/v1/agent/agent-2/status", b"agent-2 offline", False)]
        assert late.got() == [("cw/v1/agent/agent-2/status", b"agent-2 offline", True)]
    finally:
        late.close()
    assert "forged offline" not in broker.broker_log()


@pytest.mark.parametrize(("username", "password"), [(None, None), ("agent-1", "wrong"), ("nobody", "pw-a1")])
def test_no_access_without_a_valid_password(
    broker: ShippedMosquitto, username: str | None, password: str | None
) -> None:
    probe = Probe(broker, username, password, "stranger")
    try:
        assert probe.connect() in {0x86, NOT_AUTHORIZED}  # bad user name or password / not authorised
    finally:
        probe.close()


def test_a_packet_past_max_packet_size_disconnects_its_sender(probes: dict[str, Probe]) -> None:
    agent = probes["agent-1"]
    agent.send("cw/v1/dev/pile-a1/telemetry", b"x" * 70_000)
    assert agent.disconnected.wait(WAIT_S), "the broker kept a client that sent a 70 KB packet"
    gateway = probes["gateway"]
    assert gateway.subscribe("cw/v1/dev/+/telemetry") == 1
    assert probes["agent-2"].publish("cw/v1/dev/pile-b1/telemetry", b"y" * 60_000) == 0
    gateway.sync()
    assert [(t, len(p)) for t, p, _ in gateway.got()] == [("cw/v1/dev/pile-b1/telemetry", 60_000)]
