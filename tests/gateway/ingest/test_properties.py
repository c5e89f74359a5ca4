"""Property tests (Hypothesis) over decode → validate → line protocol → analytics.

Three properties, 100,000 examples in all, derandomized and database-free so CI is
reproducible (Hypothesis costs about half a millisecond per example by itself, so the bulk draw
a seed and let the shared :class:`gateway.fuzz.Fuzzer` build the input from it):

* ``test_the_real_pipeline_holds_under_hostile_batches`` (5,000 examples): batches of 1–6
  fuzzer inputs through the real :class:`IngestPipeline`, real SQLite ingest state and the real
  analytics :class:`analytics.Pipeline`; no exception escapes, every input is accepted,
  rejected or a duplicate (each dead-lettered with a reason), every line matches the
  line-protocol grammar.
* ``test_structured_messages_validate_or_reject`` (1,000): Hypothesis-built telemetry and events
  close to the contract (known names, right and wrong column lengths, any JSON value anywhere).
* ``test_seeded_inputs_validate_or_reject`` (5 × 18,800): random bytes alone or spliced into a good
  message, and every fuzzer kind. In both, each input is either rejected with a known reason and
  a detail, or accepted, encodes to well-formed lines and goes through the analytics (in
  batches of 64, as the gateway feeds them) without raising.
"""

from __future__ import annotations

import asyncio
import json
import random
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from analytics import Pipeline
from chargewatch import topics
from chargewatch.messages import Telemetry
from chargewatch.profiles import PROFILE_DIR, load_profile
from gateway.bench_fuzz import LINE, START, Harness
from gateway.fuzz import Fuzzer
from gateway.ingest.validate import RejectedError, TimePolicy, Validator
from gateway.lineproto import event_lines, telemetry_lines
from gateway.store._lineparse import parse_line

PIPELINE_EXAMPLES = 5_000
STRUCTURED_EXAMPLES = 1_000
SEEDED_EXAMPLES_PER_MODE = 18_800  # x 5 modes: 100,000 examples in all
REASONS = {
    "malformed",
    "schema",
    "too_large",
    "bad_topic",
    "identity",
    "future_ts",
    "too_old",
    "unknown_model",
    "ragged_columns",
    "port_count",
    "unknown_point",
    "impossible_value",
    "bad_port",
}
_FAST = settings(
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
    print_blob=True,
    phases=[Phase.generate, Phase.shrink],  # no database to reuse; a failure prints its blob
)
PROFILES = {p.model: p for p in map(load_profile, sorted(PROFILE_DIR.glob("*.yaml")))}
POINTS = sorted({p.name for prof in PROFILES.values() for p in prof.points})
POLICY = TimePolicy(max_future_skew=300.0, retention=400 * 86400.0, stale_after=300.0)


def test_the_real_pipeline_holds_under_hostile_batches(tmp_path: Path) -> None:
    harness = Harness(tmp_path)
    loop = asyncio.new_event_loop()
    kinds = sorted(harness.fuzzer.kinds)
    runs = 0

    @settings(_FAST, max_examples=PIPELINE_EXAMPLES)
    @given(seed=st.integers(0, 2**32 - 1), size=st.integers(1, 6))
    def feed(seed: int, size: int) -> None:
        nonlocal runs
        runs += 1
        rng = random.Random(seed)
        picks = [rng.choice(kinds) if rng.random() < 0.6 else "good" for _ in range(size)]
        before = harness.inputs
        loop.run_until_complete(harness.feed([harness.fuzzer.make(kind, rng) for kind in picks]))
        assert harness.uncaught == []
        assert harness.spool.malformed == []
        m = harness.metrics
        handled = sum(
            m.total(name)
            for name in ("cw_ingest_messages_total", "cw_ingest_rejected_total", "cw_ingest_duplicates_total")
        )
        assert handled == harness.inputs > before

    try:
        feed()
    finally:
        loop.close()
    assert runs >= PIPELINE_EXAMPLES
    assert harness.problems() == []  # also: dead letters == rejected + duplicates + analytics errors
    totals = harness.totals()
    assert totals["accepted"] > PIPELINE_EXAMPLES // 10  # the good kinds got through: not all refused
    assert totals["stale"] > 0
    assert set(harness.state.dead_letter_counts()) <= REASONS | {"duplicate", "analytics_error"}
    harness.close()


_json_leaf = (
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12)
)
_json = st.recursive(
    _json_leaf,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)
_number = st.floats(-1e6, 1e6) | st.floats(allow_nan=False) | st.integers(-(2**40), 2**40)
_value = _number | st.none() | _json_leaf
_name = st.sampled_from([*POINTS, "plasma", "x", "Socket_temp", "socket temp", "", "a" * 49])
_flag = st.sampled_from(
    [
        *("socket_temp[0]", "socket_temp[9]", "socket_temp[11]", "socket_temp[64]", "socket_temp[007]"),
        *("ambient_temp", "state[1]", "detections", "x[1]", "socket_temp[" + "9" * 5000 + "]", "a b"),
    ]
)


@st.composite
def _column(draw: st.DrawFn) -> list[Any]:
    """A column of one repeated number, sometimes with one other value poked in (cheap to draw)."""
    size = draw(st.sampled_from([10, 10, 12, 12, 9, 11, 0, 1, 64, 65]))
    column: list[Any] = [draw(_number | st.none())] * size
    if size and draw(st.booleans()):
        column[draw(st.integers(0, size - 1))] = draw(_value)
    return column


