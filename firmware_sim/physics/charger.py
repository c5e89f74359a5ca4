"""An e-bike battery and its own charger, as seen from the pile's AC socket.

Lead-acid chargers are three-stage: constant current (bulk) → constant voltage (absorption,
current tapers) → float (a few tens of watts forever). Lithium chargers are CC → CV → cut-off
(a few watts of standby). In CV the current ratio is ``(1 − soc)/(1 − cv_soc)``, which decays
exponentially in time as a real CV taper does. AC power = DC power / efficiency.

Sources: the CC/CV/float profile of lead-acid and the CC/CV/cut-off profile of lithium
chargers follow Battery University BU-403 ("Charging Lead Acid") and BU-409 ("Charging
Lithium-ion"); float a few tens of watts and "full" below ≈ 45 W or 20 % of the charging power
follow DOMAIN.md (real pile firmware). Efficiencies (0.80–0.93) and ratings (150–800 W) are
those of e-bike chargers on sale; they are drawn, not measured.

A battery with an internal leak (``leak_w``, DC watts: the Joule heat of an internal short
of a cell heading for thermal runaway, Feng et al. 2018, "Thermal runaway mechanism of
lithium ion battery for electric vehicles: a review", Energy Storage Materials 10) does not
make the charger draw more in constant current: a CC charger regulates its output current,
so the leak only steals charge (the bulk lasts longer). In CV and float the charger holds
the voltage and must supply the leak on top of the taper, so the current never tapers to its
end-of-charge level (the charger does not reach float/cut-off while the leak exceeds it) and
float power rises. After a lithium cut-off the leak drains the battery unseen.
"""

from __future__ import annotations

import random
from typing import Final, Literal

Chemistry = Literal["lead_acid_48", "lead_acid_60", "lithium_48", "lithium_60"]
Stage = Literal["cc", "cv", "float", "done"]
CHEMISTRIES: Final[tuple[Chemistry, ...]] = ("lead_acid_48", "lead_acid_60", "lithium_48", "lithium_60")
CHARGER_MIN_W: Final = 150.0
CHARGER_MAX_W: Final = 800.0
#: share of DC charging power turned into heat inside the battery in normal charging: the
#: I²·R of a pack's internal resistance at 0.2–0.3 C is 1–3 % (lithium); lead-acid loses more,
#: but mostly as gas late in absorption, so one share serves both (an underestimate for it)
_LOSS_SHARE: Final = 0.02
#: share of energy forced into a full battery that becomes heat: in a sealed lead-acid battery
#: oxygen recombination turns nearly all overcharge into heat, in lithium plating and side
#: reactions about half (Battery University BU-403/BU-409); 0.5 is the lower end
_OVERCHARGE_HEAT_SHARE: Final = 0.5
_FLOAT_RATIO: Final = 0.3
_CUTOFF_RATIO: Final = 0.05


