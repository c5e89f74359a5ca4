"""Streaming detectors with river's contract: ``score_one`` (pure) then ``learn_one``."""

from analytics.detectors._base import Detector, ThresholdFilter
from analytics.detectors.thermal import ThermalBank, ThermalDetector
from analytics.detectors.univariate import UnivariateDetector

__all__ = ["Detector", "ThermalBank", "ThermalDetector", "ThresholdFilter", "UnivariateDetector"]
