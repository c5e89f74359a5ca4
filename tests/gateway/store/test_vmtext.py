"""Unit tests of the VictoriaMetrics text encoding (gateway.store._vmtext) and of the v2 store's
write path around it (its HTTP post faked at ``_post``)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.lineproto import line, telemetry_lines
from gateway.store import InfluxV2Store, PartialWriteError
from gateway.store._lineparse import parse_line
from gateway.store._vmtext import CUT_MARK, MARKER, escape, fit, read_label, translate, unescape
from tests.gateway.evidence.support import tel


@given(st.text())
def test_escape_round_trips_and_leaves_no_separator(value: str) -> None:
    label = escape(value)
    assert unescape(label) == value
    assert label
    assert not set(label) & set(',= \\"\n\r\t')


def test_fit_cuts_at_the_limit_with_a_mark() -> None:
    assert fit("中" * 10, 30) == ("中" * 10, False), "30 bytes fit 30"
    assert fit("%", 3) == ("%25", False)
    cut, was_cut = fit("中" * 200, 300)
    assert was_cut
    assert len(cut.encode()) <= 300
    text = unescape(cut)
    assert text.startswith("中" * 10)
    assert f"{CUT_MARK}600 bytes" in text


def test_telemetry_and_number_only_lines_pass_untouched() -> None:
    for text in telemetry_lines(tel(1, 40.0), "s"):
        assert translate(text).text is text
    numbers = line("event", {"device": "d", "kind": "data_gap"}, {"lo": 1.0, "hi": 2.0}, 5)
    assert translate(numbers).text is numbers


def test_a_text_line_becomes_its_numbers_and_a_marker() -> None:
    text = line(
        "command", {"device": "d", "id": "c1"}, {"port": 3.0, "operator": "李 伟", "verified": True}, 7
    )
    numbers, marker = (parse_line(t) for t in translate(text).text.split("\n"))
    assert (numbers.tags, numbers.fields, numbers.ts) == ({"device": "d", "id": "c1"}, {"port": 3.0}, 7)
    assert marker.fields == {MARKER: 1.0}
    assert marker.ts == 7
    assert dict(filter(None, (read_label(k, v) for k, v in marker.tags.items()))) == {
        "operator": "李 伟",
        "verified": True,
    }
    only_text = line("alert", {"device": "d"}, {"state": "firing"}, 9)
    assert [parse_line(t).fields for t in translate(only_text).text.split("\n")] == [{MARKER: 1.0}]


class _Refusing(InfluxV2Store):
    """Answers 400 for any body holding ``poison``, records every body it accepts."""

    def __init__(self) -> None:
        super().__init__("http://127.0.0.1:9", org="o", bucket="b")
        self.stored: list[str] = []

    async def _post(self, body: str) -> str | None:
        if "poison" in body:
            return "bad value"
        self.stored += body.split("\n")
        return None


async def test_a_refused_text_line_is_found_by_bisection_and_reported_as_written() -> None:
    poisoned = line("alert", {"device": "d"}, {"message": "poison"}, 1)
    reserved = line("alert", {"_b_x": "1", "device": "d"}, {"message": "m"}, 2)
    fine = [line("alert", {"device": "d"}, {"message": f"m{i}"}, 10 + i) for i in range(5)]
    store = _Refusing()
    try:
        with pytest.raises(PartialWriteError) as info:
            await store.write([*fine[:2], poisoned, reserved, *fine[2:]])
    finally:
        await store.aclose()
    assert [text for text, _ in info.value.rejected] == [reserved, poisoned]
    assert [why for _, why in info.value.rejected][1] == "bad value"
    assert info.value.accepted == 5
    markers = [parse_line(t) for t in store.stored]
    assert sorted(p.ts for p in markers) == [10, 11, 12, 13, 14]
    assert all(p.fields == {MARKER: 1.0} for p in markers)
