"""Round values to the resolution of their register, as the device profile declares it.

A register with ``scale: 0.1`` holds tenths: its decoded value ``384 * 0.1`` is
``38.400000000000006`` in binary floating point, and storing that costs bytes and misleads
readers. :func:`resolution` derives each point's decimals from its profile (scale and offset;
``0`` for integer registers and bools; :data:`F32` — 7 significant digits — for float32
registers), and :meth:`Resolution.columns` rounds the columns of one telemetry message in one
numpy pass (the gateway's hot path): ``rint(v × 10^d) / 10^d`` gives the double nearest the
decimal, whose shortest form is the decimal itself. The canonical ``state`` code is always an
integer.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import numpy.typing as npt

from chargewatch.profiles import DeviceProfile, Point

F32 = -1
#: port points stored as integers: the canonical port state code
INTEGER_POINTS = frozenset({"state"})
Column = list[float | int | None]


def _decimals(point: Point) -> int:
    if point.type == "f32":
        return F32
    if point.type == "bool":
        return 0
    for places in range(10):
        step = 10.0**places
        if all(abs(x * step - round(x * step)) < 1e-6 for x in (point.scale, point.offset)):
            return places
    return F32


def _sig7(value: float) -> float:
    if value == 0 or not math.isfinite(value):
        return value
    return float(f"{value:.7g}")


def round_one(value: float, places: int) -> float | int:
    """``value`` at ``places`` decimals (an int for 0, 7 significant digits for :data:`F32`)."""
    if places == F32:
        return _sig7(value)
    if places == 0 and math.isfinite(value):
        return round(value)
    return round(value, places)


class _Plan:
    """Per-column factors of one column layout (cached: a fleet has few layouts)."""

    def __init__(self, names: tuple[str, ...], decimals: Mapping[str, int]) -> None:
        places = [decimals.get(n) for n in names]
        self.fixed = np.array([p is not None and p >= 0 for p in places])
        self.mult = np.array([10.0 ** (p if p is not None and p >= 0 else 0) for p in places])[:, None]
        self.f32 = np.array([p == F32 for p in places])
        self.ints = [i for i, n in enumerate(names) if n in INTEGER_POINTS]
        self.any_fixed, self.any_f32 = bool(self.fixed.any()), bool(self.f32.any())
        self.all_fixed = bool(self.fixed.all())


def _round_sig7(block: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """7 significant digits, element-wise, equal to :func:`round_one` with :data:`F32`."""
    with np.errstate(divide="ignore", invalid="ignore"):
        mag = np.floor(np.log10(np.abs(block)))
    # zero, and magnitudes below 1e-290 (whose scale factor would overflow), stay as they are
    keep = ~np.isfinite(mag) | (mag < -290.0)
    mag = np.where(keep, 0.0, mag)
    up = 10.0 ** np.clip(6.0 - mag, 0.0, None)
    down = 10.0 ** np.clip(mag - 6.0, 0.0, None)
    rounded = np.where(mag < 6.0, np.rint(block * up) / up, np.rint(block / down) * down)
    rounded = np.where(keep, block, rounded)
    # beyond 1e22 powers of ten are inexact doubles: decimal formatting (implausible values, rare)
    for index in zip(*np.nonzero(mag > 21.0), strict=True):
        rounded[index] = _sig7(float(block[index]))
    return rounded


class Resolution:
    """The decimals of every point of one profile, and the rounding of its columns."""

    def __init__(self, decimals: Mapping[str, int]) -> None:
        self.decimals = dict(decimals)
        self._plans: dict[tuple[str, ...], _Plan] = {}

    def get(self, name: str) -> int | None:
        return self.decimals.get(name)

    def _plan(self, names: tuple[str, ...]) -> _Plan:
        plan = self._plans.get(names)
        if plan is None:
            if len(self._plans) >= 256:
                self._plans.clear()
            plan = self._plans[names] = _Plan(names, self.decimals)
        return plan

    def columns(self, names: tuple[str, ...], cols: Sequence[Sequence[float | None]]) -> list[Column]:
        """``cols`` rounded; columns of equal width without ``None`` in one numpy pass."""
        plan = self._plan(names)
        width = len(cols[0]) if cols else 0
        if any(len(c) != width or None in c for c in cols):
            return [self._slow(n, c) for n, c in zip(names, cols, strict=True)]
        block = np.array(cols, dtype=np.float64)
        if plan.all_fixed:
            block = np.rint(block * plan.mult) / plan.mult
        elif plan.any_fixed:
            rounded = np.rint(block * plan.mult) / plan.mult
            block = np.where(plan.fixed[:, None], rounded, block)
        if plan.any_f32:
            block[plan.f32] = _round_sig7(block[plan.f32])
        out: list[Column] = block.tolist()
        for i in plan.ints:
            out[i] = [int(v) if v is not None and math.isfinite(v) else v for v in out[i]]
        return out

    def _slow(self, name: str, col: Sequence[float | None]) -> Column:
        places = 0 if name in INTEGER_POINTS else self.decimals.get(name)
        if places is None:
            return list(col)
        return [None if v is None else round_one(v, places) for v in col]


def resolution(profile: DeviceProfile) -> Resolution:
    """Decimals each point of ``profile`` is stored with (its register's resolution)."""
    return Resolution({p.name: _decimals(p) for p in profile.points})


def integer_columns(names: tuple[str, ...], cols: Sequence[Sequence[float | None]]) -> list[Column]:
    """``cols`` as they are, but the :data:`INTEGER_POINTS` as ints (no profile known)."""
    return [
        [v if v is None or not math.isfinite(v) else round(v) for v in c] if n in INTEGER_POINTS else list(c)
        for n, c in zip(names, cols, strict=True)
    ]
