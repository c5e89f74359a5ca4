"""The adapter NAB's scorer calls: ``make()`` returns an object with ``score(t, value)``.

``score`` is called once per sample in time order and must score before it learns, which is
:meth:`UnivariateDetector.score_learn_one`. Used by ``chargewatch bench nab`` and by
``nab_eval.py --detector analytics.detectors.nab:make``.
"""

from __future__ import annotations

from analytics.detectors.univariate import UnivariateDetector


class NabAdapter:
    """One NAB data file's detector: a :class:`UnivariateDetector` with the default settings."""

    def __init__(self, detector: UnivariateDetector) -> None:
        self.detector = detector
        self.score = detector.score_learn_one


def make(**settings: float) -> NabAdapter:
    """A fresh detector for one data file; ``settings`` override UnivariateDetector's defaults."""
    return NabAdapter(UnivariateDetector(**settings))  # type: ignore[arg-type]
