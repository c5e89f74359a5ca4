"""ChargeWatch firmware_sim: simulated piles and blockers served over real Modbus.

Layers: ``physics`` and ``devices`` (the models, behind the ``model.DeviceModel`` seam) and
``faults`` (scenarios, labels); ``registers`` (a device's register image from its profile),
``server`` (one pymodbus server instance per bus), ``site`` (site files), ``runner`` (the
simulation clock and the async context manager that owns it all), ``cli`` and ``bench``.
"""

from firmware_sim.model import DeviceModel, WriteRefusedError
from firmware_sim.registers import (
    IllegalAddressError,
    IllegalValueError,
    ModelContractError,
    PlannedWrite,
    RegisterError,
    RegisterImage,
)
from firmware_sim.runner import (
    DeviceFactory,
    Endpoint,
    SiteRunner,
    StepObserver,
    device_seed,
    scenario_faults,
)
from firmware_sim.server import BusSpec, ModbusBus, ServedDevice, ServeError, Transport
from firmware_sim.site import Bus, DeviceSpec, Site, SiteSpec, load_site, validate_site

__all__ = [
    "Bus",
    "BusSpec",
    "DeviceFactory",
    "DeviceModel",
    "DeviceSpec",
    "Endpoint",
    "IllegalAddressError",
    "IllegalValueError",
    "ModbusBus",
    "ModelContractError",
    "PlannedWrite",
    "RegisterError",
    "RegisterImage",
    "ServeError",
    "ServedDevice",
    "Site",
    "SiteRunner",
    "SiteSpec",
    "StepObserver",
    "Transport",
    "WriteRefusedError",
    "device_seed",
    "load_site",
    "scenario_faults",
    "validate_site",
]
