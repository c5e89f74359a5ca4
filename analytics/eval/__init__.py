"""Evaluation of the analytics on the simulator's labelled scenarios (``chargewatch eval``)."""

from analytics.eval.baseline import FixedThreshold
from analytics.eval.plan import SuiteSize, scenarios
from analytics.eval.replay import Replay, Round
from analytics.eval.runner import EVAL_BASE, TRAIN_SEEDS, Totals, evaluate, plan_seeds
from analytics.eval.scoring import (
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
