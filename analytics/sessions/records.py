"""Charging-session records and their fee under a posted tariff (the ``session`` measurement)."""

from __future__ import annotations

import math

import msgspec


class Tariff(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """Posted prices: electricity at the residential rate plus a service fee, per kWh and per hour."""

    currency: str = "CNY"
    electricity_per_kwh: float = 0.56
    service_per_kwh: float = 0.30
    service_per_hour: float = 0.0

    def __post_init__(self) -> None:
        for name in ("electricity_per_kwh", "service_per_kwh", "service_per_hour"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(f"tariff.{name}={value} must be a finite price ≥ 0")


class Fee(msgspec.Struct, frozen=True, kw_only=True):
    """The fee of one session, broken down as posted; amounts rounded to 0.01."""

    currency: str
    electricity: float
    service: float
    total: float


def fee(tariff: Tariff, energy_kwh: float, duration_s: float) -> Fee:
    """Fee of a session of ``energy_kwh`` over ``duration_s`` under ``tariff``."""
    electricity = round(energy_kwh * tariff.electricity_per_kwh, 2)
    service = round(energy_kwh * tariff.service_per_kwh + duration_s / 3_600.0 * tariff.service_per_hour, 2)
    return Fee(
        currency=tariff.currency,
        electricity=electricity,
        service=service,
        total=round(electricity + service, 2),
    )


class SessionRecord(msgspec.Struct, frozen=True, kw_only=True):
    """One finished charging session of one port."""

    device: str
    port: int
    start: float
    end: float
    end_reason: str
    energy_kwh: float
    duration_s: float
    peak_w: float
    float_frac: float
    temp_rise_c: float
    fee: Fee

    def features(self) -> dict[str, float]:
        """The session model's features of this session."""
        return {
            "energy_kwh": self.energy_kwh,
            "duration_s": self.duration_s,
            "peak_w": self.peak_w,
            "temp_rise_c": self.temp_rise_c,
            "float_frac": self.float_frac,
        }
