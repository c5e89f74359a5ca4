"""``chargewatch bench fuzz [--count N] [--seconds S] [--seed S] [--batch B] [--json]``: hostile
input through the real ingest path, in process.

The :class:`gateway.fuzz.Fuzzer` (the generators the property tests use) feeds the real
:class:`gateway.ingest.IngestPipeline` — validation against the profiles, dedupe, line
protocol, the real SQLite ingest state (dead letters, marks) in a temp dir and the real
analytics :class:`analytics.Pipeline` — with a spool sink that checks every line against the
line-protocol grammar (and parses every 50th back with the store's parser). Half of the inputs
are well-formed, the rest spread over every poison kind.

Reports inputs/s, ``uncaught`` (exceptions that escaped the pipeline: must be 0), accounting
mismatches and malformed lines (must be 0), the slowest input (with ``--batch 1``, the default,
one input per ``handle`` call, so the time is that input's: size and kind are reported) and the
RSS at start and end. Bounded by ``--count`` and ``--seconds``, whichever comes first.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import re
import resource
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from analytics import Pipeline
from chargewatch import logs
from chargewatch.profiles import PROFILE_DIR, load_profile
from gateway.fuzz import Fuzzer
from gateway.ingest.analytics_hook import PipelineHook
from gateway.ingest.dedupe import SeqTracker
from gateway.ingest.pipeline import IngestPipeline
from gateway.ingest.state import IngestState
from gateway.ingest.validate import TimePolicy
from gateway.liveness import Liveness
from gateway.metrics import Metrics
from gateway.store._lineparse import LineParseError, parse_line

START = 1_750_000_000.0
_KEY = r"(?:[^,= \\\n\r]|\\[,= ])+"
_MEASUREMENT = r"(?:[^, \\\n\r]|\\[, ])+"
_FIELD = _KEY + r'=(?:-?\d+(?:\.\d+)?(?:e[+-]?\d+)?|"(?:[^"\\]|\\["\\])*"|true|false)'
#: the grammar :mod:`gateway.lineproto` writes: measurement, escaped tags, typed fields, int ts
LINE = re.compile(rf"{_MEASUREMENT}(?:,{_KEY}={_KEY})* {_FIELD}(?:,{_FIELD})* -?\d+")


class CheckingSpool:
    """A SpoolSink that checks every line it is given and counts them."""

    def __init__(self, parse_every: int = 50) -> None:
        self.lines = 0
        self.malformed: list[str] = []
        self.parse_every = parse_every

    async def append(self, lines: Sequence[str], meta: str = "") -> int:
        for k, text in enumerate(lines):
            if LINE.fullmatch(text) is None:
                self.malformed.append(text[:300])
            elif (self.lines + k) % self.parse_every == 0:
                try:
                    parse_line(text)
                except LineParseError as exc:
                    self.malformed.append(f"{exc}")
        self.lines += len(lines)
        return self.lines


class Harness:
    """The real ingest pipeline with real state and analytics, fed (topic, payload) inputs."""

    def __init__(self, tmp: Path, now: float = START) -> None:
        self.now = now
        self.state = IngestState(tmp / "state.sqlite", keep=10**9)
        self.spool = CheckingSpool()
        self.metrics = Metrics()
        profiles = {p.model: p for p in map(load_profile, sorted(PROFILE_DIR.glob("*.yaml")))}
        self.published = 0
        self.pipeline = IngestPipeline(
            site="fuzz",
            spool=self.spool,
            state=self.state,
            tracker=SeqTracker(gap_timeout=30.0),
            analytics=PipelineHook(Pipeline(profiles=profiles), tmp / "analytics.ckpt"),
            liveness=Liveness(90.0),
            metrics=self.metrics,
            policy=TimePolicy(max_future_skew=300.0, retention=400 * 86400.0, stale_after=300.0),
            publish=self._publish,
        )
        self.fuzzer = Fuzzer(now)
        self.inputs = 0
        self.uncaught: list[str] = []

    def _publish(self, topic: str, payload: bytes, retain: bool) -> None:
        self.published += 1

    async def feed(self, items: Sequence[tuple[str, bytes]], step: float = 0.5) -> float:
        """One received batch; the clock moves ``step`` s; every 20 s of it the pipeline ticks.
        Returns the seconds ``handle`` took (the tick not included)."""
        self.inputs += len(items)
        before = self.now
        self.now += step
        self.fuzzer.now = self.now
        took = 0.0
        try:
            t0 = time.perf_counter()
            await self.pipeline.handle([(topic, payload, self.now) for topic, payload in items])
            took = time.perf_counter() - t0
            if int(self.now) // 20 != int(before) // 20:
                await self.pipeline.tick(self.now)
        except Exception as exc:  # the very thing this harness counts
            self.uncaught.append(f"{type(exc).__name__}: {exc}"[:300])
        return took

    def totals(self) -> dict[str, int]:
        m = self.metrics
        dead = self.state.dead_letter_counts()
        return {
            "inputs": self.inputs,
            "accepted": int(m.total("cw_ingest_messages_total")),
            "rejected": int(m.total("cw_ingest_rejected_total")),
            "duplicates": int(m.total("cw_ingest_duplicates_total")),
            "stale": int(m.total("cw_ingest_stale_total")),
            "analytics_errors": int(m.total("cw_ingest_analytics_errors_total")),
            "dead_letters": sum(dead.values()),
            "uncaught": len(self.uncaught),
            "malformed_lines": len(self.spool.malformed),
            "lines": self.spool.lines,
        }

    def problems(self) -> list[str]:
        """Every broken invariant (empty when the pipeline held)."""
        t = self.totals()
        out = [f"uncaught: {u}" for u in self.uncaught[:5]]
        out += [f"malformed line: {m}" for m in self.spool.malformed[:5]]
        if t["accepted"] + t["rejected"] + t["duplicates"] != t["inputs"]:
            out.append(f"accepted + rejected + duplicates != inputs: {t}")
        if t["dead_letters"] != t["rejected"] + t["duplicates"] + t["analytics_errors"]:
            out.append(f"dead letters != rejected + duplicates + analytics errors: {t}")
        return out

    def close(self) -> None:
        self.state.close()


def rss_mb() -> float:
    """Resident set size now (Linux /proc; the peak from getrusage elsewhere)."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
    except (OSError, IndexError, ValueError):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return pages * resource.getpagesize() / 2**20


