"""Evaluation of the analytics on the simulator's labelled scenarios (``chargewatch eval``)."""

from evaluation.baseline import FixedThreshold
from evaluation.plan import SuiteSize, scenarios
from evaluation.replay import Replay, Round
from evaluation.runner import EVAL_BASE, TRAIN_SEEDS, Totals, evaluate, plan_seeds
from evaluation.scoring import (
    DETECTS,
    OVERHEATING,
    AlertFired,
    Episode,
    Run,
    Score,
    episodes_from,
    score_run,
)

__all__ = [
    "DETECTS",
    "EVAL_BASE",
    "OVERHEATING",
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
    "plan_seeds",
    "scenarios",
    "score_run",
]
