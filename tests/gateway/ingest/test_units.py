"""Unit tests of the ingest parts with no I/O: dedupe, acks, validation, liveness, alert book."""

from __future__ import annotations

from pathlib import Path

import pytest

from chargewatch.errors import ConfigError
from chargewatch.messages import AckRange, Status, Telemetry, encode
from gateway.config import load_config
from gateway.ingest.acks import AckBatcher
from gateway.ingest.alerts import AlertBook, AlertChange, ThresholdRule
from gateway.ingest.dedupe import SeqTracker, Verdict
from gateway.ingest.state import IngestState
from gateway.ingest.validate import RejectedError, TimePolicy, check
from gateway.liveness import KnownDevices, Liveness
from gateway.metrics import Metrics, UnknownMetricError, parse_text

NOW = 1_750_000_000.0
POLICY = TimePolicy(max_future_skew=60.0, retention=86400.0)


def _tel(device: str = "p1", seq: int = 0, ts: float = NOW, temp: float = 30.0) -> Telemetry:
    return Telemetry(
        device=device, boot=1, seq=seq, ts=ts, model="cw-pile-10", ports={"socket_temp": [temp, temp]}
    )


def test_dedupe_out_of_order_is_not_duplicate_nor_gap() -> None:
    t = SeqTracker(gap_timeout=10.0)
    assert t.observe("d", 1, 0, NOW) is Verdict.NEW
    assert t.observe("d", 1, 5, NOW) is Verdict.NEW  # event jumped the queue
    assert [t.observe("d", 1, s, NOW + 1) for s in (1, 2, 3, 4)] == [Verdict.LATE] * 4
    assert t.observe("d", 1, 3, NOW + 2) is Verdict.DUPLICATE
    assert t.due_gaps(NOW + 100) == []


def test_dedupe_gap_reported_once_after_timeout_and_late_fill_still_accepted() -> None:
    t = SeqTracker(gap_timeout=10.0)
    t.observe("d", 1, 0, NOW)
    t.observe("d", 1, 10, NOW)
    assert t.due_gaps(NOW + 5) == []
    gaps = t.due_gaps(NOW + 11)
    assert [(g.lo, g.hi, g.size) for g in gaps] == [(1, 9, 9)]
    assert t.due_gaps(NOW + 50) == []
    assert t.observe("d", 1, 4, NOW + 60) is Verdict.LATE


def test_dedupe_first_contact_is_not_a_gap_but_a_new_boot_is() -> None:
    t = SeqTracker(gap_timeout=10.0)
    assert t.observe("d", 1, 500, NOW) is Verdict.NEW  # gateway met this device mid-boot
    assert t.observe("d", 1, 499, NOW) is Verdict.LATE  # its backlog is still accepted
    assert t.due_gaps(NOW + 60) == []
    assert t.observe("d", 2, 7, NOW + 60) is Verdict.NEW  # event of a new boot jumped the queue
    assert [(g.boot, g.lo, g.hi) for g in t.due_gaps(NOW + 100)] == [(2, 0, 6)]


def test_dedupe_boots_are_separate_and_state_round_trips(tmp_path: Path) -> None:
    t = SeqTracker()
    t.observe("d", 1, 0, NOW)
    t.observe("d", 2, 0, NOW)
    state = IngestState(tmp_path / "s.sqlite")
    state.save_marks(t.take_dirty())
    t2 = SeqTracker()
    t2.load(state.load_marks())
    assert t2.observe("d", 1, 0, NOW) is Verdict.DUPLICATE
    assert t2.observe("d", 2, 1, NOW) is Verdict.NEW


def test_ack_batcher_compresses_per_device_and_boot() -> None:
    b = AckBatcher()
    for s in (5, 4, 6):
        b.add("d", 3, s)
    b.add("e", 1, 0)
    acks = b.take()
    assert {(a.device, a.boot, tuple(a.ranges)) for a in acks} == {
        ("d", 3, (AckRange(4, 6),)),
        ("e", 1, (AckRange(0, 0),)),
    }
    assert b.take() == []


@pytest.mark.parametrize(
    ("topic", "payload", "reason"),
    [
        ("cw/v1/dev/p1/telemetry", b"{not json", "malformed"),
        ("cw/v1/dev/p1/telemetry", b'{"type":"telemetry","device":"p1","boot":"x"}', "schema"),
        ("cw/v1/dev/p1/telemetry", b"[" + b"1," * 70000 + b"1]", "too_large"),
        ("cw/v1/dev/p1/telemetry", encode(_tel(device="p2")), "identity"),
        ("cw/v1/dev/p1/telemetry", encode(_tel(ts=NOW + 3600)), "future_ts"),
        ("cw/v1/dev/p1/telemetry", encode(_tel(ts=NOW - 90000)), "too_old"),
        ("cw/v1/dev/p1/bogus", encode(_tel()), "bad_topic"),
        ("cw/v1/dev/p1/event", encode(_tel()), "schema"),
        (
            "cw/v1/dev/p1/telemetry",
            encode(_tel()).replace(b"30.0,30.0", b"NaN,30.0"),
            "malformed",
        ),
        (
            "cw/v1/dev/p1/telemetry",
            encode(_tel()).replace(b"30.0,30.0", b"1e999,30.0"),
            "schema",
        ),
        (
            "cw/v1/dev/p1/telemetry",
            encode(_tel()).replace(b'"device":"p1"', b'"device":"p1\\",x=1 drop"'),
            "schema",
        ),
    ],
)
def test_validation_rejects_with_reason(topic: str, payload: bytes, reason: str) -> None:
    with pytest.raises(RejectedError) as info:
        check(topic, payload, NOW, POLICY)
    assert info.value.reason == reason


