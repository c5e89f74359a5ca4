"""A pile's instruments: what its temperature sensors and energy meters read of the true state.

The physics (:mod:`firmware_sim.physics`, :class:`firmware_sim.devices.port.Port`) is ground
truth; the firmware and the registers see it only through these instruments, each with the
errors a real part has. The models and where their figures come from:

* **Temperature** (every socket and the cabinet's ambient sensor): a 10 kΩ NTC thermistor in
  a divider read by the controller's 12-bit ADC. A fitted sensor keeps a fixed calibration
  offset drawn once, N(0, 0.3 °C) clipped to ±1 °C (a ±1 % R25 / ±1 % B thermistor is about
  ±0.3 °C at 25 °C and ±0.7 °C at 85 °C in common makers' tolerance tables); each reading
  adds white noise of σ 0.1 °C (a few ADC counts of supply and reference noise) and is
  quantised to the ADC step, 1/16 °C (a 12-bit conversion linearised over −40…150 °C).
  The cabinet sensor also lags the air by a first-order time constant of 60 s (a sensor in
  a plastic housing on the control board). The register adds its own resolution on top
  (the profile's ``scale``).
* **Energy meter** (each port's ``energy`` and ``meter`` registers): the metering IC counts
  the true energy times ``1 + gain_error`` (IEC 62053-21 class 1 allows ±1 %; a cheap
  uncalibrated channel is within ±3 %), truncated to its register resolution by the
  profile. The current and power readings the controller samples come from the port's own
  current sensor and are not scaled by it.

Randomness comes from the device's own instrument stream (seed and device id), separate from
the physics stream, so the instruments are deterministic and adding one never changes what
the batteries or the riders do.
"""

from __future__ import annotations

import math
import random

#: calibration offset of a fitted temperature sensor: σ and bound (°C)
OFFSET_SIGMA_C = 0.3
OFFSET_MAX_C = 1.0
#: white noise of one temperature conversion (°C)
NOISE_SIGMA_C = 0.1
#: ADC step of a temperature conversion (°C)
ADC_STEP_C = 1.0 / 16.0
#: time constant of the cabinet air sensor (s)
AMBIENT_TAU_S = 60.0


def _offset(rng: random.Random) -> float:
    return max(-OFFSET_MAX_C, min(OFFSET_MAX_C, rng.gauss(0.0, OFFSET_SIGMA_C)))


def _quantise(value: float) -> float:
    return round(value / ADC_STEP_C) * ADC_STEP_C


class Instruments:
    """The temperature sensors and energy meters of one pile with ``ports`` ports."""

    __slots__ = ("_ambient_c", "_ambient_offset", "_rng", "_socket_offset", "meter_gain")

    def __init__(self, rng: random.Random, ports: int, *, meter_gain_error: float = 0.0) -> None:
        self._rng = rng
        self._socket_offset = [_offset(rng) for _ in range(ports)]
        self._ambient_offset = _offset(rng)
        self._ambient_c = math.nan
        #: what the energy registers count per true kWh
        self.meter_gain = 1.0 + meter_gain_error

    def socket(self, port: int, true_c: float) -> float:
        """One conversion of the socket sensor of ``port`` at the true temperature ``true_c``."""
        noise = self._rng.gauss(0.0, NOISE_SIGMA_C)
        return _quantise(true_c + self._socket_offset[port] + noise)

    def ambient(self, air_c: float, dt: float) -> float:
        """Advance the cabinet sensor by ``dt`` seconds in air at ``air_c``; one conversion."""
        if math.isnan(self._ambient_c):
            self._ambient_c = air_c
        else:
            self._ambient_c += (1.0 - math.exp(-dt / AMBIENT_TAU_S)) * (air_c - self._ambient_c)
        noise = self._rng.gauss(0.0, NOISE_SIGMA_C)
        return _quantise(self._ambient_c + self._ambient_offset + noise)

    def energy(self, true_kwh: float) -> float:
        """What an energy register shows for ``true_kwh`` delivered."""
        return true_kwh * self.meter_gain
