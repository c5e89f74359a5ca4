"""A battery heating itself, seen from the pile: the thermal-runaway precursor's two signatures.

A cell heading for thermal runaway develops an internal short whose Joule heat grows with
the cell's temperature (Feng et al. 2018, "Thermal runaway mechanism of lithium ion battery
for electric vehicles: a review", Energy Storage Materials 10). The pile measures the port's
AC power and socket temperature only, and the battery shows up in them in two ways:

* **Current rising out of a constant-voltage taper** (``taper``): once the charger holds its
  end voltage, a healthy pack accepts less and less current as it fills (the CV taper of
  Battery University BU-403/BU-409 only falls; in float it stays flat). A current that climbs
  back up from the taper's lowest point feeds something that does not store charge — a short
  inside the pack. A climb is judged against the lowest smoothed power of the last half hour
  (``taper_window_s``) since the taper began (the power fell ``taper_drop`` below its peak);
  a jump up between two polls (a charger that restarts its cycle, a swapped battery) starts
  the charge afresh — peak, taper and floor are forgotten and tracked again once the power
  has settled — so only a gradual climb out of a taper counts, never a bulk's own ramp.
  ``taper_rise_frac`` of the peak (at least ``taper_rise_w``) is ten times the 0.3 % noise
  of a port's current sensor and several times a power register's 0.1–1 W step.
* **A socket warming with no load** (``idle``): once a session has ended full or been cut
  and the rider's plug is still in (the port reports ``full``, ``fault`` or ``stopped``, not
  ``idle``), the socket's only heat sources are the cabinet air and that battery. The socket
  follows the air with its own thermal lag (``socket_tau_s``: a few tens of grams of brass and
  plastic behind the panel, ≈ 75 J/K, at ≈ 8 K/W to the air — the figure the thermal baseline
  is built on), so the ambient reading is passed through that lag before it is compared; a
  socket that rises ``idle_rise_c`` above the lowest lag-corrected gap of the last hour with no load is heated
  by the battery (judged once that lag filter has run three time constants from its start):
  0.5 K is one step of the coarsest (0.5 °C) socket register, about three times what a
  ±50 % error of that lag makes of a 2 K/h change of the air, and twice the largest such rise
  of any idle socket on twelve normal 12-h training days at a 5 s poll (0.24 K). The socket's
  own reading must have moved within three of its time constants: a live sensor follows any
  change of the air within that time, so a reading frozen that long while the gap widens is a
  stuck sensor reading an air that cooled, not a battery (the sensor rule judges stuck sensors
  only under load, where the port's power drives the reading).

While a charge is still in its constant-current bulk neither is visible: a constant-current
charger regulates its current, so a short only slows the rise of the pack voltage by the
share of the charge it steals, a few per cent of a ramp of a few watts per hour, far below
what a pack's own voltage curve varies. The evaluation reports those episodes apart.
"""

from __future__ import annotations

import msgspec
import numpy as np

from analytics.alerts import Condition
from analytics.detectors._math import FloatArray, Times, decay_alpha_v, per_port
from analytics.rules.sensor import BoolArray
from chargewatch.messages import PORT_STATES

#: port states in which the pile's output is open but the rider's plug is still in: the session
#: ended full or was cut (an ``idle`` port has, as far as the pile knows, nothing plugged in)
_PLUG_LEFT_IN = np.array([PORT_STATES[s] for s in ("full", "fault", "stopped")], dtype=np.float64)

KIND = "battery_self_heating"


class SelfHeatConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """Thresholds of :class:`SelfHeatRules` (sources in the module docstring)."""

    #: power below its session peak by this share: the constant-voltage taper has begun
    taper_drop: float = 0.02
    #: climb above the taper's lowest smoothed power that is a self-heating battery
    taper_rise_frac: float = 0.03
    taper_rise_w: float = 5.0
    #: the climb counts over the lowest power of the last half to whole window: a short feeding
    #: on its own heat climbs ``taper_rise_frac`` within minutes near runaway, while a bulk
    #: charge's ramp (its power rises 8–14 % over the whole bulk, BU-403/409) climbs slower
    taper_window_s: float = 1_800.0
    #: after a jump in the power (a charger restarting its cycle, a swapped battery) the taper's
    #: floor is forgotten and tracked again once the smoothed power has settled: five half-lives
    #: of the session tracker's 60 s smoothing (within 3 % of the new level)
    step_settle_s: float = 300.0
    #: below this AC power a port carries no load that heats its socket (W)
    idle_w: float = 50.0
    #: thermal lag of a socket behind the cabinet air (s)
    socket_tau_s: float = 600.0
    #: half-life of the smoothed socket−air gap (s)
    gap_half_life_s: float = 300.0
    #: seconds with no load before the idle socket is judged
    idle_settle_s: float = 600.0
    #: rise of the idle socket over its lowest lag-corrected gap of the last half to whole
    #: ``idle_window_s`` that is a heating battery (K)
    idle_rise_c: float = 0.5
    #: the window of that lowest gap: a battery heading for runaway warms the socket over tens
    #: of minutes (its own time constant is ≈ 40 min), while the slow drifts of a long idle
    #: (the day's air, a sensor's offset with temperature) take hours
    idle_window_s: float = 3_600.0
    #: a poll further apart than this is a data gap: both signatures start afresh
    data_gap_s: float = 120.0


