"""``chargewatch eval``: score the analytics on the simulator's labelled scenarios.

Runs ``--suites`` labelled suites (one per seed, see :mod:`evaluation.runner`) through
:class:`analytics.Pipeline` and prints per fault kind: recall, precision, median and worst
lead before the critical moment, median lead over the fixed 80 °C / 30 s threshold where it
fired (and on how many episodes it never fired), one table per hazard over the severity
levels of ``--suite`` (``default`` or ``weak``, see :mod:`evaluation.plan`), precision per
alert kind, and the false alerts per 1,000 charging port-hours and per 1,000 site-days
(definitions: :mod:`evaluation.scoring`, crediting rules: :mod:`evaluation.explains`).
Evaluation seeds by default (from ``EVAL_BASE``, or ``--fresh`` from the clock); ``--train``
runs the training seeds the defaults were tuned on. ``--poll-s N`` replays a poll every N
seconds (1–60; the simulator steps 1 s) and ``--meter-error X`` makes every pile's energy
meters read X high (e.g. 0.02), so the figures can be checked at any poll interval and with
uncalibrated meters. ``--kinds K1,K2`` runs only those fault kinds
(same scenarios as in a full run). ``--list-false`` lists every false alert (run, hours into
it, device, port, kind) so it can be replayed and traced. ``--json`` prints the figures as the
last line (:meth:`evaluation.scoring.Score.summary`). Exit 0 when every target of
:mod:`evaluation.targets` is met, 1 when one is missed, 2 on bad arguments.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

from chargewatch.errors import ConfigError
from evaluation.plan import SWEEPS, SuiteSize
from evaluation.runner import EVAL_BASE, TRAIN_SEEDS, evaluate, plan_seeds
from evaluation.scoring import KindScore, Score
from evaluation.targets import missed_targets
from firmware_sim.faults import KINDS


def _fmt(value: float | None, scale: float = 1.0, digits: int = 1) -> str:
    return "-" if value is None else f"{value / scale:.{digits}f}"


_HEADER = (
    f"{'n':>3} {'crit':>4} {'recall':>6} {'@crit':>5} {'prec':>5} {'med lead':>8} {'worst':>7} "
    f"{'vs 80°C':>8} {'80°C fired':>10} {'never':>5}"
)


def _row(name: str, ks: KindScore, width: int = 26) -> str:
    s = ks.summary()
    return (
        f"{name:<{width}} {ks.episodes:>3} {ks.reached_critical:>4} {_fmt(s['recall'], 0.01, 0):>5}% "
        f"{_fmt(s['recall_reached_critical'], 0.01, 0):>4}% "
        f"{_fmt(s['precision'], 0.01, 0):>4}% {_fmt(s['median_lead_s'], 60):>6}mn "
        f"{_fmt(s['worst_lead_s'], 60):>5}mn {_fmt(s['median_lead_vs_fixed_s'], 60):>6}mn "
        f"{ks.fixed_fired:>10} {ks.fixed_never_fired:>5}"
    )


def _table(score: Score) -> list[str]:
    lines = [f"{'fault kind':<26} {_HEADER}"]
    lines += [_row(kind, ks) for kind, ks in score.kinds.items()]
    return lines


def _sweep_tables(score: Score, suite: str) -> list[str]:
    lines: list[str] = []
    for kind, ladder in SWEEPS[suite].items():
        levels = score.sweep.get(kind, {})
        lines.append(f"{kind} by severity (strongest first)")
        lines.append(f"  {'level':<18} {_HEADER}")
        for param, value in ladder:
            sev = f"{param}={value:g}"
            if sev in levels:
                lines.append("  " + _row(sev, levels[sev], 18))
    return lines


def _alert_kinds(score: Score) -> str:
    parts = []
    for kind, aks in sorted(score.alert_kinds.items()):
        s = aks.summary()
        parts.append(f"{kind} {aks.explained}/{aks.fired} ({_fmt(s['precision'], 0.01, 0)}%)")
    return "precision per alert kind (explained/fired): " + (", ".join(parts) or "no alerts")


def _false_lines(score: Score) -> list[str]:
    """One line per false alert, to replay the run it came from and look at the detector there."""
    lines = []
    for run, start, alert in score.false_list:
        port = "pile-wide" if alert.port is None else f"port {alert.port}"
        hours = (alert.ts - start) / 3600.0
        lines.append(
            f"false alert: {run} at {hours:.2f} h (ts {alert.ts:.0f}): {alert.device} {port} {alert.kind}"
        )
    return lines


def _poll_s(text: str) -> float:
    value = float(text)
    if not 1.0 <= value <= 60.0 or value != round(value):
        raise argparse.ArgumentTypeError(f"{text}: give whole seconds from 1 to 60 (the simulator steps 1 s)")
    return value


def _meter_error(text: str) -> float:
    value = float(text)
    if not -0.1 <= value <= 0.1:
        raise argparse.ArgumentTypeError(f"{text}: give a relative error within ±0.1, e.g. 0.02")
    return value


def _kinds(text: str) -> tuple[str, ...]:
    kinds = tuple(k.strip() for k in text.split(",") if k.strip())
    unknown = sorted(set(kinds) - set(KINDS))
    if unknown or not kinds:
        raise argparse.ArgumentTypeError(
            f"{text}: unknown fault kind(s) {unknown}; give a comma-separated list of {sorted(KINDS)}"
        )
    return kinds


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="chargewatch eval", description=__doc__.split("\n\n")[0])
    p.add_argument("--seed", type=int, default=None, help=f"first seed (default {EVAL_BASE}; --train: 1000)")
    p.add_argument("--fresh", action="store_true", help="draw the evaluation base from the clock")
    p.add_argument("--train", action="store_true", help="run TRAINING seeds (1000–1999) instead")
    p.add_argument("--suites", type=int, default=1, help="suites (seeds) to run")
    p.add_argument("--suite", choices=sorted(SWEEPS), default="default", help="severity ladders to sweep")
    p.add_argument(
        "--hazard-faults", type=int, default=5, help="faults of each hazardous kind per severity level"
    )
    p.add_argument("--other-faults", type=int, default=4, help="faults of each sensor/device kind per suite")
    p.add_argument(
        "--kinds",
        type=_kinds,
        default=(),
        help="run only these fault kinds (comma-separated, e.g. thermal_runaway_precursor); default all",
    )
    p.add_argument("--per-pile", type=int, default=2, help="faults of one kind sharing a pile")
    p.add_argument("--hours", type=float, default=10.0, help="length of each fault scenario")
    p.add_argument("--normal-days", type=int, default=2, choices=range(5), help="normal scenarios per suite")
    p.add_argument("--normal-hours", type=float, default=12.0, help="length of each normal scenario")
    p.add_argument("--poll-s", type=_poll_s, default=5.0, help="poll interval of the replay (s, 1–60)")
    p.add_argument(
        "--meter-error",
        type=_meter_error,
        default=0.0,
        help="relative error of every energy meter (0.02: reads 2 %% high; within ±0.1)",
    )
    p.add_argument("--jobs", type=int, default=2, help="worker processes (scenarios run in parallel)")
    p.add_argument("--quiet", action="store_true", help="no per-scenario progress lines")
    p.add_argument(
        "--list-false", action="store_true", help="list every false alert: run, hours into it, place, kind"
    )
    p.add_argument("--json", action="store_true", help="print the figures as one JSON line last")
    return p


def main(argv: list[str]) -> int:
    """Run the evaluation; 0 when every target is met, 1 when one is missed, 2 on bad arguments."""
    args = _parser().parse_args(argv)
    if args.fresh:
        base = TRAIN_SEEDS.stop + int(time.time()) % 1_000_000_000
    elif args.seed is not None:
        base = args.seed
    else:
        base = TRAIN_SEEDS.start if args.train else EVAL_BASE
    try:
        seeds = plan_seeds(base, args.suites, train=args.train)
    except ConfigError as exc:
        print(f"chargewatch eval: {exc}", file=sys.stderr)
        return 2
    size = SuiteSize(
        args.hazard_faults,
        args.other_faults,
        args.per_pile,
        args.hours,
        args.normal_days,
        args.normal_hours,
        args.poll_s,
        args.suite,
        args.kinds,
    )
    label = "TRAINING" if args.train else "EVALUATION"
    print(f"{label} seeds: {seeds}  ({size})")
    start = time.perf_counter()
    progress = None if args.quiet else print
    if args.meter_error:
        print(f"every energy meter reads {args.meter_error:+.1%}")
    score, totals = evaluate(seeds, size, progress=progress, jobs=args.jobs, meter_error=args.meter_error)
    elapsed = time.perf_counter() - start
    summary = score.summary()
    print("\n".join(_table(score)))
    print("\n".join(_sweep_tables(score, size.suite)))
    print(_alert_kinds(score))
    if args.list_false:
        print("\n".join(_false_lines(score)) or "no false alerts")
    per_day = summary["false_alerts_per_1000_site_days"]
    print(
        f"false alerts: {score.false_alerts} in {score.charging_port_hours:.0f} charging port-hours "
        f"= {_fmt(score.rate_per_1000_charging_port_hours(), 1.0, 2)} per 1,000; "
        f"{_fmt(per_day if isinstance(per_day, float) else None, 1.0, 0)} per 1,000 site-days "
        f"({score.site_days:.1f} site-days); by alert kind {score.false_by_alert_kind}"
    )
    print(f"sensor faults reported as overheating: {score.sensor_as_overheating}")
    print(
        f"{totals.scenarios} scenarios, {totals.polls} polls, {totals.port_samples} port-samples "
        f"in {elapsed:.1f} s"
    )
    missed = missed_targets(score, size.suite)
    for line in missed or ["all targets met"]:
        print(line)
    if args.json:
        print(json.dumps(summary))
    return 1 if missed else 0
