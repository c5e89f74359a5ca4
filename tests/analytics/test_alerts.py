"""Alert lifecycle: pending → firing → resolved, hysteresis, dedupe, grouping, acknowledge."""

from __future__ import annotations

from analytics.alerts import AlertManager, AlertSpec, Condition

KINDS = ("hot",)


def _mgr() -> AlertManager:
    return AlertManager({"hot": AlertSpec(for_s=30.0, clear_s=60.0)})


def _hot(port: int = 0, sev: str = "warning") -> list[Condition]:
    return [Condition(port, "hot", sev, "hot")]  # type: ignore[arg-type]


def _ev(port: int | None) -> list[dict[str, float | str | None]]:
    return [{"port": float(port or 0), "socket_temp": 90.0}]


def test_pending_then_firing_after_the_confirmation_window() -> None:
    m = _mgr()
    first = m.evaluate(0.0, "p1", KINDS, _hot(), _ev)
    assert [c.state for c in first] == ["pending"]
    assert m.evaluate(10.0, "p1", KINDS, _hot(), _ev) == []
    fired = m.evaluate(30.0, "p1", KINDS, _hot(), _ev)
    assert [c.state for c in fired] == ["firing"]
    assert fired[0].id == first[0].id, "one stable id per episode"
    assert fired[0].evidence == [{"port": 0.0, "socket_temp": 90.0}]


def test_short_blip_never_fires() -> None:
    m = _mgr()
    m.evaluate(0.0, "p1", KINDS, _hot(), _ev)
    changes = m.evaluate(5.0, "p1", KINDS, [], _ev)
    assert [c.state for c in changes] == ["resolved"]
    assert m.active() == []


def test_firing_resolves_only_after_clear_time_and_flapping_does_not_resolve() -> None:
    m = _mgr()
    m.evaluate(0.0, "p1", KINDS, _hot(), _ev)
    m.evaluate(30.0, "p1", KINDS, _hot(), _ev)
    assert m.evaluate(40.0, "p1", KINDS, [], _ev) == []
    assert m.evaluate(80.0, "p1", KINDS, _hot(), _ev) == []
    assert m.evaluate(90.0, "p1", KINDS, [], _ev) == []
    assert m.evaluate(140.0, "p1", KINDS, [], _ev) == []
    resolved = m.evaluate(150.0, "p1", KINDS, [], _ev)
    assert [c.state for c in resolved] == ["resolved"]


def test_escalation_updates_the_same_alert() -> None:
    m = _mgr()
    m.evaluate(0.0, "p1", KINDS, _hot(), _ev)
    m.evaluate(30.0, "p1", KINDS, _hot(), _ev)
    up = m.evaluate(31.0, "p1", KINDS, _hot(sev="critical"), _ev)
    assert [(c.state, c.severity) for c in up] == [("firing", "critical")]
    assert len(m.active()) == 1


def test_other_kinds_are_not_cleared_by_a_rule_that_does_not_own_them() -> None:
    m = _mgr()
    m.evaluate(0.0, "p1", KINDS, _hot(), _ev)
    assert m.evaluate(1.0, "p1", ("smoke",), [], _ev) == []
    assert len(m.active()) == 1