async def run(count: int, seconds: float, seed: int, batch: int, tmp: Path) -> dict[str, float | int | str]:
    """Feed up to ``count`` inputs for at most ``seconds``; the figures of the run."""
    rng = random.Random(seed)
    harness = Harness(tmp)
    rss0 = rss_mb()
    slowest = (0.0, 0, "")
    start = time.perf_counter()
    deadline = start + seconds
    try:
        while harness.inputs < count and time.perf_counter() < deadline:
            kinds: list[str] = []
            items = []
            for _ in range(min(batch, count - harness.inputs)):
                kind = rng.choice(sorted(harness.fuzzer.kinds)) if rng.random() < 0.5 else "good"
                kinds.append(kind)
                items.append(harness.fuzzer.make(kind, rng))
            took = await harness.feed(items)
            if took > slowest[0]:
                slowest = (took, sum(len(p) for _, p in items), ",".join(kinds))
        elapsed = time.perf_counter() - start
        figures: dict[str, float | int | str] = dict(harness.totals())
        figures["problems"] = len(harness.problems())
    finally:
        harness.close()
    figures |= {
        "seed": seed,
        "batch": batch,
        "seconds": round(elapsed, 3),
        "inputs_per_s": round(harness.inputs / max(elapsed, 1e-9), 1),
        "slowest_ms": round(slowest[0] * 1000, 3),
        "slowest_bytes": slowest[1],
        "slowest_kind": slowest[2],
        "rss_start_mb": round(rss0, 1),
        "rss_end_mb": round(rss_mb(), 1),
    }
    return figures


def main(argv: list[str]) -> int:
    """Entry point of ``chargewatch bench fuzz``."""
    parser = argparse.ArgumentParser(prog="chargewatch bench fuzz", description=__doc__)
    parser.add_argument("--count", type=int, default=20_000, help="inputs to feed (100..10,000,000)")
    parser.add_argument("--seconds", type=float, default=60.0, help="stop after this long (1..3600)")
    parser.add_argument("--seed", type=int, default=1, help="seed of the generators (a run replays from it)")
    parser.add_argument("--batch", type=int, default=1, help="inputs per received batch (1..1000)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON on the last line")
    args = parser.parse_args(argv)
    if not 100 <= args.count <= 10_000_000:
        parser.error("--count must be within 100..10,000,000")
    if not 1 <= args.seconds <= 3600:
        parser.error("--seconds must be within 1..3600")
    if not 1 <= args.batch <= 1000:
        parser.error("--batch must be within 1..1000")
    logs.setup("ERROR")  # the run's thousands of expected rejections would drown the figures
    with tempfile.TemporaryDirectory(prefix="cw-bench-fuzz-") as d:
        figures = asyncio.run(run(args.count, args.seconds, args.seed, args.batch, Path(d)))
    for key, value in figures.items():
        print(f"{key:20s} {value}")
    if args.json:
        print(json.dumps(figures))
    return 0 if figures["uncaught"] == 0 and figures["problems"] == 0 else 1