def test_liveness_silence_and_stale_will() -> None:
    live = Liveness(offline_after=15.0, known=KnownDevices(["p1"]))  # p1 has marks in the state db
    up = Status(agent="a1", online=True, boot=2, ts=NOW, devices=["p1"])
    assert [t.online for t in live.status("a1", up, NOW)] == [True]
    stale_will = Status(agent="a1", online=False, boot=1, ts=NOW - 100, devices=["p1"])
    assert live.status("a1", stale_will, NOW + 1) == []
    assert live.online("p1")
    assert live.tick(NOW + 10) == []
    assert [(t.device, t.online) for t in live.tick(NOW + 16)] == [("p1", False)]
    fresh_will = Status(agent="a1", online=False, boot=2, ts=NOW + 20, devices=["p1"])
    live.seen("p1", NOW + 20)
    assert [t.online for t in live.status("a1", fresh_will, NOW + 21)] == [False]


def test_threshold_rule_and_book_make_one_alert_per_episode(tmp_path: Path) -> None:
    rule = ThresholdRule(point="socket_temp", limit=80.0, clear_below=70.0, samples=3)
    state = IngestState(tmp_path / "s.sqlite")
    book = AlertBook(state)
    changes: list[AlertChange] = []
    for i, temp in enumerate([85.0, 86.0, 87.0, 88.0, 60.0]):
        changes += rule.process_telemetry(_tel(seq=i, ts=NOW + i, temp=temp))
    assert [c.state for c in changes] == ["firing", "firing", "resolved", "resolved"]  # two ports
    alerts = [a for a in map(book.apply, changes) if a is not None]
    assert [(a.id, a.state) for a in alerts] == [
        ("p1.0.socket_temp_high.1", "firing"),
        ("p1.1.socket_temp_high.1", "firing"),
        ("p1.0.socket_temp_high.1", "resolved"),
        ("p1.1.socket_temp_high.1", "resolved"),
    ]
    # a restarted rule re-fires the next episode under a new id; a repeat of an open one is silent
    again = AlertChange(
        device="p1", port=0, kind="socket_temp_high", state="firing", severity="critical", ts=NOW
    )
    first = book.apply(again)
    assert first is not None
    assert first.id == "p1.0.socket_temp_high.2"
    assert book.apply(again) is None
    acked = AlertBook(IngestState(tmp_path / "s.sqlite")).acknowledge(first.id, "op", NOW)
    assert acked.acked_by == "op"
    with pytest.raises(KeyError):
        book.acknowledge("nope", "op", NOW)


def test_a_metric_name_not_declared_raises() -> None:
    m = Metrics()
    with pytest.raises(UnknownMetricError, match="cw_ingest_message_total"):
        m.inc("cw_ingest_message_total")
    with pytest.raises(UnknownMetricError, match="DECLARED"):
        m.set("cw_spool_dept", 1.0)
    assert "cw_ingest_message_total" not in m.render()
    assert "cw_ingest_messages_total 0.0" in m.render(), "declared series are rendered before first use"


def test_metrics_text_parses() -> None:
    m = Metrics()
    m.inc("cw_ingest_rejected_total", reason='we"ird')
    m.inc("cw_ingest_messages_total", 5)
    parsed = parse_text(m.render())
    assert parsed["cw_ingest_messages_total"] == 5.0
    assert parsed["cw_ingest_rejected_total"] == 1.0


@pytest.mark.parametrize(
    ("yaml_text", "needle"),
    [
        ("mqtt: {client_id: gw1, clean_session: true}\n", "`mqtt.clean_session` was removed"),
        ("mqtt: {client_id: ''}\n", "mqtt.client_id"),
        ("mqtt: {client_id: gw-random-1}\n", "is not a stable id"),
        (
            "mqtt: {client_id: gw1, keepalive: 30}\n",
            "`mqtt.keepalive` was renamed. Fix: write `mqtt.keepalive_s`",
        ),
        ("mqtt: {client_id: gw1}\nbogus: 1\n", "bogus"),
        ("mqtt: {client_id: gw1, password: hunter2}\n", "password"),
        ("mqtt: {client_id: gw1}\nstore: {kind: influx_v2}\n", "store.org"),
        ("mqtt: {client_id: gw1, username: gw, password_env: CW_NOPE_NOT_SET}\n", "CW_NOPE_NOT_SET"),
    ],
)
def test_config_errors_name_file_and_key(tmp_path: Path, yaml_text: str, needle: str) -> None:
    path = tmp_path / "gw.yaml"
    path.write_text(yaml_text)
    with pytest.raises(ConfigError) as info:
        load_config(path).mqtt.resolve_password()
    assert str(path) in str(info.value) or "mqtt" in str(info.value)
    assert needle in str(info.value)


def test_example_config_is_valid() -> None:
    cfg = load_config(Path(__file__).resolve().parents[3] / "configs" / "gateway.example.yaml")
    assert cfg.mqtt.client_id == "cw-gateway-1"
    assert cfg.mqtt.keepalive_s == 30
