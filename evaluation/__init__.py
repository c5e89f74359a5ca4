"""Evaluation of the analytics on the simulator's labelled scenarios (``chargewatch eval``)."""

from evaluation.baseline import FixedThreshold
from evaluation.explains import DEVICE_WIDE_EXPLAINS, EXPLAINS, OVERHEATING
from evaluation.plan import SWEEPS, SuiteSize, scenarios
from evaluation.replay import Replay, Round
from evaluation.runner import EVAL_BASE, TRAIN_SEEDS, Totals, evaluate, plan_seeds
from evaluation.scoring import (
    AlertFired,
    Episode,
    Run,
    Score,
    episodes_from,
    score_run,
)
from evaluation.targets import missed_targets

__all__ = [
    "DEVICE_WIDE_EXPLAINS",
    "EVAL_BASE",
    "EXPLAINS",
    "OVERHEATING",
    "SWEEPS",
    "TRAIN_SEEDS",
    "AlertFired",
    "Episode",
    "FixedThreshold",
    "Replay",
    "Round",
    "Run",
    "Score",
    "SuiteSize",
    "Totals",
    "episodes_from",
    "evaluate",
    "missed_targets",
    "plan_seeds",
    "scenarios",
    "score_run",
]
