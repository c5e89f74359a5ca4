"""The daily report's folder: ``index.html`` (Chinese first, English in brackets), PNG charts
beside it and one CSV per table (UTF-8 with BOM for Excel). Self-contained: no script, no web
font, no link outside the folder, so a supervisor can open it from a USB stick or an e-mail."""

from __future__ import annotations

import csv
import html
import statistics
from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from gateway.api._sessions import to_csv
from gateway.notify.text import kind_name
from gateway.report._charts import bar_chart
from gateway.report._data import PILE_TRIPS, DayData

Table = tuple[list[str], list[list[Any]]]


def _kind(kind: str) -> str:
    zh, _ = kind_name(kind)
    return f"{zh} ({kind})" if zh != kind else kind


def _local(ts: float, data: DayData) -> str:
    return datetime.fromtimestamp(ts, data.tz).strftime("%Y-%m-%d %H:%M:%S")


def piles(data: DayData) -> Table:
    agg: dict[str, list[float]] = defaultdict(lambda: [0, 0.0, 0.0, 0])
    for s in data.sessions:
        row = agg[s["device"]]
        row[0] += 1
        row[1] += s["energy_kwh"] or 0.0
        row[2] += (s["fee"] or {}).get("total", 0.0)
        row[3] += s["end_reason"] in PILE_TRIPS
    head = [
        "充电桩 (pile)",
        "充电次数 (sessions)",
        "电量 kWh (energy)",
        "费用 CNY (fees)",
        "桩保护断电 (pile trips)",
    ]
    return head, [[d, int(r[0]), round(r[1], 3), round(r[2], 2), int(r[3])] for d, r in sorted(agg.items())]


def alerts_by_kind(data: DayData) -> Table:
    by: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for a in data.alerts:
        if data.start <= a["first_ts"] < data.end:
            by[a["kind"]].append(a)
    rows = []
    for kind, items in sorted(by.items()):
        waits = [(a["acked_at"] - a["first_ts"]) / 60 for a in items if a["acked_at"] is not None]
        rows.append(
            [
                _kind(kind),
                len(items),
                len(waits),
                round(statistics.median(waits), 1) if waits else "",
                round(max(waits), 1) if waits else "",
            ]
        )
    head = [
        "告警类型 (kind)",
        "次数 (count)",
        "已确认 (acknowledged)",
        "确认用时中位数 分钟 (median min to ack)",
        "最长确认用时 分钟 (max min to ack)",
    ]
    return head, rows


def alert_list(data: DayData) -> Table:
    head = [
        "告警 (id)",
        "设备 (device)",
        "端口 (port)",
        "类型 (kind)",
        "级别 (severity)",
        "开始 (first)",
        "状态 (state)",
        "确认时间 (acked at)",
        "确认人 (acked by)",
    ]
    rows = [
        [
            a["id"],
            a["device"],
            "" if a["port"] is None else a["port"] + 1,
            _kind(a["kind"]),
            a["severity"],
            _local(a["first_ts"], data),
            a["state"],
            _local(a["acked_at"], data) if a["acked_at"] else "",
            a["acked_by"] or "",
        ]
        for a in data.alerts
    ]
    return head, rows


def blockers(data: DayData) -> Table:
    head = [
        "梯控 (blocker)",
        "摄像头在线率 (camera online)",
        "离线分钟 (offline min)",
        "拦截次数 (blocked entries)",
        "保持开门次数 (door holds)",
    ]
    offline: dict[str, float] = defaultdict(float)
    for o in data.offline:
        offline[o.device] += (o.end - o.start) / 60
    rows = []
    for d, b in sorted(data.blockers.items()):
        share = b.camera_share
        rows.append(
            [d, "" if share is None else f"{share:.1%}", round(offline[d], 1), b.detections, b.door_holds]
        )
    return head, rows


def offline(data: DayData) -> Table:
    head = ["设备 (device)", "离线开始 (from)", "恢复 (to)", "时长 分钟 (minutes)"]
    rows = [
        [
            o.device,
            _local(o.start, data),
            "仍离线 (still offline)" if o.ongoing else _local(o.end, data),
            round((o.end - o.start) / 60, 1),
        ]
        for o in data.offline
    ]
    return head, rows


def trips(data: DayData) -> Table:
    head = [
        "时间 (time)",
        "设备 (device)",
        "端口 (port)",
        "规则 (rule)",
        "读数 (value)",
        "限值 (limit)",
        "已确认断开 (verified)",
    ]
    rows = [
        [
            _local(t["ts"], data),
            t["device"],
            t["port"],
            t.get("rule", ""),
            t.get("value", ""),
            t.get("limit", ""),
            t.get("verified", ""),
        ]
        for t in data.trips
    ]
    for s in data.sessions:
        if s["end_reason"] in PILE_TRIPS:
            rows.append(
                [
                    _local(s["end"], data),
                    s["device"],
                    s["port"],
                    f"桩保护 (pile) {s['end_reason']}",
                    s["peak_temp_c"],
                    "",
                    "",
                ]
            )
    return head, sorted(rows, key=lambda r: str(r[0]))


