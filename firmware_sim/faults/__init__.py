"""Faults with ground truth: kinds, injection records, label files and scenario files."""

from firmware_sim.faults.kinds import (
    HAZARD_CATEGORIES,
    KINDS,
    Category,
    Fault,
    FaultError,
    KindSpec,
    Label,
    LabelEvent,
    is_hazard,
    label,
    resolve,
)
from firmware_sim.faults.labels import LabelFileError, LabelWriter, read_labels
from firmware_sim.faults.scenario import DeviceSpec, FaultSpec, Scenario, load_scenario, validate_scenario

__all__ = [
    "HAZARD_CATEGORIES",
    "KINDS",
    "Category",
    "DeviceSpec",
    "Fault",
    "FaultError",
    "FaultSpec",
    "KindSpec",
    "Label",
    "LabelEvent",
    "LabelFileError",
    "LabelWriter",
    "Scenario",
    "is_hazard",
    "label",
    "load_scenario",
    "read_labels",
    "resolve",
    "validate_scenario",
]
