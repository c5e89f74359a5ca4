"""Run the labelled suite through the gateway's pipeline and score it.

Seeds: TRAINING seeds are ``TRAIN_SEEDS`` (1000–1999) and the only ones parameters may be tuned
on. Evaluation seeds start at ``EVAL_BASE`` (never used in tuning) or, with ``--fresh``, at a
base drawn from the clock; :func:`plan_seeds` refuses evaluation seeds inside the training range.
Each seed builds the scenarios of :mod:`evaluation.plan` (normal days, and every fault
kind many times on both pile models) and every scenario is replayed with a poll every
``poll_s`` seconds (:mod:`evaluation.replay`) into a fresh :class:`analytics.Pipeline`
per scenario, exactly as the gateway feeds it.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass

from analytics.pipeline import Pipeline, PipelineConfig
from chargewatch.errors import ConfigError
from chargewatch.messages import PORT_STATES, Telemetry
from chargewatch.profiles import DeviceProfile, find_profile
from evaluation.baseline import FixedThreshold
from evaluation.plan import SuiteSize, scenarios, severity_of
from evaluation.replay import Replay
from evaluation.scoring import AlertFired, Run, Score, episodes_from, score_run
from firmware_sim.faults import Scenario

TRAIN_SEEDS = range(1000, 2000)
#: the documented default evaluation base (never used in tuning)
EVAL_BASE = 424_242


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
    meter_error: float = 0.0,
) -> Run:
    """Replay one scenario through a fresh pipeline; the run in scorer terms."""
    replay = Replay(scenario, seed, size.poll_s, meter_error)
    pipeline = Pipeline(config, profiles)
    fixed = FixedThreshold()
    fired: dict[str, AlertFired] = {}
    charging: dict[tuple[str, int], list[list[float]]] = {}
    for rnd in replay.rounds():
        changes = pipeline.process_batch(rnd.telemetry)
        for ev in rnd.events:
            changes += pipeline.process_event(ev)
        changes += pipeline.tick(rnd.ts)
        for msg in rnd.telemetry:
            fixed.observe(msg)
            totals.port_samples += len(msg.ports.get("socket_temp", ()))
            track_charging(msg, size.poll_s, charging)
        totals.polls += len(rnd.telemetry)
        for c in changes:
            if c.state == "firing" and c.id not in fired:
                fired[c.id] = AlertFired(c.id, c.device, c.port, c.kind, c.ts)
    totals.scenarios += 1
    start = scenario.start_time
    episodes = episodes_from(replay.labels)
    for ep in episodes:
        ep.severity = severity_of(scenario, ep.device, ep.port, ep.kind)
    return Run(
        start=start,
        end=start + round(scenario.duration_s / size.poll_s) * size.poll_s,
        ports=replay.ports,
        episodes=episodes,
        alerts=list(fired.values()),
        fixed=fixed.firings,
        charging={k: [(lo, hi) for lo, hi in v] for k, v in charging.items()},
        name=f"seed {seed} {scenario.name}",
    )


_CHARGING = PORT_STATES["charging"]


def track_charging(msg: Telemetry, poll_s: float, spans: dict[tuple[str, int], list[list[float]]]) -> None:
    """A port reported charging at a poll counts the poll interval before it as charging time."""
    for port, state in enumerate(msg.ports.get("state", ())):
        if state != _CHARGING:
            continue
        own = spans.setdefault((msg.device, port), [])
        if own and own[-1][1] >= msg.ts - poll_s - 1e-6:
            own[-1][1] = msg.ts
        else:
            own.append([msg.ts - poll_s, msg.ts])


def _profiles() -> dict[str, DeviceProfile]:
    return {m: find_profile(m) for m in ("cw-pile-10", "vx-pile-12", "cw-blocker")}


def _job(
    scenario: Scenario, seed: int, size: SuiteSize, config: PipelineConfig, meter_error: float
) -> tuple[Run, Totals]:
    totals = Totals()
    run = run_scenario(
        scenario,
        seed,
        size=size,
        config=config,
        profiles=_profiles(),
        totals=totals,
        meter_error=meter_error,
    )
    return run, totals


def _weight(scenario: Scenario, size: SuiteSize) -> float:
    return len(scenario.devices) * scenario.duration_s


def evaluate(
    seeds: list[int],
    size: SuiteSize,
    config: PipelineConfig | None = None,
    progress: Callable[[str], None] | None = None,
    *,
    jobs: int = 1,
    meter_error: float = 0.0,
) -> tuple[Score, Totals]:
    """Score the suite of every seed over ``jobs`` processes; ``progress`` gets one line per scenario.

    ``meter_error`` makes every pile's energy meters read that much high (see
    :func:`evaluation.replay.with_meter_error`).

    Scenarios are independent (a fresh pipeline each), so they run in a pool of ``jobs``
    worker processes, longest first; the runs are scored in plan order, so the figures do
    not depend on ``jobs``.
    """
    cfg = config or PipelineConfig()
    plan = [(seed, sc) for seed in seeds for sc in scenarios(seed, size)]
    score, totals = Score(), Totals()
    results: list[tuple[Run, Totals]]
    if jobs <= 1:
        results = [_job(sc, seed, size, cfg, meter_error) for seed, sc in plan]
    else:
        order = sorted(range(len(plan)), key=lambda k: -_weight(plan[k][1], size))
        with ProcessPoolExecutor(max_workers=min(jobs, os.cpu_count() or 1, len(plan))) as pool:
            futures = {k: pool.submit(_job, plan[k][1], plan[k][0], size, cfg, meter_error) for k in order}
            results = [futures[k].result() for k in range(len(plan))]
    for (seed, sc), (run, work) in zip(plan, results, strict=True):
        score_run(run, score)
        totals.scenarios += work.scenarios
        totals.polls += work.polls
        totals.port_samples += work.port_samples
        if progress is not None:
            progress(f"seed {seed} {sc.name}: {len(run.episodes)} faults, {len(run.alerts)} alerts")
    return score, totals
