"""The fee calculator: each scheme, time-of-day periods across midnight, billed-duration rounding."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import msgspec
import pytest

from analytics.sessions import Band, Period, Tariff, money

SH = ZoneInfo("Asia/Shanghai")
TOU = (
    Period(name="峰", start="08:00", end="11:00", price_per_kwh=1.0),
    Period(name="平", start="11:00", end="18:00", price_per_kwh=0.6),
    Period(name="峰", start="18:00", end="22:00", price_per_kwh=1.0),
    Period(name="谷", start="22:00", end="08:00", price_per_kwh=0.3),
)


def _at(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=SH).timestamp()


def _slot(ts: float) -> int:
    return int(ts % 86_400 // 900)


def test_energy_split_across_midnight_periods() -> None:
    tariff = Tariff(periods=TOU, service_per_kwh=0.1)
    start = _at("2026-12-03 21:45")
    slots = {_slot(start): 0.2, _slot(start + 900): 0.2, _slot(_at("2026-12-04 00:15")): 0.4}
    fee = tariff.fee(start=start, duration_s=3 * 3600, energy_kwh=0.8, slot_kwh=slots, peak_w=300, avg_w=270)
    assert [(p.name, p.kwh, p.amount) for p in fee.periods] == [("峰", 0.2, 0.2), ("谷", 0.6, 0.18)]
    assert (fee.electricity, fee.service, fee.total) == (0.38, 0.08, 0.46)
    assert (fee.tariff_id, fee.tariff_version, fee.scheme, fee.currency) == ("default", 1, "energy", "CNY")


def test_meter_energy_scales_the_split() -> None:
    tariff = Tariff(periods=TOU, service_per_kwh=0.0)
    start = _at("2026-12-04 10:45")
    slots = {_slot(start): 0.1, _slot(start + 900): 0.1}  # 峰 then 平, pile meter says 0.3 kWh in all
    fee = tariff.fee(start=start, duration_s=1800, energy_kwh=0.3, slot_kwh=slots, peak_w=400, avg_w=400)
    assert [(p.name, p.kwh) for p in fee.periods] == [("峰", 0.15), ("平", 0.15)]
    assert fee.electricity == 0.24


@pytest.mark.parametrize(
    ("rounding", "minutes", "billed_h"),
    [
        ("up", 16, 0.5),
        ("up", 15, 0.25),
        ("up", 0, 0.0),
        ("down", 29, 0.25),
        ("nearest", 22, 0.25),
        ("nearest", 23, 0.5),
        ("exact", 20, 20 / 60),
    ],
)
def test_time_scheme_rounds_the_billed_duration(rounding: str, minutes: int, billed_h: float) -> None:
    tariff = msgspec.convert(
        {"scheme": "time", "price_per_hour": 1.2, "unit_min": 15, "rounding": rounding, "service_per_kwh": 0},
        Tariff,
    )
    fee = tariff.fee(start=0.0, duration_s=minutes * 60, energy_kwh=0.1, slot_kwh={}, peak_w=1, avg_w=1)
    assert fee.billed_h == pytest.approx(billed_h)
    assert fee.electricity == money(billed_h * 1.2)


def test_power_band_by_peak_or_average() -> None:
    bands = (
        Band(up_to_w=200, price_per_hour=0.2),
        Band(up_to_w=400, price_per_hour=0.35),
        Band(price_per_hour=0.6),
    )
    peak = Tariff(scheme="power_band", bands=bands, unit_min=60, service_per_kwh=0.0, service_per_hour=0.05)
    f = peak.fee(start=0.0, duration_s=2.5 * 3600, energy_kwh=0.9, slot_kwh={}, peak_w=450, avg_w=360)
    assert (f.band, f.billed_h, f.electricity, f.service, f.total) == (">400 W", 3.0, 1.8, 0.15, 1.95)
    avg = msgspec.structs.replace(peak, band_by="average")
    f = avg.fee(start=0.0, duration_s=2.5 * 3600, energy_kwh=0.9, slot_kwh={}, peak_w=450, avg_w=360)
    assert (f.band, f.electricity) == ("200-400 W", 1.05)


def test_money_rounds_half_up() -> None:
    assert (money(0.125), money(0.115), money(2.675), money(0.0049)) == (0.13, 0.12, 2.68, 0.0)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            {"periods": [{"name": "a", "start": "00:00", "end": "12:00", "price_per_kwh": 1}]},
            "do not cover 12:00",
        ),
        (
            {
                "periods": [
                    {"name": "a", "start": "00:00", "end": "13:00", "price_per_kwh": 1},
                    {"name": "b", "start": "12:00", "end": "00:00", "price_per_kwh": 1},
                ]
            },
            "'b' overlaps 'a' at 12:00",
        ),
        ({"periods": [{"name": "a", "start": "00:10", "end": "00:10", "price_per_kwh": 1}]}, "quarter hour"),
        ({"periods": [{"name": "a", "start": "8", "end": "00:00", "price_per_kwh": 1}]}, "must be HH:MM"),
        ({"scheme": "power_band"}, "needs tariff.bands"),
        ({"scheme": "power_band", "bands": [{"up_to_w": 200, "price_per_hour": 1}]}, "only the last band"),
        ({"service_per_kwh": -1}, "service_per_kwh"),
        ({"timezone": "Mars/Olympus"}, "not a time zone"),
        ({"unit_min": 0}, "unit_min"),
        ({"colour": "red"}, "unknown field"),
    ],
)
def test_bad_tariffs_are_refused_with_the_key(data: dict[str, object], message: str) -> None:
    with pytest.raises(msgspec.ValidationError, match=message):
        msgspec.convert(data, Tariff)


def test_whole_day_period_and_defaults() -> None:
    fee = Tariff().fee(
        start=_at("2026-12-04 03:00"),
        duration_s=3600,
        energy_kwh=1.0,
        slot_kwh={3: 1.0},
        peak_w=1000,
        avg_w=1000,
    )
    assert (fee.electricity, fee.service, fee.total) == (0.56, 0.3, 0.86)


def test_split_energy_is_priced_without_float_residue() -> None:
    """0.005 + 0.00875 kWh scaled to a 0.055 kWh meter sums to 0.05499999…: still 0.06 CNY."""
    tariff = Tariff(periods=(Period(name="平", start="00:00", end="00:00", price_per_kwh=1.0),))
    fee = tariff.fee(
        start=0.0, duration_s=600, energy_kwh=0.055, slot_kwh={0: 0.005, 1: 0.00875}, peak_w=1, avg_w=1
    )
    assert (fee.electricity, fee.periods[0].kwh) == (0.06, 0.055)
