"""What the running gateway says about itself: its retained status, its gauges, its health.

:class:`GatewayStatus` is refreshed every second by the gateway's ``status`` task
(:meth:`GatewayStatus.refresh`):

* the retained status message on ``cw/v1/gateway/{client_id}/status`` (:func:`status_payload`:
  ``online``, ``degraded``, ``ts``, ``site``) is re-published when the store turns degraded or
  recovers (logged once each way: ``ingest_degraded`` / ``ingest_recovered``) and after every
  reconnect of the discovery session; the same payload with ``online: false`` is the session's
  last will and the gateway's last word on shutdown;
* the gauges of ``/metrics`` that are sampled rather than counted (spool depth and age, store
  errors, MQTT links, devices online / offline / known / trusted / on trial, message rate);
* the gateway's own ``store_config`` alert: fired while the store refuses writes (401/403/404),
  resolved once it accepts them again.

:meth:`GatewayStatus.health` answers ``GET /api/health``.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import msgspec

from chargewatch import topics
from chargewatch.clock import Clock
from chargewatch.logs import kv
from gateway.config import GatewayConfig
from gateway.ingest.alerts import AlertChange
from gateway.ingest.limits import Admission
from gateway.ingest.sessions import IngestSessions
from gateway.liveness import KnownDevices, Liveness
from gateway.metrics import Metrics
from gateway.spool import Spool

# the gateway's logger: these lines keep ``logger=gateway.app``
log = logging.getLogger("gateway.app")

RaiseAlerts = Callable[[Sequence[AlertChange]], Awaitable[None]]


def status_payload(online: bool, degraded: bool, ts: float, site: str) -> bytes:
    """The retained gateway status message."""
    return msgspec.json.encode({"online": online, "degraded": degraded, "ts": ts, "site": site})


class GatewayStatus:
    """The gateway's status, gauges and health, read from its running parts."""

    def __init__(
        self,
        cfg: GatewayConfig,
        *,
        clock: Clock,
        metrics: Metrics,
        spool: Spool,
        sessions: IngestSessions,
        liveness: Liveness,
        known: KnownDevices,
        admission: Admission,
        raise_alerts: RaiseAlerts,
    ) -> None:
        self.cfg = cfg
        self.clock = clock
        self.metrics = metrics
        self.spool = spool
        self.sessions = sessions
        self.liveness = liveness
        self.known = known
        self.admission = admission
        self.raise_alerts = raise_alerts  # holds the ingest lock (IngestPipeline.raise_gateway_alerts)
        self.degraded = False
        self._last_total = 0.0
        self._published_connects = -1
        self._store_alert: bool | None = None  # unknown until the first status check

    def payload(self, online: bool) -> bytes:
        """The status message now (``degraded`` as of the last refresh)."""
        return status_payload(online, self.degraded, self.clock.time(), self.cfg.site)

    async def refresh(self) -> None:
        """Re-publish the status when it changed, raise or resolve ``store_config``, set the gauges."""
        st = self.spool.stats()
        m = self.metrics
        mqtt, trusted = self.sessions.discovery, self.sessions.trusted
        degraded = st.degraded or st.config_error
        connects = mqtt.connects
        if degraded != self.degraded or connects != self._published_connects:
            if degraded != self.degraded:
                log.warning(kv("ingest_degraded" if degraded else "ingest_recovered", error=st.last_error))
            self.degraded = degraded
            self._published_connects = connects
            mqtt.publish(topics.gateway_status_topic(self.cfg.mqtt.client_id), self.payload(True), True)
        if st.config_error != self._store_alert:
            await self._store_config_alert(st.config_error, st.last_error)
        total = m.get("cw_ingest_messages_total")
        m.set("cw_ingest_rate_msgs_per_s", total - self._last_total)
        self._last_total = total
        m.set("cw_spool_depth", float(st.depth_lines))
        m.set("cw_spool_oldest_age_seconds", st.oldest_age_s)
        m.set("cw_store_write_errors_total", float(st.write_errors))
        m.set("cw_store_dead_letters_total", float(st.dead_letters))
        m.set("cw_ingest_degraded", float(degraded))
        m.set("cw_mqtt_connected", float(mqtt.connected))
        online = sum(d.online for d in self.liveness.devices.values())
        m.set("cw_devices_online", float(online))
        m.set("cw_devices_offline", float(len(self.liveness.devices) - online))
        m.set("cw_devices_known", float(len(self.known)))
        m.set("cw_devices_trusted", float(len(self.sessions.router.trusted)))
        m.set("cw_mqtt_trusted_connected", float(trusted.connected))
        m.set("cw_devices_on_trial", float(len(self.admission.trial)))

    async def _store_config_alert(self, failing: bool, error: str) -> None:
        """Fire (or resolve) the gateway's ``store_config`` alert: 401/403/404 from the store.

        Raised through the same path as device alerts (alert book, MQTT alert topic of the
        gateway id, ``alert`` point in the spool, written once the store accepts writes again);
        the data stays in the spool meanwhile. The first check resolves an alert left open by a
        previous run (a no-op when none is open).
        """
        self._store_alert = failing
        change = AlertChange(
            device=self.cfg.mqtt.client_id,
            kind="store_config",
            state="firing" if failing else "resolved",
            severity="critical",
            ts=self.clock.time(),
            message=f"store refuses writes (fix its URL, database or credentials): {error}"[:500]
            if failing
            else "store accepts writes again",
        )
        await self.raise_alerts([change])

    def health(self) -> dict[str, Any]:
        """``ok`` (HTTP 200) or ``degraded`` (503) with the reasons: the broker link is down, or
        the store has failed (or not answered) for ``spool.degraded_after_s``. The store error is
        shown only while the trouble lasts."""
        st = self.spool.stats()
        mqtt, trusted = self.sessions.discovery, self.sessions.trusted
        store_down = st.degraded or st.config_error
        link_up = mqtt.connected and trusted.connected
        reasons: list[str] = []
        if not link_up:
            reasons.append("mqtt link down")
        if store_down:
            reasons.append(f"store failing for {st.failing_s:.0f} s: {st.last_error}")
        return {
            "status": "degraded" if reasons else "ok",
            "reasons": reasons,
            "degraded": store_down,
            "store_error": st.last_error,
            "store_failing_s": round(st.failing_s, 1),
            "mqtt_connected": mqtt.connected,
            "mqtt_trusted_connected": trusted.connected,
            "spool_depth": st.depth_lines,
            "spool_oldest_age_s": round(st.oldest_age_s, 3),
            "dead_letters": int(self.metrics.total("cw_ingest_rejected_total")) + st.dead_letters,
            "devices": len(self.liveness.devices),
        }