@st.composite
def _message(draw: st.DrawFn) -> tuple[str, dict[str, Any]]:
    """(the device whose topic it goes to, the message); devices keep one model each."""
    model = draw(st.sampled_from([*PROFILES, "cw-pile-9"]) | st.text(max_size=8))
    device = f"{model}-{draw(st.integers(0, 15))}" if model in PROFILES else "dx"
    kind = draw(st.sampled_from(["telemetry", "telemetry", "telemetry", "event", "status"]))
    msg: dict[str, Any] = {
        "type": kind,
        "device": device,
        "boot": draw(st.integers(0, 3) | _json_leaf),
        "seq": draw(st.integers(0, 2**53 + 1)),
        "ts": draw(st.floats(START - 1000, START + 1000) | _json_leaf),
    }
    if kind == "event":
        msg["kind"] = draw(st.sampled_from(["interlock", "session_end", "device_down", "nope"]))
        msg["port"] = draw(st.none() | st.integers(-1, 70))
        msg["data"] = draw(st.dictionaries(_name, _json_leaf, max_size=3))
    else:
        own = PROFILES.get(model)
        port_names = st.sampled_from([p.name for p in own.port_points]) if own and own.ports else _name
        device_names = st.sampled_from([p.name for p in own.device_points]) if own else _name
        msg["model"] = model
        msg["ports"] = draw(st.dictionaries(port_names | _name, _column(), max_size=4))
        msg["values"] = draw(st.dictionaries(device_names | _name, _value, max_size=3))
        msg["flags"] = draw(
            st.dictionaries(
                _flag, st.sampled_from(["read_failed", "out_of_range", "", "a;b", "é"]), max_size=3
            )
        )
    if draw(st.integers(0, 9)) == 0:
        msg[draw(st.sampled_from([*msg, "extra"]))] = draw(_json)
    return device, msg


class _Checker:
    """Validates, encodes and (in batches, as the gateway does) analyses what it accepts."""

    def __init__(self) -> None:
        self.validator = Validator(POLICY)
        self.analytics = Pipeline(profiles=PROFILES)
        self.pending: list[Telemetry] = []
        self.seen = {True: 0, False: 0}

    def one(self, topic: str, payload: bytes) -> None:
        rejected: RejectedError | None = None
        try:
            msg = self.validator.check(topic, payload, START)
        except RejectedError as exc:
            rejected = exc
        if rejected is not None:
            assert rejected.reason in REASONS, rejected
            assert rejected.detail
            self.seen[False] += 1
            return
        self.seen[True] += 1
        if isinstance(msg, Telemetry):
            shape = self.validator.shape(msg.model)
            assert shape is not None
            lines = telemetry_lines(msg, "site", shape.kind)
            self.pending.append(msg)
            if len(self.pending) >= 64:
                self.flush()
        else:
            lines = event_lines(msg, "site")
            self.analytics.process_event(msg)
        for text in lines:
            assert LINE.fullmatch(text), text
        if self.seen[True] % 20 == 1:
            parse_line(lines[0])

    def flush(self) -> None:
        self.analytics.process_batch(self.pending)
        self.pending = []


def test_structured_messages_validate_or_reject() -> None:
    checker = _Checker()

    @settings(_FAST, max_examples=STRUCTURED_EXAMPLES)
    @given(drawn=_message(), on_event=st.booleans())
    def one(drawn: tuple[str, dict[str, Any]], on_event: bool) -> None:
        device, msg = drawn
        leaf = topics.EVENT if on_event == (msg["type"] == "event") else topics.TELEMETRY
        checker.one(topics.device_topic(device, leaf), json.dumps(msg, allow_nan=True).encode())

    one()
    checker.flush()
    assert checker.seen[True] + checker.seen[False] >= STRUCTURED_EXAMPLES
    assert checker.seen[True] > 0
    assert checker.seen[False] > STRUCTURED_EXAMPLES // 2


@pytest.mark.parametrize("mode", range(5))
def test_seeded_inputs_validate_or_reject(mode: int) -> None:
    """Random bytes alone (mode 0), after a quarter to three quarters of a good message (modes
    1-3, on either leaf), or a fuzzer input of a random kind (mode 4). One test per mode keeps
    Hypothesis's per-example bookkeeping small (it grows with the examples of one test)."""
    checker = _Checker()
    fuzzer = Fuzzer(START)
    kinds = sorted(fuzzer.kinds)
    goods = [fuzzer.make("good", random.Random(i)) for i in range(512)]

    @settings(_FAST, max_examples=SEEDED_EXAMPLES_PER_MODE)
    @given(seed=st.integers(0, 2**32 - 1))
    def one(seed: int) -> None:
        rng = random.Random(seed)
        if mode == 4:
            topic, payload = fuzzer.make(rng.choice(kinds), rng)
        else:
            topic, good = goods[seed % len(goods)]
            raw = rng.randbytes(rng.randrange(200))
            payload = raw if mode == 0 else good[: len(good) * mode // 4] + raw
            topic = topic.rsplit("/", 1)[0] + "/" + rng.choice([topics.TELEMETRY, topics.EVENT])
        checker.one(topic, payload)

    one()
    checker.flush()
    assert checker.seen[True] + checker.seen[False] >= SEEDED_EXAMPLES_PER_MODE
    if mode == 4:
        assert checker.seen[True] > SEEDED_EXAMPLES_PER_MODE // 50
