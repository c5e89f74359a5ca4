"""What every simulated device shares: identity, seeded randomness, fault queue, labels."""

from __future__ import annotations

import random
import zlib

from chargewatch.errors import ConfigError
from chargewatch.profiles import DeviceProfile
from firmware_sim.faults.kinds import Fault, Label, LabelEvent, ParamValue, label, resolve


def device_rng(seed: int, device_id: str) -> random.Random:
    """The device's private random stream, from (seed, stable hash of the id)."""
    return random.Random((seed << 32) ^ zlib.crc32(device_id.encode()))


class FaultHost:
    """Base of Pile and Blocker: queues injected faults until onset and collects labels."""

    def __init__(
        self,
        device_id: str,
        profile: DeviceProfile,
        seed: int,
        start_time: float,
        simulated: frozenset[str] | set[str],
    ) -> None:
        unknown = sorted({p.name for p in profile.points} - simulated)
        if unknown:
            raise ConfigError(f"profile {profile.model}: points {unknown} are not simulated by firmware_sim")
        self._device_id = device_id
        self._profile = profile
        self._rng = device_rng(seed, device_id)
        self._t = start_time
        self._elapsed = 0.0
        self._pending: list[tuple[Fault, dict[str, ParamValue]]] = []
        self._labels: list[Label] = []
        self._ends: list[tuple[float, Fault]] = []

    @property
    def device_id(self) -> str:
        return self._device_id

    @property
    def profile(self) -> DeviceProfile:
        return self._profile

    @property
    def now(self) -> float:
        """Simulation time of the last step (epoch s)."""
        return self._t

    def inject(self, fault: Fault) -> None:
        """Queue ``fault``; it takes effect at the first step with ``t ≥ fault.at``.

        Raises FaultError when the kind, port or params do not fit this device.
        """
        params = resolve(fault, self._device_id, self._profile.kind, self._profile.ports)
        self._pending.append((fault, params))
        self._pending.sort(key=lambda item: item[0].at)

    def drain_labels(self) -> list[Label]:
        """Labels produced since the last call, oldest first."""
        out, self._labels = self._labels, []
        return out

    def _emit(self, fault: Fault, event: LabelEvent, t: float) -> None:
        self._labels.append(label(self._device_id, fault.port, fault.kind, event, t))

    def _due(self, t: float) -> list[tuple[Fault, dict[str, ParamValue]]]:
        """Faults whose onset is now; writes their onset labels and schedules their ends."""
        if not self._pending or self._pending[0][0].at > t:
            return []
        due = [item for item in self._pending if item[0].at <= t]
        self._pending = [item for item in self._pending if item[0].at > t]
        for fault, params in due:
            self._emit(fault, "onset", t)
            duration = float(params.get("duration_s", 0.0))
            if duration > 0:
                self._ends.append((t + duration, fault))
        return due

    def _ended(self, t: float) -> list[Fault]:
        """Faults whose duration ran out now; writes their end labels."""
        if not self._ends:
            return []
        done = [f for end, f in self._ends if end <= t]
        if done:
            self._ends = [(end, f) for end, f in self._ends if end > t]
            for fault in done:
                self._emit(fault, "end", t)
        return done
