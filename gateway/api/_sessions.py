"""``GET /api/sessions`` (JSON) and ``GET /api/sessions.csv`` (reconciliation export).

Query: ``device`` (optional), ``since``/``until`` (epoch seconds, or an ISO date/time read in
the tariff's time zone; default the last 7 days, span at most 93 days), ``limit`` (newest N,
default 500 for JSON and 10,000 for CSV, at most 100,000). Sessions are listed oldest first
by their end. The CSV is UTF-8 with a byte-order mark (so Excel on Chinese Windows opens it
as UTF-8), headers Chinese with the English key in parentheses (``lang=en``: English keys
only), times in the site's local time.
"""

from __future__ import annotations

import csv
import io
import re
import time
from collections.abc import Mapping
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

_MAX_SPAN_S = 93 * 86_400.0
_DEFAULT_SPAN_S = 7 * 86_400.0
_MAX_LIMIT = 100_000
_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")

#: (key, Chinese header) of each CSV column, in order
COLUMNS: tuple[tuple[str, str], ...] = (
    ("device", "设备"),
    ("port", "端口"),
    ("start", "开始时间"),
    ("end", "结束时间"),
    ("duration_min", "时长(分钟)"),
    ("end_reason", "结束原因"),
    ("energy_kwh", "电量(kWh)"),
    ("peak_w", "峰值功率(W)"),
    ("avg_w", "平均功率(W)"),
    ("peak_temp_c", "最高插座温度(°C)"),
    ("alerts", "告警数"),
    ("alert_kinds", "告警类型"),
    ("electricity", "电费"),
    ("service", "服务费"),
    ("total", "合计"),
    ("currency", "币种"),
    ("tariff", "资费标准"),
    ("tariff_version", "资费版本"),
)
REASONS_ZH: dict[str, str] = {
    "full": "充满",
    "unplugged": "拔出",
    "stopped": "停止",
    "interlock": "联锁断电",
    "fault": "故障",
    "over_temperature": "过温断电",
    "over_current": "过流断电",
    "timeout": "超时",
    "smoke": "烟雾",
    "over_voltage": "过压",
    "under_voltage": "欠压",
    "pile_overload": "整桩过载",
    "data_gap": "数据中断",
}


class QueryError(ValueError):
    """A bad query parameter; the message names it and shows a valid form."""


def _instant(text: str, tz: ZoneInfo, key: str) -> float:
    try:
        return float(text)
    except ValueError:
        pass
    try:
        dt = datetime.fromisoformat(text)
    except ValueError as exc:
        raise QueryError(f"{key}={text!r}: give epoch seconds or an ISO date, e.g. 2026-12-04") from exc
    return (dt if dt.tzinfo else dt.replace(tzinfo=tz)).timestamp()


def parse_query(q: Mapping[str, str], tz: ZoneInfo, default_limit: int) -> tuple[str | None, int, int, int]:
    """(device, start_ms, end_ms, limit) of a sessions query; QueryError on bad input."""
    device = q.get("device") or None
    if device is not None and not _ID.match(device):
        raise QueryError(f"device={device!r} is not a device id ([A-Za-z0-9_-]{{1,64}})")
    until = _instant(q["until"], tz, "until") if "until" in q else time.time()
    since = _instant(q["since"], tz, "since") if "since" in q else until - _DEFAULT_SPAN_S
    if not since < until:
        raise QueryError("since must be before until")
    if until - since > _MAX_SPAN_S:
        raise QueryError(f"since..until spans more than {_MAX_SPAN_S / 86_400:.0f} days; query in parts")
    try:
        limit = int(q.get("limit", str(default_limit)))
    except ValueError as exc:
        raise QueryError("limit must be an integer") from exc
    if not 1 <= limit <= _MAX_LIMIT:
        raise QueryError(f"limit must be 1..{_MAX_LIMIT}")
    return device, int(since * 1000), int(until * 1000) + 1, limit


def _local(ts: float, tz: ZoneInfo) -> str:
    return datetime.fromtimestamp(ts, tz).strftime("%Y-%m-%d %H:%M:%S")


def to_csv(sessions: list[dict[str, Any]], tz: ZoneInfo, lang: str = "zh") -> bytes:
    """The CSV export (UTF-8 with BOM)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    zh = lang != "en"
    writer.writerow([f"{name} ({key})" if zh else key for key, name in COLUMNS])
    for s in sessions:
        fee = s.get("fee") or {}
        reason = s["end_reason"]
        writer.writerow(
            [
                s["device"],
                s["port"],
                _local(s["start"], tz),
                _local(s["end"], tz),
                round((s["duration_s"] or 0.0) / 60.0, 1),
                f"{REASONS_ZH.get(reason, reason)} ({reason})" if zh else reason,
                s["energy_kwh"],
                s["peak_w"],
                s["avg_w"],
                "" if s["peak_temp_c"] is None else s["peak_temp_c"],
                s["alerts"]["count"],
                " ".join(s["alerts"]["kinds"]),
                f"{fee.get('electricity', 0.0):.2f}",
                f"{fee.get('service', 0.0):.2f}",
                f"{fee.get('total', 0.0):.2f}",
                fee.get("currency", ""),
                fee.get("tariff_id", ""),
                fee.get("tariff_version", ""),
            ]
        )
    return ("\ufeff" + out.getvalue()).encode("utf-8")