class SelfHeatRules:
    """Both signatures over the ports of a fleet, vectorised; state is per-port arrays."""

    KINDS = (KIND,)

    def __init__(self, ports: int, config: SelfHeatConfig) -> None:
        self.config = config
        self.last_t = np.full(ports, np.nan)
        self.session = np.full(ports, np.nan)
        self.tapering = np.zeros(ports, dtype=bool)
        self.floor_w = np.full(ports, np.inf)
        #: lowest smoothed power in the current and the previous half of ``taper_window_s``,
        #: and when the current half began
        self.floor_min = np.full((ports, 2), np.inf)
        self.floor_t = np.full(ports, -np.inf)
        #: highest settled smoothed power since the session or the charger's last restart
        self.peak_w = np.zeros(ports)
        self.last_med = np.full(ports, np.nan)
        self.step_t = np.full(ports, -np.inf)
        self.air = np.full(ports, np.nan)
        self.air_since = np.full(ports, np.nan)
        self.gap = np.full(ports, np.nan)
        self.gap_floor = np.full(ports, np.inf)
        #: lowest gap in the current and the previous half of ``idle_window_s``, and when the
        #: current half began
        self.gap_min = np.full((ports, 2), np.inf)
        self.gap_min_t = np.full(ports, -np.inf)
        self.idle_since = np.full(ports, np.nan)

    def evaluate(
        self,
        t: Times,
        *,
        active: BoolArray,
        start_t: FloatArray,
        smooth_w: FloatArray,
        median_w: FloatArray,
        power: FloatArray,
        socket_c: FloatArray,
        ambient_c: FloatArray,
        temp_ok: BoolArray,
        socket_moved_t: FloatArray,
        conditions: list[Condition],
        state: FloatArray | None = None,
    ) -> None:
        """Advance to ``t``; append a condition for every port showing either signature.

        ``active``, ``start_t``, ``smooth_w`` and ``median_w`` are the session tracker's
        (running session, its start, smoothed and median-of-three power).
        ``state`` is the pile's port state code (NaN or None where the pile has no state
        register): only a port still holding its plug (ended full or cut) is judged idle.
        ``socket_moved_t`` is when each socket reading last changed (the sensor rule's ``changed_t``).
        """
        now = per_port(t, power.shape[0])
        dt = now - self.last_t
        with np.errstate(invalid="ignore"):
            gap = dt > self.config.data_gap_s
        dt = np.where(gap, 0.0, np.nan_to_num(dt))
        self.last_t = now
        rising = self._taper(now=now, active=active, start_t=start_t, sm=smooth_w, med=median_w, gap=gap)
        warming = self._idle(
            now=now,
            dt=dt,
            power=np.nan_to_num(power),
            socket=socket_c,
            ambient=ambient_c,
            ok=temp_ok,
            moved_t=socket_moved_t,
            gap=gap,
            plugged=np.ones(power.shape[0], dtype=bool) if state is None else _plugged(state),
        )
        for i in np.flatnonzero(rising | warming):
            port = int(i)
            if rising[i]:
                up = smooth_w[i] - self.floor_w[i]
                msg = (
                    f"charging power climbed {up:.0f} W back up its constant-voltage taper "
                    f"(to {smooth_w[i]:.0f} W): the battery draws current it does not store"
                )
            else:
                up = self.gap[i] - self.gap_floor[i]
                msg = f"socket warmed {up:.1f} °C with no load: heat from the plugged battery"
            conditions.append(Condition(port, KIND, "critical", msg))

    def _taper(
        self,
        *,
        now: FloatArray,
        active: BoolArray,
        start_t: FloatArray,
        sm: FloatArray,
        med: FloatArray,
        gap: BoolArray,
    ) -> BoolArray:
        cfg = self.config
        fresh = ~active | (start_t != self.session) | gap
        self.session = np.where(active, start_t, np.nan)
        need = np.maximum(cfg.taper_rise_w, cfg.taper_rise_frac * self.peak_w)
        with np.errstate(invalid="ignore"):
            step = med - self.last_med > need / 2
        self.last_med = np.where(active, med, np.nan)
        restart = fresh | step
        self.step_t = np.where(restart, now, self.step_t)
        self.tapering &= ~restart
        settled = now - self.step_t >= cfg.step_settle_s
        self.peak_w = np.where(restart, 0.0, self.peak_w)
        self.peak_w = np.where(active & settled, np.fmax(self.peak_w, sm), self.peak_w)
        drop = sm < (1.0 - cfg.taper_drop) * self.peak_w
        self.tapering |= active & settled & drop & (sm >= cfg.idle_w)
        on = self.tapering & settled
        self.floor_t, self.floor_w = _rolling_floor(
            self.floor_min, self.floor_t, on=on, now=now, value=sm, window_s=cfg.taper_window_s
        )
        out: BoolArray = self.tapering & settled & (sm - self.floor_w >= need)
        return out

    def _idle(
        self,
        *,
        now: FloatArray,
        dt: FloatArray,
        power: FloatArray,
        socket: FloatArray,
        ambient: FloatArray,
        ok: BoolArray,
        moved_t: FloatArray,
        gap: BoolArray,
        plugged: BoolArray,
    ) -> BoolArray:
        cfg = self.config
        usable = ok & np.isfinite(socket) & np.isfinite(ambient)
        fresh = ~usable | gap | np.isnan(self.air)
        self.air_since = np.where(fresh, now, self.air_since)
        lag = 1.0 - np.exp(-dt / cfg.socket_tau_s)
        self.air = np.where(fresh, ambient, self.air + lag * (ambient - self.air))
        raw = socket - self.air
        a = decay_alpha_v(dt, cfg.gap_half_life_s)
        self.gap = np.where(fresh | np.isnan(self.gap), raw, self.gap + a * (raw - self.gap))
        # the lag filter starts from a guess (the socket settled at the air): its error decays
        # with the socket's own time constant, so it is trusted after three of them (5 %)
        warm = now - self.air_since >= 3.0 * cfg.socket_tau_s
        with np.errstate(invalid="ignore"):
            live = now - moved_t < 3.0 * cfg.socket_tau_s
        idle = usable & ~gap & warm & plugged & (power < cfg.idle_w)
        self.idle_since = np.where(idle, np.fmin(self.idle_since, now), np.nan)
        self.gap_min_t, self.gap_floor = _rolling_floor(
            self.gap_min, self.gap_min_t, on=idle, now=now, value=self.gap, window_s=cfg.idle_window_s
        )
        with np.errstate(invalid="ignore"):
            settled = now - self.idle_since >= cfg.idle_settle_s
        out: BoolArray = idle & settled & live & (self.gap - self.gap_floor >= cfg.idle_rise_c)
        return out


def _rolling_floor(
    mins: FloatArray, since: FloatArray, *, on: BoolArray, now: FloatArray, value: FloatArray, window_s: float
) -> tuple[FloatArray, FloatArray]:
    """The lowest ``value`` of the last half to whole ``window_s`` of each port while ``on``
    (inf where not): ``mins`` holds the minima of the current and the previous half window
    (updated in place), ``since`` when the current half began. Returns (since, floor)."""
    roll = on & (now - since >= window_s / 2)
    mins[roll, 1] = mins[roll, 0]
    mins[roll, 0] = np.inf
    mins[~on] = np.inf
    mins[:, 0] = np.where(on, np.fmin(mins[:, 0], value), np.inf)
    floor: FloatArray = np.min(mins, axis=1)
    return np.where(roll, now, since), floor


def _plugged(state: FloatArray) -> BoolArray:
    """Ports whose plug is still in after their session (or whose pile reports no state)."""
    out: BoolArray = np.isnan(state) | np.isin(state, _PLUG_LEFT_IN)
    return out
