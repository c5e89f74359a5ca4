"""Posted tariffs and the itemised fee of a charging session (DOMAIN item 12: transparent fees).

Three ways Chinese e-bike operators bill, each plus a service fee (per kWh and/or per hour):

* ``energy``: price per kWh by time-of-day period (峰/平/谷). Periods are ``HH:MM`` ranges in
  the site's time zone on quarter hours, may cross midnight, and together cover the day once.
  A session's energy is split across periods by when it was delivered: the tracker keeps the
  energy of each UTC quarter hour of the day (:data:`SLOTS` accumulators per port), which
  maps onto any quarter-hour period layout, so a changed tariff still splits exactly.
* ``time``: ``price_per_hour`` for the billed duration.
* ``power_band``: price per hour by the band of the session's peak (or average) power.

Billed duration: the session's duration in ``unit_min`` units, rounded ``up`` (per started
unit, the default: a 16-minute session with 15-minute units bills 30 minutes), ``nearest``,
``down`` or ``exact`` (pro rata). Amounts are rounded half-up to 0.01 per item; the total is
the sum of the rounded items, as printed on a receipt.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import msgspec

#: quarter hours of a day: the tracker's per-port energy accumulators
SLOTS = 96
SLOT_S = 86_400 // SLOTS
_CENT = Decimal("0.01")


def _price(where: str, value: float) -> None:
    if not (math.isfinite(value) and value >= 0):
        raise ValueError(f"tariff.{where}={value} must be a finite price ≥ 0")


def _quarter(where: str, text: str) -> int:
    """``HH:MM`` (``24:00`` allowed) → quarter-hour index; ValueError naming the key."""
    hh, sep, mm = text.partition(":")
    if not (sep and hh.isdigit() and mm.isdigit() and len(mm) == 2):
        raise ValueError(f"tariff.{where}={text!r} must be HH:MM, e.g. 08:00")
    minutes = int(hh) * 60 + int(mm)
    if minutes > 1440 or int(mm) >= 60 or minutes % 15:
        raise ValueError(f"tariff.{where}={text!r} must be a quarter hour between 00:00 and 24:00")
    return minutes // 15 % SLOTS


class Period(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """One time-of-day period of the ``energy`` scheme, e.g. 峰 08:00–22:00 at 0.62/kWh."""

    name: str
    start: str
    end: str
    price_per_kwh: float


class Band(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """A power band of the ``power_band`` scheme: up to ``up_to_w`` (omit on the last band)."""

    up_to_w: float | None = None
    price_per_hour: float


def _default_periods() -> tuple[Period, ...]:
    return (Period(name="平", start="00:00", end="24:00", price_per_kwh=0.56),)


class PeriodFee(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    kwh: float
    price_per_kwh: float
    amount: float


class Fee(msgspec.Struct, frozen=True, kw_only=True):
    """The fee of one session, itemised as posted; amounts rounded half-up to 0.01."""

    currency: str
    electricity: float
    service: float
    total: float
    tariff_id: str
    tariff_version: int
    scheme: str
    billed_h: float
    band: str = ""
    periods: tuple[PeriodFee, ...] = ()


class Tariff(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """A site's posted tariff (the gateway config's ``tariff:`` section), validated on load."""

    id: str = "default"
    version: int = 1
    currency: str = "CNY"
    timezone: str = "Asia/Shanghai"
    scheme: Literal["energy", "time", "power_band"] = "energy"
    periods: tuple[Period, ...] = msgspec.field(default_factory=_default_periods)
    price_per_hour: float = 0.0
    bands: tuple[Band, ...] = ()
    band_by: Literal["peak", "average"] = "peak"
    unit_min: int = 15
    rounding: Literal["up", "nearest", "down", "exact"] = "up"
    service_per_kwh: float = 0.30
    service_per_hour: float = 0.0

    def __post_init__(self) -> None:
        if not self.id or self.version < 0:
            raise ValueError("tariff.id must be set and tariff.version ≥ 0")
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(
                f"tariff.timezone={self.timezone!r} is not a time zone, e.g. Asia/Shanghai"
            ) from exc
        if not 1 <= self.unit_min <= 1440:
            raise ValueError(f"tariff.unit_min={self.unit_min} must be 1..1440 minutes")
        for name in ("price_per_hour", "service_per_kwh", "service_per_hour"):
            _price(name, getattr(self, name))
        self._check_periods()
        if self.scheme == "power_band":
            self._check_bands()

    def _check_periods(self) -> None:
        owner: list[str | None] = [None] * SLOTS
        prices: dict[str, float] = {}
        for i, p in enumerate(self.periods):
            _price(f"periods[{i}].price_per_kwh", p.price_per_kwh)
            if prices.setdefault(p.name, p.price_per_kwh) != p.price_per_kwh:
                raise ValueError(f"tariff.periods: {p.name!r} appears with two prices; give it one")
            lo = _quarter(f"periods[{i}].start", p.start)
            hi = _quarter(f"periods[{i}].end", p.end)
            span = (hi - lo) % SLOTS or SLOTS
            for k in range(lo, lo + span):
                if owner[k % SLOTS] is not None:
                    at = f"{k % SLOTS // 4:02d}:{k % 4 * 15:02d}"
                    raise ValueError(f"tariff.periods: {p.name!r} overlaps {owner[k % SLOTS]!r} at {at}")
                owner[k % SLOTS] = p.name
        if None in owner:
            k = owner.index(None)
            raise ValueError(
                f"tariff.periods do not cover {k // 4:02d}:{k % 4 * 15:02d}; cover the whole day"
            )

    def _check_bands(self) -> None:
        if not self.bands:
            raise ValueError("tariff.scheme power_band needs tariff.bands")
        last = 0.0
        for i, b in enumerate(self.bands):
            _price(f"bands[{i}].price_per_hour", b.price_per_hour)
            open_end = b.up_to_w is None
            if open_end != (i == len(self.bands) - 1):
                raise ValueError("tariff.bands: only the last band omits up_to_w (it takes any higher power)")
            if b.up_to_w is not None and not b.up_to_w > last:
                raise ValueError(f"tariff.bands[{i}].up_to_w={b.up_to_w} must rise above {last}")
            last = b.up_to_w or last

    # -- the fee ---------------------------------------------------------------------------------
    def billed_hours(self, duration_s: float) -> float:
        """The duration billed, in hours, after rounding to ``unit_min`` units."""
        units = max(duration_s, 0.0) / (self.unit_min * 60.0)
        if self.rounding == "up":
            units = math.ceil(units - 1e-9)
        elif self.rounding == "down":
            units = math.floor(units + 1e-9)
        elif self.rounding == "nearest":
            units = math.floor(units + 0.5)
        return units * self.unit_min / 60.0

    def local_periods(self, start: float) -> list[Period]:
        """Period of each UTC quarter hour of the day, for a session starting at ``start``."""
        offset = datetime.fromtimestamp(start, ZoneInfo(self.timezone)).utcoffset()
        shift = round((offset.total_seconds() if offset else 0.0) / SLOT_S)
        local: list[Period | None] = [None] * SLOTS
        for p in self.periods:
            lo, hi = _quarter("start", p.start), _quarter("end", p.end)
            for k in range(lo, lo + ((hi - lo) % SLOTS or SLOTS)):
                local[k % SLOTS] = p
        return [p for p in (local[(k + shift) % SLOTS] for k in range(SLOTS)) if p is not None]

    def fee(
        self,
        *,
        start: float,
        duration_s: float,
        energy_kwh: float,
        slot_kwh: Mapping[int, float],
        peak_w: float,
        avg_w: float,
    ) -> Fee:
        """Itemised fee of one session; ``slot_kwh`` is its energy per UTC quarter hour."""
        hours = self.billed_hours(duration_s)
        periods: tuple[PeriodFee, ...] = ()
        band = ""
        if self.scheme == "energy":
            periods = self._split(start, energy_kwh, slot_kwh)
            electricity = sum(p.amount for p in periods)
        elif self.scheme == "time":
            electricity = hours * self.price_per_hour
        else:
            power = peak_w if self.band_by == "peak" else avg_w
            chosen, floor = self.bands[-1], 0.0
            for b in self.bands:
                if b.up_to_w is not None and power <= b.up_to_w:
                    chosen = b
                    break
                floor = b.up_to_w or floor
            band = f"{floor:g}-{chosen.up_to_w:g} W" if chosen.up_to_w is not None else f">{floor:g} W"
            electricity = hours * chosen.price_per_hour
        service = energy_kwh * self.service_per_kwh + hours * self.service_per_hour
        e, s = money(electricity), money(service)
        return Fee(
            currency=self.currency,
            electricity=e,
            service=s,
            total=money(e + s),
            tariff_id=self.id,
            tariff_version=self.version,
            scheme=self.scheme,
            billed_h=hours,
            band=band,
            periods=periods,
        )

    def _split(self, start: float, energy_kwh: float, slot_kwh: Mapping[int, float]) -> tuple[PeriodFee, ...]:
        """Energy and amount per period; slots scaled so they sum to the billed energy."""
        local = self.local_periods(start)
        measured = sum(slot_kwh.values())
        if measured > 0:
            scale = energy_kwh / measured
            parts = {k: v * scale for k, v in slot_kwh.items()}
        else:  # a meter reading without power samples: bill it in the period the session began
            parts = {int(start % 86_400 // SLOT_S): energy_kwh}
        kwh: dict[str, float] = {}
        for k, v in parts.items():
            name = local[k % SLOTS].name
            kwh[name] = kwh.get(name, 0.0) + v
        price = {p.name: p.price_per_kwh for p in self.periods}
        kwh = {n: round(v, 6) for n, v in kwh.items()}  # to the mWh: no float residue changes a cent
        return tuple(
            PeriodFee(name=n, kwh=round(kwh[n], 4), price_per_kwh=price[n], amount=money(kwh[n] * price[n]))
            for n in price
            if kwh.get(n, 0.0) > 0
        )


def money(value: float) -> float:
    """``value`` rounded half-up to 0.01 (not banker's rounding, not binary artefacts)."""
    return float(Decimal(repr(value)).quantize(_CENT, rounding=ROUND_HALF_UP))