def _write_csv(path: Path, table: Table) -> None:
    with path.open("w", encoding="utf-8-sig", newline="") as f:
        writer = csv.writer(f, lineterminator="\r\n")
        writer.writerow(table[0])
        writer.writerows(table[1])


def _html_table(table: Table) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in table[0])
    if not table[1]:
        return f"<table><tr>{head}</tr><tr><td colspan='{len(table[0])}'>无 (none)</td></tr></table>"
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in r) + "</tr>" for r in table[1])
    return f"<table><tr>{head}</tr>{body}</table>"


_CSS = """body{font-family:"Noto Sans CJK SC","Microsoft YaHei",sans-serif;margin:2em;color:#222}
table{border-collapse:collapse;margin:.5em 0 1.5em}td,th{border:1px solid #ccc;padding:.25em .6em}
th{background:#f3f3f3}h2{margin-top:1.5em}.kpi td{font-size:1.1em}img{max-width:100%}"""


def write(data: DayData, out: Path) -> list[Path]:
    """Write the report folder; returns the files written."""
    out.mkdir(parents=True, exist_ok=True)
    tables: dict[str, tuple[str, Table]] = {
        "piles": ("各充电桩充电量与费用 (sessions, energy and fees per pile)", piles(data)),
        "alerts_by_kind": ("告警分类与确认用时 (alerts by kind, time to acknowledge)", alerts_by_kind(data)),
        "blockers": ("梯控可用率与拦截 (blocker availability and blocked entries)", blockers(data)),
        "offline": ("设备离线 (devices offline)", offline(data)),
        "trips": ("联锁与保护断电 (interlock and pile trips)", trips(data)),
        "alerts": ("告警明细 (alert list)", alert_list(data)),
    }
    files = []
    for name, (_, table) in tables.items():
        _write_csv(out / f"{name}.csv", table)
        files.append(out / f"{name}.csv")
    (out / "sessions.csv").write_bytes(to_csv(data.sessions, data.tz))
    files.append(out / "sessions.csv")
    pile_rows = tables["piles"][1][1]
    kind_rows = tables["alerts_by_kind"][1][1]
    charts = [
        bar_chart(
            out / "energy_fees.png",
            "各桩电量 kWh 与费用 CNY (energy and fees per pile)",
            [r[0] for r in pile_rows],
            [("电量 kWh", [r[2] for r in pile_rows]), ("费用 CNY", [r[3] for r in pile_rows])],
        ),
        bar_chart(
            out / "alerts.png",
            "告警次数 (alerts by kind)",
            [r[0] for r in kind_rows],
            [("次数", [float(r[1]) for r in kind_rows])],
            fmt="%.0f",
        ),
    ]
    files += charts
    (out / "index.html").write_text(_page(data, tables, charts), encoding="utf-8")
    files.append(out / "index.html")
    return files


def _page(data: DayData, tables: dict[str, tuple[str, Table]], charts: Sequence[Path]) -> str:
    energy = sum(s["energy_kwh"] or 0.0 for s in data.sessions)
    fees = sum((s["fee"] or {}).get("total", 0.0) for s in data.sessions)
    kpis = [
        ("充电次数 (sessions)", len(data.sessions)),
        ("总电量 kWh (energy)", round(energy, 3)),
        ("总费用 CNY (fees)", round(fees, 2)),
        ("告警 (alerts)", sum(1 for a in data.alerts if data.start <= a["first_ts"] < data.end)),
        ("断电 (trips)", len(tables["trips"][1][1])),
        ("离线设备 (devices offline)", len({o.device for o in data.offline})),
    ]
    kpi = "".join(f"<tr><th>{html.escape(k)}</th><td>{v}</td></tr>" for k, v in kpis)
    parts = [
        "<!doctype html><html lang='zh-CN'><head><meta charset='utf-8'>",
        f"<title>{html.escape(data.site)} {data.day} 日报</title><style>{_CSS}</style></head><body>",
        f"<h1>充电设施安全监管日报 (daily supervision report)</h1><p>站点 (site): {html.escape(data.site)} · "
        f"日期 (date): {data.day} · 时区 (time zone): {data.tz.key}</p>",
        f"<h2>概览 (summary)</h2><table class='kpi'>{kpi}</table>",
        f"<img src='{charts[0].name}' alt='energy and fees per pile'>",
    ]
    for name, (title, table) in tables.items():
        parts.append(
            f"<h2>{html.escape(title)}</h2>{_html_table(table)}<p><a href='{name}.csv'>{name}.csv</a></p>"
        )
        if name == "alerts_by_kind":
            parts.append(f"<img src='{charts[1].name}' alt='alerts by kind'>")
    parts.append("<p>充电明细 (sessions): <a href='sessions.csv'>sessions.csv</a></p></body></html>")
    return "\n".join(parts)
