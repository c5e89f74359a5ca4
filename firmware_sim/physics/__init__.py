"""Device physics: ambient and supply, battery chargers per chemistry, socket and battery heat."""

from firmware_sim.physics.ambient import PRESETS, Ambient, AmbientPreset, Supply
from firmware_sim.physics.charger import (
    CHARGER_MAX_W,
    CHARGER_MIN_W,
    CHEMISTRIES,
    Charger,
    Chemistry,
    Stage,
    draw_charger,
)
from firmware_sim.physics.thermal import (
    BATTERY_CRITICAL_C,
    CABINET_K_PER_W,
    SOCKET_CRITICAL_C,
    battery_step,
    relax_factor,
    socket_heat_w,
    socket_step,
)

__all__ = [
    "BATTERY_CRITICAL_C",
    "CABINET_K_PER_W",
    "CHARGER_MAX_W",
    "CHARGER_MIN_W",
    "CHEMISTRIES",
    "PRESETS",
    "SOCKET_CRITICAL_C",
    "Ambient",
    "AmbientPreset",
    "Charger",
    "Chemistry",
    "Stage",
    "Supply",
    "battery_step",
    "draw_charger",
    "relax_factor",
    "socket_heat_w",
    "socket_step",
]
