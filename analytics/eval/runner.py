"""Run the labelled suite through the gateway's pipeline and score it.

Seeds: TRAINING seeds are ``TRAIN_SEEDS`` (1000–1999) and the only ones parameters may be tuned
on. Evaluation seeds start at ``EVAL_BASE`` (never used in tuning) or, with ``--fresh``, at a
base drawn from the clock; :func:`plan_seeds` refuses evaluation seeds inside the training range.
Each seed builds :func:`firmware_sim.offline.suite` (every fault kind ``repeats`` times on
both pile models, every chemistry, normal hot, mild and winter days) and every scenario is
replayed with a poll every ``poll_s`` seconds (:mod:`analytics.eval.replay`) into a fresh
:class:`analytics.Pipeline` per scenario, exactly as the gateway feeds it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import msgspec

from analytics.eval.baseline import FixedThreshold
from analytics.eval.replay import Replay
from analytics.eval.scoring import AlertFired, Run, Score, episodes_from, score_run
from analytics.pipeline import Pipeline, PipelineConfig
from chargewatch.errors import ConfigError
from chargewatch.profiles import DeviceProfile, find_profile
from firmware_sim.faults.scenario import Scenario
from firmware_sim.offline import suite

TRAIN_SEEDS = range(1000, 2000)
#: the documented default evaluation base (never used in tuning)
EVAL_BASE = 424_242


@dataclass(frozen=True, slots=True)
class SuiteSize:
    """How much of the suite to run per seed."""

    repeats: int = 3
    hours: float = 12.0
    normal_days: int = 2
    normal_hours: float = 12.0
    poll_s: float = 5.0


def plan_seeds(base: int, count: int, *, train: bool) -> list[int]:
    """``count`` consecutive seeds from ``base``; training seeds only when ``train``."""
    seeds = list(range(base, base + count))
    inside = [s for s in seeds if s in TRAIN_SEEDS]
    if train and len(inside) != len(seeds):
        raise ConfigError(
            f"--train: seeds {seeds} leave the training range {TRAIN_SEEDS.start}..{TRAIN_SEEDS.stop - 1}; "
            "pick --seed and --suites inside it"
        )
    if not train and inside:
        raise ConfigError(
            f"evaluation seeds {inside} are training seeds ({TRAIN_SEEDS.start}..{TRAIN_SEEDS.stop - 1}); "
            "pick --seed outside that range"
        )
    return seeds


def scenarios(seed: int, size: SuiteSize) -> list[Scenario]:
    """The suite of ``seed`` trimmed to ``size`` (normal days first, then one per fault kind)."""
    out: list[Scenario] = []
    normal = 0
    for sc in suite(seed, repeats=size.repeats, hours=size.hours):
        if sc.faults:
            out.append(sc)
            continue
        normal += 1
        if normal <= size.normal_days:
            out.append(msgspec.structs.replace(sc, duration_s=size.normal_hours * 3600.0))
    return out


@dataclass(slots=True)
class Totals:
    """Work done, for the report."""

    scenarios: int = 0
    polls: int = 0
    port_samples: int = 0


def run_scenario(
    scenario: Scenario,
    seed: int,
    *,
    size: SuiteSize,
    config: PipelineConfig,
    profiles: dict[str, DeviceProfile],
    totals: Totals,
) -> Run:
    """Replay one scenario through a fresh pipeline; the run in scorer terms."""
    replay = Replay(scenario, seed, size.poll_s)
    pipeline = Pipeline(config, profiles)
    fixed = FixedThreshold()
    fired: dict[str, AlertFired] = {}
    for rnd in replay.rounds():
        changes = pipeline.process_batch(rnd.telemetry)
        for ev in rnd.events:
            changes += pipeline.process_event(ev)
        changes += pipeline.tick(rnd.ts)
        for msg in rnd.telemetry:
            fixed.observe(msg)
            totals.port_samples += len(msg.ports.get("socket_temp", ()))
        totals.polls += len(rnd.telemetry)
        for c in changes:
            if c.state == "firing" and c.id not in fired:
                fired[c.id] = AlertFired(c.id, c.device, c.port, c.kind, c.ts)
    totals.scenarios += 1
    start = scenario.start_time
    return Run(
        start=start,
        end=start + round(scenario.duration_s / size.poll_s) * size.poll_s,
        ports=replay.ports,
        episodes=episodes_from(replay.labels),
        alerts=list(fired.values()),
        fixed=fixed.firings,
    )


def evaluate(
    seeds: list[int],
    size: SuiteSize,
    config: PipelineConfig | None = None,
    progress: Callable[[str], None] | None = None,
) -> tuple[Score, Totals]:
    """Score the suite of every seed; ``progress`` gets one line per scenario."""
    cfg = config or PipelineConfig()
    profiles = {m: find_profile(m) for m in ("cw-pile-10", "vx-pile-12", "cw-blocker")}
    score, totals = Score(), Totals()
    for seed in seeds:
        for sc in scenarios(seed, size):
            run = run_scenario(sc, seed, size=size, config=cfg, profiles=profiles, totals=totals)
            score_run(run, score)
            if progress is not None:
                progress(f"seed {seed} {sc.name}: {len(run.episodes)} faults, {len(run.alerts)} alerts")
    return score, totals
