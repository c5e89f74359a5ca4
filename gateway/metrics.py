"""Gateway self-metrics: counters and gauges, rendered in the Prometheus text format (0.0.4).

Every metric is declared once, in :data:`DECLARED` (kind and help); using a name that is not
declared raises :class:`UnknownMetricError`, so a misspelt name fails the first test that
touches it instead of silently missing from ``/metrics``. Counters only go up; the ingest rate
is derived by the scraper (``rate()``) and also reported as a gauge over the last interval for
the dashboard. Label values are escaped per the format.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

#: every metric the gateway exposes: name -> (kind, help)
DECLARED: dict[str, tuple[str, str]] = {
    "cw_ingest_messages_total": ("counter", "Device messages accepted and spooled"),
    "cw_ingest_port_samples_total": ("counter", "Port samples accepted and spooled"),
    "cw_ingest_rejected_total": ("counter", "Messages rejected and dead-lettered, by reason"),
    "cw_ingest_dead_letters_sampled_out_total": (
        "counter",
        "Refused messages counted but not kept as dead-letter rows (flood sampling), by reason",
    ),
    "cw_ingest_copies_dropped_total": (
        "counter",
        "Discovery-session copies of trusted devices' messages dropped (the trusted session had them)",
    ),
    "cw_ingest_copies_released_total": (
        "counter",
        "Held discovery-session copies passed on because the trusted session never delivered them",
    ),
    "cw_devices_trusted": ("gauge", "Devices read on the trusted MQTT session"),
    "cw_devices_distrusted_total": ("counter", "Devices moved off the trusted session by a refusal"),
    "cw_mqtt_trusted_connected": ("gauge", "1 while the trusted MQTT session is connected"),
    "cw_discovery_read_per_s": ("gauge", "Read budget of the discovery MQTT session (follows loop lag)"),
    "cw_event_loop_lag_seconds": ("gauge", "How late the gateway's event loop woke up, last sample"),
    "cw_devices_known": ("gauge", "Device ids with an accepted message (bounded by max_devices)"),
    "cw_devices_on_trial": ("gauge", "New device ids holding a budget slot, not yet accepted"),
    "cw_ingest_duplicates_total": ("counter", "Messages dropped as duplicates of a stored seq"),
    "cw_ingest_stale_total": (
        "counter",
        "Messages older than limits.stale_after_s on arrival (stored, not analysed)",
    ),
    "cw_ingest_analytics_errors_total": (
        "counter",
        "Messages (or ticks) the analytics raised on; dead-lettered",
    ),
    "cw_ingest_late_total": ("counter", "Messages that arrived out of order and filled a hole"),
    "cw_analytics_late_total": (
        "counter",
        "Messages older than what analytics already consumed for their device: stored, not analysed",
    ),
    "cw_ingest_gaps_total": ("counter", "Seq intervals missing for longer than the gap timeout"),
    "cw_ingest_gap_seqs_total": ("counter", "Seqs inside reported gaps"),
    "cw_acks_published_total": ("counter", "Ack messages published"),
    "cw_alerts_published_total": ("counter", "Alert state changes published"),
    "cw_sessions_total": ("counter", "Charging sessions finished, priced and spooled as session points"),
    "cw_commands_sent_total": ("counter", "Signed operator commands published"),
    "cw_command_replies_total": (
        "counter",
        "Agent command replies, by result (ok, refused, failed, invalid)",
    ),
    "cw_ingest_rate_msgs_per_s": ("gauge", "Accepted messages per second over the last interval"),
    "cw_ingest_lag_seconds": ("gauge", "Receive time minus source ts of the last accepted message"),
    "cw_spool_depth": ("gauge", "Lines waiting in the durable spool"),
    "cw_spool_oldest_age_seconds": ("gauge", "Age of the oldest spooled line"),
    "cw_store_write_errors_total": ("counter", "Store write attempts that failed"),
    "cw_store_dead_letters_total": ("counter", "Lines the store rejected (dead-lettered by the spool)"),
    "cw_store_text_truncated_total": (
        "counter",
        "Text field values cut to VictoriaMetrics' label value limit "
        "(store.max_label_value_len), by measurement",
    ),
    "cw_ingest_degraded": ("gauge", "1 while the store has been failing longer than the threshold"),
    "cw_mqtt_connected": ("gauge", "1 while the MQTT session is connected"),
    "cw_devices_online": ("gauge", "Devices currently online"),
    "cw_devices_offline": ("gauge", "Devices currently offline"),
    "cw_notify_sent_total": ("counter", "Notification messages delivered, by channel"),
    "cw_notify_failed_total": ("counter", "Notification messages given up after retries, by channel"),
    "cw_notify_dropped_total": ("counter", "Alert changes dropped by a full notify queue, by channel"),
    "cw_notify_suppressed_total": ("counter", "Alert changes held back by the per-alert rate limit"),
    "cw_evidence_rebuilt_total": (
        "counter",
        "Evidence windows a crash left unsealed, rebuilt from the store at start-up, by outcome "
        "(sealed, reopened; failed: left to the next start)",
    ),
    "cw_http_auth_failures_total": (
        "counter",
        "API requests whose credential named nobody, by reason (bad_password, unknown_token, ...)",
    ),
}


class UnknownMetricError(KeyError):
    """A metric name that is not in :data:`DECLARED` (a typo, or a declaration missing)."""

    def __init__(self, name: str) -> None:
        super().__init__(
            f"metric {name!r} is not declared. "
            "Fix: spell it as in gateway.metrics.DECLARED, or declare it there"
        )
        self.name = name

    def __str__(self) -> str:
        return str(self.args[0])


def _declared(name: str) -> str:
    if name not in DECLARED:
        raise UnknownMetricError(name)
    return name


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


@dataclass
class Metrics:
    """Named series, each a map from a label tuple to a value."""

    values: dict[str, dict[tuple[tuple[str, str], ...], float]] = field(
        default_factory=lambda: defaultdict(dict)
    )

    def inc(self, name: str, amount: float = 1.0, **labels: str) -> None:
        key = tuple(sorted(labels.items()))
        series = self.values[_declared(name)]
        series[key] = series.get(key, 0.0) + amount

    def set(self, name: str, value: float, **labels: str) -> None:
        self.values[_declared(name)][tuple(sorted(labels.items()))] = value

    def get(self, name: str, **labels: str) -> float:
        return self.values.get(_declared(name), {}).get(tuple(sorted(labels.items())), 0.0)

    def total(self, name: str) -> float:
        return sum(self.values.get(_declared(name), {}).values())

    def render(self) -> str:
        """The exposition text: HELP and TYPE once per metric, one line per label set."""
        lines: list[str] = []
        for name, (kind, help_) in DECLARED.items():
            lines += [f"# HELP {name} {help_}", f"# TYPE {name} {kind}"]
            series = self.values.get(name) or {(): 0.0}
            for labels, value in sorted(series.items()):
                label_text = ",".join(f'{k}="{_escape(v)}"' for k, v in labels)
                lines.append(f"{name}{{{label_text}}} {value!r}" if label_text else f"{name} {value!r}")
        return "\n".join(lines) + "\n"


def parse_text(text: str) -> dict[str, float]:
    """Sum of each metric's samples in an exposition text (for tests and the bench)."""
    out: dict[str, float] = {}
    for raw in text.splitlines():
        if not raw or raw.startswith("#"):
            continue
        name_part, _, value = raw.rpartition(" ")
        name = name_part.split("{", 1)[0]
        out[name] = out.get(name, 0.0) + float(value)
    return out