class Charger:
    """One plugged-in battery with its charger; ground truth for tests and labels."""

    __slots__ = (
        "capacity_wh",
        "chemistry",
        "cv_soc",
        "efficiency",
        "float_w",
        "lead_acid",
        "leak_w",
        "nominal_wh",
        "rated_w",
        "soc",
        "stage",
        "standby_w",
        "taper_floor",
    )

    def __init__(
        self,
        chemistry: Chemistry,
        *,
        rated_w: float,
        capacity_wh: float,
        soc: float,
        efficiency: float,
        cv_soc: float,
        float_w: float,
        standby_w: float,
    ) -> None:
        self.chemistry: Chemistry = chemistry
        self.lead_acid = chemistry.startswith("lead_acid")
        self.rated_w = rated_w
        self.capacity_wh = capacity_wh
        #: the capacity the charger was made for (differs from capacity_wh for a modified battery)
        self.nominal_wh = capacity_wh
        self.soc = soc
        self.efficiency = efficiency
        self.cv_soc = cv_soc
        self.float_w = float_w
        self.standby_w = standby_w
        #: > 0 while an overcharge fault keeps the current from tapering below this ratio
        self.taper_floor = 0.0
        #: DC watts an internal short draws from the charge (0 for a healthy battery)
        self.leak_w = 0.0
        self.stage: Stage = "cc" if soc < cv_soc else "cv"

    @property
    def full(self) -> bool:
        """True when the charger has nothing more to give (float or cut-off)."""
        return self.stage in ("float", "done")

    def bulk_left_s(self) -> float:
        """Seconds of constant-current charging left before the CV stage (0 once past it)."""
        if self.stage != "cc":
            return 0.0
        dc_w = self.rated_w * self.efficiency * (0.92 + 0.08 * self.soc)
        return max(0.0, self.cv_soc - self.soc) * self.capacity_wh * 3600.0 / dc_w

    def ac_power(self) -> float:
        """AC power (W) the charger draws now."""
        stage = self.stage
        if stage == "cc":
            return self.rated_w * (0.92 + 0.08 * self.soc)
        leak_ac = self.leak_w / self.efficiency
        if stage == "cv":
            ratio = (1.0 - self.soc) / (1.0 - self.cv_soc)
            ratio = max(ratio, self.taper_floor)
            return min(self.rated_w * min(ratio, 1.0) + leak_ac, self.rated_w)
        if stage == "float":
            return self.float_w + leak_ac
        return self.standby_w

    def charge(self, ac_w: float, dt: float) -> float:
        """Deliver ``ac_w`` for ``dt`` s; advance SOC and stage; return heat (W) in the battery."""
        dc_w = ac_w * self.efficiency
        stage = self.stage
        if stage == "done":
            self.soc = max(0.0, self.soc - self.leak_w * dt / 3600.0 / self.capacity_wh)
            return 0.0
        soc = self.soc + max(0.0, dc_w - self.leak_w) * dt / 3600.0 / self.capacity_wh
        heat = _LOSS_SHARE * dc_w
        if soc > 1.0:
            if stage == "float":
                soc = 1.0
            else:
                heat += _OVERCHARGE_HEAT_SHARE * dc_w
        self.soc = soc
        if stage == "cc":
            if soc >= self.cv_soc:
                self.stage = "cv"
        elif stage == "cv" and self.taper_floor <= 0.0:
            # the charger ends on its output current, which carries the leak as well
            ratio = (1.0 - soc) / (1.0 - self.cv_soc) + self.leak_w / (self.rated_w * self.efficiency)
            if self.lead_acid and ratio < _FLOAT_RATIO:
                self.stage = "float"
            elif not self.lead_acid and ratio < _CUTOFF_RATIO:
                self.stage = "done"
        return heat


def draw_charger(
    rng: random.Random,
    chemistry: Chemistry,
    *,
    min_w: float = CHARGER_MIN_W,
    max_w: float = CHARGER_MAX_W,
    soc: float | None = None,
) -> Charger:
    """A random battery and charger of ``chemistry`` rated between ``min_w`` and ``max_w``."""
    volts = 60.0 if chemistry.endswith("60") else 48.0
    start_soc = rng.uniform(0.1, 0.6) if soc is None else soc
    if chemistry.startswith("lead_acid"):
        amp_hours = rng.choice((20.0, 20.0, 23.0, 32.0))
        return Charger(
            chemistry,
            rated_w=rng.uniform(max(min_w, 180.0), min(max_w, 450.0)),
            capacity_wh=volts * amp_hours * rng.uniform(0.8, 1.0),
            soc=start_soc,
            efficiency=rng.uniform(0.80, 0.88),
            cv_soc=rng.uniform(0.75, 0.82),
            float_w=rng.uniform(12.0, 25.0),
            standby_w=0.0,
        )
    return Charger(
        chemistry,
        rated_w=rng.uniform(max(min_w, 200.0), max_w),
        capacity_wh=volts * rng.uniform(12.0, 30.0),
        soc=start_soc,
        efficiency=rng.uniform(0.86, 0.93),
        cv_soc=rng.uniform(0.82, 0.9),
        float_w=0.0,
        standby_w=rng.uniform(4.0, 6.0),
    )
