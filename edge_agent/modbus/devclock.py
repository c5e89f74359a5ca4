"""Stamp each poll with the device's own clock when its profile declares one.

A pile or blocker with a real-time clock register (profile point ``device_clock``, epoch
seconds) says *when* its registers held these values; the simulator serves its simulated time
there, so at ``chargewatch sim --speed 10`` the samples are 10 s apart per wall second and
energy ÷ time stays consistent (no false current spikes downstream). The agent's own clock is
used instead — and the reason flagged under ``device_clock`` in the telemetry — when the clock
cannot be trusted:

* ``unreadable``: the register read failed or was out of range;
* ``not_set``: before 2020-01-01 (an RTC that lost its battery restarts near 1970 or 2000);
* ``went_back``: earlier than the last device stamp (clock reset or set back); the device clock
  is trusted again once it passes the last stamp.

Events without a reading (``device_down``) are stamped by :meth:`DeviceClock.estimate`: the
last device stamp plus the wall time since, so a device's stamps never jump between two clocks.
Switching between the two sources is logged once per change, not per poll. A device clock set
far into the future is not second-guessed here: the gateway dead-letters such points as
``future_ts`` with the device named, which is where an operator sees it.
"""

from __future__ import annotations

import logging

from chargewatch.logs import kv

log = logging.getLogger(__name__)

#: 2020-01-01T00:00:00Z: no device in service reports an earlier time with a working clock
EARLIEST_PLAUSIBLE = 1_577_836_800.0


class DeviceClock:
    """Per-device stamping state: the last trusted device stamp and the current source."""

    def __init__(self, device: str, has_clock: bool) -> None:
        self.device = device
        self.has_clock = has_clock
        self.last = 0.0
        self.last_mono = 0.0
        self.trusted = has_clock

    def estimate(self, agent_ts: float, mono: float) -> float:
        """A stamp for an event with no reading: device time extrapolated, or ``agent_ts``."""
        if not (self.has_clock and self.trusted and self.last):
            return agent_ts
        return self.last + max(0.0, mono - self.last_mono)

    def stamp(self, agent_ts: float, clock: float | None, mono: float) -> tuple[float, str | None]:
        """The poll's timestamp and, when the agent's clock had to stand in, the reason.

        ``mono`` is the agent's monotonic time of the read (for :meth:`estimate`)."""
        if not self.has_clock:
            return agent_ts, None
        reason = _doubt(clock, self.last)
        if (reason is None) != self.trusted:
            self.trusted = reason is None
            if self.trusted:
                log.info(kv("device_clock_trusted", device=self.device, device_ts=clock))
            else:
                log.warning(kv("device_clock_ignored", device=self.device, reason=reason, device_ts=clock))
        if reason is not None or clock is None:
            return agent_ts, reason
        self.last, self.last_mono = clock, mono
        return clock, None


def _doubt(clock: float | None, last: float) -> str | None:
    if clock is None:
        return "unreadable"
    if clock < EARLIEST_PLAUSIBLE:
        return "not_set"
    if clock < last:
        return "went_back"
    return None
