"""Thresholds of the physical, sensor and blocker rules (validated config, unknown keys rejected)."""

from __future__ import annotations

from typing import Annotated

import msgspec


class RuleConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """Rule thresholds; defaults follow DOMAIN.md (vendor limits, firmware conventions)."""

    temp_warn_c: float = 70.0
    temp_crit_c: float = 85.0
    temp_hysteresis_c: float = 5.0
    rise_c_per_min: float = 1.5
    rise_min_above_ambient_c: float = 15.0
    #: a current above the port's rating by more than the current sensor's tolerance (±3 %)
    #: plus margin; held for the alert's ``for_s`` it is an over-current
    overcurrent_factor: float = 1.05
    #: one sample this far above the rating is a spike: no healthy charger draws above the
    #: port's rating (the firmware cuts it within its 2 s confirm), so anything beyond the
    #: sensor's tolerance with margin is a shorting or arcing contact, however short
    spike_factor: float = 1.1
    default_max_current_a: float = 5.5
    residual_min_c: float = 6.0
    residual_score: float = 0.5
    #: an idle port (no load for ``idle_after_s``) warming against the ambient this much per 10 min
    idle_rise_c: float = 1.5
    idle_after_s: float = 1_800.0
    #: seconds under load a port's thermal baseline learns before its residual is judged (two
    #: hours: the slow load filter's half-life is 15 min, so the fit has seen several settled
    #: loads; time, not samples, so the warm-up is the same at any poll rate)
    residual_warmup_s: float = 7_200.0
    #: polls further apart than this are a data gap (a pile that stopped answering): the meter
    #: does not cross-check across it and the thermal residual waits ``residual_settle_s`` after
    data_gap_s: float = 120.0
    #: the residual is not judged in a load's first seconds, nor that long after a data gap
    residual_settle_s: float = 600.0
    #: energy meter ahead of the sampled power: leaky-sum half-life and alarm level
    meter_half_life_s: float = 300.0
    meter_excess_wh: float = 1.5
    #: coarsest energy register (Wh per count) the meter check trusts
    meter_max_step_wh: float = 1.0
    #: largest gain error of a port's energy meter tolerated before its gain is learnt, and
    #: the uncertainty a learnt gain keeps (meter vs current sensor over the load range)
    meter_gain_tol: float = 0.03
    meter_gain_floor: float = 0.005
    #: half-life (s of usable loaded time) of the sums a meter's gain is learnt from
    meter_gain_half_life_s: float = 4 * 3_600.0
    neighbour_delta_c: float = 20.0
    neighbour_min_ports: int = 3
    temp_range_c: tuple[float, float] = (-40.0, 150.0)
    jump_c_per_s: float = 5.0
    sensor_hold_s: float = 300.0
    #: the sensor-fault window (s): the share of implausible readings is a time-weighted average
    #: over it (half-life half the window), and a fault ends once a whole window was good
    sensor_window_s: Annotated[float, msgspec.Meta(gt=0)] = 120.0
    #: time-weighted share of implausible readings that starts a fault: about 15 s of the
    #: last minute (3 polls in a row at 5 s, 2 at 10 s), or a dropout/garbage sensor bad a
    #: sixth of the time, whatever the poll interval
    sensor_bad_share: Annotated[float, msgspec.Meta(gt=0, le=1)] = 0.15
    stuck_s: float = 1_200.0
    stuck_ambient_c: float = 3.0
    stuck_power_w: float = 250.0
    loaded_w: float = 50.0
    max_hold_s: float = 120.0
    relay_mismatch_s: float = 30.0
    drought_factor: float = 8.0
    drought_min_s: float = 4 * 3_600.0
    drought_min_detections: int = 10
