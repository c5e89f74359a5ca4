"""Start-up wiring: the gateway's parts built from its validated config.

Each function builds one part the way :class:`gateway.app.Gateway` runs it; the gateway decides
the order, enters the context managers and owns their lifetimes. ``make_store`` is also used by
``chargewatch report`` and the benchmarks, which read the same store without a gateway.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from analytics import Pipeline
from chargewatch.clock import Clock
from chargewatch.profiles import DeviceProfile
from gateway.api import ApiServer, EventHub, GatewayView
from gateway.api._evidence import routes as evidence_routes
from gateway.api.auth import Authenticator
from gateway.api.server import series_fields
from gateway.config import EvidenceConfig, GatewayConfig, StoreConfig, api_users, store_token
from gateway.evidence import EvidenceRebuild, EvidenceRecorder, EvidenceStore, Fired
from gateway.ingest.alerts import Analytics, ThresholdRule
from gateway.ingest.analytics_hook import PipelineHook
from gateway.ingest.dedupe import SeqTracker
from gateway.ingest.limits import Admission
from gateway.ingest.state import IngestState
from gateway.liveness import KnownDevices, Liveness
from gateway.metrics import Metrics
from gateway.spool import Spool
from gateway.store import InfluxV1Store, InfluxV2Store, Retention, SQLiteStore, TimeSeriesStore
from gateway.users import reads_need_login


def make_store(
    cfg: StoreConfig, metrics: Metrics | None = None
) -> InfluxV1Store | InfluxV2Store | SQLiteStore:
    """The configured store backend (an async context manager); ``metrics`` counts what the
    store reports (VictoriaMetrics: text cut to its label limit)."""
    r = cfg.retention
    retention = Retention(r.raw_days, r.downsampled_days, r.downsample_s) if r.manage else None
    if cfg.kind == "influx_v1":
        return InfluxV1Store(cfg.url, cfg.db, retention=retention)
    if cfg.kind == "influx_v2":
        token = store_token(cfg)
        return InfluxV2Store(
            cfg.url,
            org=cfg.org,
            bucket=cfg.bucket,
            token=token,
            retention=retention,
            max_label_value_len=cfg.max_label_value_len,
            metrics=metrics,
        )
    return SQLiteStore(cfg.path, retention=retention)


def make_recorder(
    cfg: EvidenceConfig, state_path: str, profiles: Mapping[str, DeviceProfile], clock: Callable[[], float]
) -> EvidenceRecorder:
    """The evidence recorder of the ``evidence:`` section (an async context manager)."""
    return EvidenceRecorder(
        EvidenceStore(cfg.file(state_path)),
        profiles,
        before_s=cfg.before_s,
        after_s=cfg.after_s,
        grace_s=cfg.grace_s,
        timeout_s=cfg.timeout_s,
        max_samples=cfg.max_samples,
        max_open=cfg.max_open,
        clock=clock,
    )


def make_analytics(
    cfg: GatewayConfig, profiles: Mapping[str, DeviceProfile]
) -> tuple[Analytics, PipelineHook | None]:
    """The configured analytics and its checkpointing hook: the analytics pipeline behind a
    :class:`PipelineHook` (``analytics: pipeline``), or the built-in threshold rule of the
    ``rule:`` section and no hook."""
    if cfg.analytics == "pipeline":
        hook = PipelineHook(Pipeline(cfg.pipeline, profiles=profiles), cfg.spool.analytics_path)
        return hook, hook
    r = cfg.rule
    return ThresholdRule(r.point, r.limit, r.clear_below, r.samples), None


def restore_tracker(
    state: IngestState, gap_timeout: float, known: KnownDevices, liveness: Liveness, admission: Admission
) -> SeqTracker:
    """The dedupe tracker loaded with the persisted marks; the devices they name are known,
    restored in liveness and trusted from the start."""
    tracker = SeqTracker(first_seq=0, gap_timeout=gap_timeout)
    marks = state.load_marks()
    tracker.load(marks)
    for device, _boot in marks:
        known.add(device)
    liveness.restored(device for device, _boot in marks)
    admission.distrusted_at.clear()  # devices with marks are trusted from the start
    return tracker


def make_api(
    view: GatewayView,
    cfg: GatewayConfig,
    *,
    metrics: Metrics,
    profiles: Mapping[str, DeviceProfile],
    evidence: EvidenceRecorder,
    events: EventHub,
    clock: Clock,
) -> ApiServer:
    """The HTTP API of the ``http:`` section over ``view`` (an async context manager), the
    evidence routes included; failed logins are counted in ``cw_http_auth_failures_total``."""
    return ApiServer(
        view,
        cfg.http.bind,
        cfg.http.port,
        auth=Authenticator(
            api_users(cfg.http),
            read_login=reads_need_login(cfg.http.bind, cfg.http.read),
            failures_per_min=cfg.http.auth_failures_per_min,
            on_failure=lambda reason: metrics.inc("cw_http_auth_failures_total", reason=reason),
        ),
        fields=series_fields(profiles.values()),
        routes=evidence_routes(evidence.lookup, view.timezone),
        profiles=profiles,
        site=cfg.site,
        clock=clock,
        events=events,
    )


def plan_rebuild(
    cfg: EvidenceConfig,
    *,
    evidence: EvidenceRecorder,
    store: TimeSeriesStore,
    profiles: Mapping[str, DeviceProfile],
    spool: Spool,
    state: IngestState,
    metrics: Metrics,
    clock: Clock,
) -> EvidenceRebuild:
    """Re-open the evidence windows a crash left unsealed (gateway.evidence.rebuild)."""
    rebuild = EvidenceRebuild(
        evidence,
        store,
        profiles,
        flush=spool.flush,
        metrics=metrics,
        clock=clock.time,
    )
    if cfg.rebuild_lookback_s > 0 and cfg.rebuild_max > 0:
        rows = state.fired_since(clock.time() - cfg.rebuild_lookback_s, cfg.rebuild_max)
        rebuild.plan(
            [Fired(a.id, a.device, a.port, a.kind, a.first_ts, settled) for a, settled in reversed(rows)]
        )
    return rebuild
