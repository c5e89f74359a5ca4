"""Outdoor ambient temperature (daily cycle, presets) and the pile's AC supply voltage.

Sources: the presets are the daily means and swings of the Yangtze-valley cities of
DOMAIN.md from China Meteorological Administration climate normals (July mean ≈ 29 °C,
January ≈ 4 °C, daily swing 8–10 °C); ``summer`` is a heat-wave day peaking at 40.5 °C, the
DOMAIN.md design case. Supply: 220 V nominal, GB/T 12325-2008 allows +7 % / −10 % at the
point of use (the 228 V default sits in it); a 3 V evening sag and AR(1) noise of 1.2 V with a
2-minute memory are an estimate of a residential feeder, not a measurement.
"""

from __future__ import annotations

import math
import random
from typing import Final, Literal

AmbientPreset = Literal["winter", "mild", "summer"]

#: preset → (daily mean °C, half peak-to-peak amplitude °C); "summer" peaks at 40.5 °C at 15:00
PRESETS: Final[dict[str, tuple[float, float]]] = {
    "winter": (4.0, 5.0),
    "mild": (22.0, 5.0),
    "summer": (32.0, 8.5),
}
_DAY_S: Final = 86_400.0


class Ambient:
    """Outdoor air temperature: ``mean + amplitude·cos(2π(h − peak_hour)/24)`` in local time.

    ``offset_c`` shifts one site (shade, indoor garage) against the regional curve.
    """

    __slots__ = ("_amplitude", "_mean", "_phase_s")

    def __init__(
        self,
        mean_c: float,
        amplitude_c: float,
        *,
        peak_hour: float = 15.0,
        utc_offset_h: float = 8.0,
        offset_c: float = 0.0,
    ) -> None:
        self._mean = mean_c + offset_c
        self._amplitude = amplitude_c
        self._phase_s = (utc_offset_h - peak_hour) * 3600.0

    @classmethod
    def preset(cls, name: str, *, offset_c: float = 0.0, utc_offset_h: float = 8.0) -> Ambient:
        """An ambient curve from :data:`PRESETS`; KeyError lists the known presets."""
        try:
            mean, amplitude = PRESETS[name]
        except KeyError:
            raise KeyError(f"unknown ambient preset {name!r}; known: {sorted(PRESETS)}") from None
        return cls(mean, amplitude, offset_c=offset_c, utc_offset_h=utc_offset_h)

    def temp(self, t: float) -> float:
        """Air temperature (°C) at epoch second ``t``."""
        phase = ((t + self._phase_s) % _DAY_S) / _DAY_S
        return self._mean + self._amplitude * math.cos(2.0 * math.pi * phase)


class Supply:
    """Grid voltage at the pile: nominal, an evening sag of a few volts, AR(1) noise.

    Noise is drawn only in :meth:`step`, so reading the value never consumes randomness.
    """

    __slots__ = ("_noise", "_rng", "_utc_offset_s", "nominal_v", "volts")

    def __init__(self, nominal_v: float, rng: random.Random, *, utc_offset_h: float = 8.0) -> None:
        self.nominal_v = nominal_v
        self._rng = rng
        self._noise = 0.0
        self._utc_offset_s = utc_offset_h * 3600.0
        self.volts = nominal_v

    def step(self, t: float, dt: float) -> float:
        """Advance to ``t`` and return the supply voltage (V)."""
        keep = math.exp(-dt / 120.0)
        self._noise = self._noise * keep + self._rng.gauss(0.0, 1.2) * math.sqrt(1.0 - keep * keep)
        hour = ((t + self._utc_offset_s) % _DAY_S) / 3600.0
        sag = 3.0 * math.exp(-(((hour - 20.0) / 2.5) ** 2))
        self.volts = self.nominal_v - sag + self._noise
        return self.volts
