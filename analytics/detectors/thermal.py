"""Per-port thermal baseline: the socket temperature a port's load and the ambient explain.

For every port the bank learns online, by recursive least squares with time-based forgetting,

    socket − ambient ≈ θ · [I²_fast, I²_slow, P_fast, P_slow, 1]

where ``_fast``/``_slow`` are first-order low-pass filters of the load (half-lives
``fast_half_life_s`` and ``slow_half_life_s``): a mix of the two reproduces the socket's own
thermal lag without knowing its time constant. The residual (measured minus expected rise)
is what a failing connector or a self-heating battery adds; the score is the squashed robust
z of its positive part, 0.0 until the port has learnt ``warmup_loaded_s`` seconds under load
(time, not samples: the same warm-up at any poll rate; a step longer than ``gap_s`` is a data
gap and adds nothing), and nothing is learnt in the first hour a port is seen (its load
filters start from a guess). The
expected rise never goes below the port's no-load level (load never cools a socket).

All state is numpy arrays over the ports of one device, so a telemetry message costs a few
vectorised operations whatever its port count. Learning is gated: a port whose residual
scores at or above ``learn_below`` is not learnt (the thresholding step protecting the model).
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from analytics.detectors._math import FloatArray, Times, decay_alpha_v, squash_v
from analytics.errors import DetectorInputError

_K = 5
_LOADED_W = 50.0
#: slow-filter half-lives after a port is first seen before it learns (see ``first_t``): a
#: port first polled an hour into a charge has filters that claim the load was on forever
#: while its socket is still warming; learning that fitted opposite-signed coefficients in
#: the hundreds (``eval --train``, seed 1001, normal-mild-2-p5 port 1: −206 °C no-load level)
#: and a false ``thermal_residual`` at the port's next charge
_TRUST_HALF_LIVES = 4.0


class ThermalBank:
    """Thermal baselines of ``ports`` ports of one device, updated column-wise."""

    def __init__(
        self,
        ports: int,
        *,
        fast_half_life_s: float = 120.0,
        slow_half_life_s: float = 900.0,
        forget_half_life_s: float = 3 * 86_400.0,
        dev_half_life_s: float = 86_400.0,
        min_dev_c: float = 0.5,
        warmup_loaded_s: float = 3_000.0,
        gap_s: float = 120.0,
        learn_below: float = 0.5,
    ) -> None:
        if ports < 1:
            raise ValueError(f"ports={ports} must be ≥ 1")
        self.fast_half_life_s = fast_half_life_s
        self.slow_half_life_s = slow_half_life_s
        self.forget_half_life_s = forget_half_life_s
        self.dev_half_life_s = dev_half_life_s
        self.min_dev_c = min_dev_c
        self.warmup_loaded_s = warmup_loaded_s
        self.gap_s = gap_s
        self.learn_below = learn_below
        self.last_t = np.full(ports, np.nan)
        self.load = np.zeros((ports, 4))
        self.theta = np.zeros((ports, _K))
        self.cov = np.tile(np.eye(_K) * 100.0, (ports, 1, 1))
        self.dev = np.full(ports, min_dev_c)
        #: seconds learnt under load per port
        self.loaded = np.zeros(ports)
        #: the last filter inputs (I²/25, P/kW) per port
        self.last_in = np.zeros((ports, 2))
        #: when each port was first seen: its load filters start from a guess (the load of that
        #: first sample, held since ever), so the port learns nothing until the guess has
        #: decayed away (``_TRUST_HALF_LIVES`` slow half-lives: the error is 1/16 of the
        #: first load's distance from its true filtered value)
        self.first_t = np.full(ports, np.nan)

    @property
    def ports(self) -> int:
        """Number of ports in the bank."""
        return int(self.theta.shape[0])

    def _filtered(
        self, t: Times, current: FloatArray, power: FloatArray
    ) -> tuple[FloatArray, FloatArray, FloatArray]:
        """The load filters advanced to ``t``, the time step, and the new filter inputs.

        Exact first-order response to an input moving linearly from the last sample to this
        one, so a gap in the data (a pile that stopped answering for minutes) bridges the
        load change smoothly instead of jumping the filters to the new load at once.
        """
        dt = np.maximum(np.where(np.isnan(self.last_t), 1e9, t - self.last_t), 1e-6)
        u1 = np.stack([current * current / 25.0, power / 1000.0], axis=1)
        rate = (u1 - self.last_in) / dt[:, None]
        load = np.empty_like(self.load)
        for col, half_life in ((0, self.fast_half_life_s), (1, self.slow_half_life_s)):
            tau = half_life / math.log(2.0)
            keep = 1.0 - decay_alpha_v(dt, half_life)
            drift = rate * tau
            load[:, col::2] = u1 - drift + (self.load[:, col::2] - self.last_in + drift) * keep[:, None]
        return load, dt, u1

    @staticmethod
    def _regressors(load: FloatArray) -> FloatArray:
        x: FloatArray = np.concatenate([load, np.ones((load.shape[0], 1))], axis=1)
        return x

    def residual(
        self, t: Times, temp: FloatArray, ambient: FloatArray, current: FloatArray, power: FloatArray
    ) -> FloatArray:
        """Measured minus expected temperature rise per port (°C); does not learn."""
        load, _, _ = self._filtered(t, current, power)
        x = self._regressors(load)
        return (temp - ambient) - self._expected(self._fit(x))

    def _fit(self, x: FloatArray) -> FloatArray:
        out: FloatArray = np.einsum("pk,pk->p", self.theta, x)
        return out

    def _expected(self, fit: FloatArray) -> FloatArray:
        """Expected rise per port: the fit, but never below the port's no-load level nor below 0.

        Load never cools a socket below the cabinet air; a fit extrapolated to a load the port
        has rarely shown (a bigger charger, the first minutes of a session, a port that was
        loaded almost all the time it learnt, whose no-load level is a guess) can dip below
        that, which would make any warming look unexplained."""
        out: FloatArray = np.maximum(fit, np.maximum(self.theta[:, _K - 1], 0.0))
        return out

    def scores(self, residual: FloatArray) -> FloatArray:
        """Anomaly score per port from residuals (positive side only); 0.0 while warming up."""
        z = np.maximum(residual, 0.0) / (1.25 * self.dev)
        out: FloatArray = np.where(self.loaded >= self.warmup_loaded_s, squash_v(z), 0.0)
        return out

    def learn(
        self,
        t: Times,
        temp: FloatArray,
        ambient: FloatArray,
        current: FloatArray,
        power: FloatArray,
        *,
        valid: npt.NDArray[np.bool_] | None = None,
    ) -> FloatArray:
        """Learn one sample per port (where ``valid``) and return the pre-update residuals.

        Ports whose residual already scores ≥ ``learn_below`` only advance their load filters.
        """
        load, dt, inputs = self._filtered(t, current, power)
        x = self._regressors(load)
        rise = temp - ambient
        fit = self._fit(x)
        resid: FloatArray = rise - self._expected(fit)
        ok = np.ones(self.ports, dtype=bool) if valid is None else valid.astype(bool)
        ok &= np.isfinite(resid)
        self.load = np.where(ok[:, None], load, self.load)
        self.last_in = np.where(ok[:, None], inputs, self.last_in)
        self.last_t = np.where(ok, t, self.last_t)
        self.first_t = np.where(ok & np.isnan(self.first_t), t, self.first_t)
        trusted = t - self.first_t >= _TRUST_HALF_LIVES * self.slow_half_life_s
        learn = ok & trusted & (self.scores(np.where(ok, resid, 0.0)) < self.learn_below)
        if not learn.any():
            return resid
        idx = np.flatnonzero(learn)
        xs, e = x[idx], (rise - fit)[idx]
        lam = np.exp2(-np.minimum(dt[idx], 3_600.0) / self.forget_half_life_s)
        cov = self.cov[idx]
        px = np.einsum("pij,pj->pi", cov, xs)
        gain = px / (lam + np.einsum("pi,pi->p", xs, px))[:, None]
        self.theta[idx] += gain * e[:, None]
        cov = (cov - np.einsum("pi,pj->pij", gain, px)) / lam[:, None, None]
        self.cov[idx] = np.minimum(cov, 1e4)
        a_dev = np.minimum(decay_alpha_v(dt[idx], self.dev_half_life_s), 0.5)
        clipped = np.minimum(np.abs(e), 3.0 * self.dev[idx])
        self.dev[idx] = np.maximum(self.dev[idx] + a_dev * (clipped - self.dev[idx]), self.min_dev_c)
        step = np.where(dt[idx] <= self.gap_s, dt[idx], 0.0)
        self.loaded[idx] += np.where(power[idx] > _LOADED_W, step, 0.0)
        return resid


class ThermalDetector:
    """One port's thermal baseline behind the streaming detector contract.

    ``x`` maps ``socket_temp``, ``ambient_temp``, ``current`` (A) and ``power`` (W) to floats.
    """

    _KEYS = ("socket_temp", "ambient_temp", "current", "power")

    def __init__(self, *, warmup_loaded_s: float = 3_000.0, learn_below: float = 0.5) -> None:
        self.bank = ThermalBank(1, warmup_loaded_s=warmup_loaded_s, learn_below=learn_below)

    @classmethod
    def _cols(cls, x: dict[str, float]) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
        for key in cls._KEYS:
            if key not in x or not math.isfinite(x[key]):
                raise DetectorInputError(cls.__name__, x.get(key), f"{key} is missing, NaN or infinite")
        return (
            np.array([x["socket_temp"]]),
            np.array([x["ambient_temp"]]),
            np.array([x["current"]]),
            np.array([x["power"]]),
        )

    def score_one(self, t: float, x: dict[str, float]) -> float:
        """Score of the port heating beyond what its load explains, in [0, 1)."""
        resid = self.bank.residual(t, *self._cols(x))
        return float(self.bank.scores(resid)[0])

    def learn_one(self, t: float, x: dict[str, float]) -> None:
        """Learn the sample unless its residual already scores ≥ ``learn_below``."""
        self.bank.learn(t, *self._cols(x))
