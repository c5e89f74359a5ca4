"""Every word a notification says, in one place: the Chinese strings (English second) and the
templates of the WeCom/DingTalk markdown, the Alertmanager annotations and the webhook JSON.

Times are Beijing time (Asia/Shanghai, UTC+8 all year: China has had no daylight saving time
since 1991, so a fixed offset needs no tz database). Ports are numbered as printed on the pile.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from gateway.alert_text import zh
from gateway.notify._item import SEVERITY_RANK, NotifyItem, printed_port

SHANGHAI = timezone(timedelta(hours=8), "CST")

SEVERITY = {"critical": "严重", "warning": "警告", "info": "提示"}
STATE = {"firing": "告警", "resolved": "已恢复"}
STATE_EN = {"firing": "firing", "resolved": "resolved"}

#: kind → (中文, English)
KINDS: dict[str, tuple[str, str]] = {
    "socket_overtemp": ("插座过温", "socket over-temperature"),
    "socket_temp_high": ("插座温度过高", "socket temperature high"),
    "temp_rising_fast": ("温度快速上升", "temperature rising fast"),
    "overcurrent": ("过流", "overcurrent"),
    "port_cut": ("端口已断电", "port cut off"),
    "current_spike": ("电流突变", "current spike"),
    "thermal_residual": ("温升超出负载所能解释", "heating beyond its load"),
    "port_hotter_than_neighbours": ("端口比相邻端口热", "hotter than neighbouring ports"),
    "smoke": ("烟雾报警", "smoke alarm"),
    "sensor_fault": ("传感器故障", "sensor fault"),
    "session_no_float": ("充电未进入浮充", "no float stage"),
    "power_after_float": ("浮充后功率异常", "power after float"),
    "oversized_battery": ("电池容量异常偏大", "oversized battery"),
    "repeated_restarts": ("反复重启充电", "repeated restarts"),
    "power_creep": ("功率缓慢爬升", "power creep"),
    "battery_self_heating": ("电池自发热", "battery heating itself"),
    "blocker_camera_fault": ("阻车摄像头故障", "blocker camera fault"),
    "blocker_door_held": ("电梯门被长时间保持", "lift door held open"),
    "blocker_relay_stuck": ("阻车继电器卡滞", "blocker relay stuck"),
    "blocker_no_detections": ("阻车器长期无识别", "blocker saw nothing"),
    "device_offline": ("设备离线", "device offline"),
    "store_config": ("数据库拒绝写入", "store refuses writes"),
}

#: evidence point → (中文, unit): the value shown for an alert of a kind measured by that point
POINTS: dict[str, tuple[str, str]] = {
    "socket_temp": ("插座温度", "°C"),
    "current": ("电流", "A"),
    "power": ("功率", "W"),
    "voltage": ("电压", "V"),
}
_KIND_POINT = {
    "socket_overtemp": "socket_temp",
    "socket_temp_high": "socket_temp",
    "temp_rising_fast": "socket_temp",
    "thermal_residual": "socket_temp",
    "port_hotter_than_neighbours": "socket_temp",
    "overcurrent": "current",
    "current_spike": "current",
    "power_after_float": "power",
    "power_creep": "power",
}

WORDS = {
    "brand": "ChargeWatch 充电安全",
    "site": "站点",
    "device": "设备",
    "port": "端口",
    "value": "数值",
    "detail": "详情",
    "time": "时间",
    "since": "开始于",
    "tz": "北京时间",
    "evidence": "查看证据",
    "repeats": "限流期间同一告警又发生 {n} 次",
    "more": "另有 {n} 条未列出，请在控制台查看",
    "count_firing": "告警 {n} 条",
    "count_resolved": "已恢复 {n} 条",
}


def local_time(ts: float) -> str:
    """``2026-12-04 12:43:07`` in Beijing time."""
    return datetime.fromtimestamp(ts, SHANGHAI).strftime("%Y-%m-%d %H:%M:%S")


def rfc3339(ts: float) -> str:
    """UTC timestamp as Alertmanager's API wants it."""
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def kind_name(kind: str) -> tuple[str, str]:
    """(中文, English) of an alert kind; unknown kinds show their id in both."""
    return KINDS.get(kind, (kind, kind))


def where(item: NotifyItem) -> str:
    """``设备 pile-01 · 端口 3`` (``设备 lift-1`` for an alert of the whole device)."""
    port = printed_port(item.port)
    device = f"{WORDS['device']} {item.device}"
    return device if port is None else f"{device} · {WORDS['port']} {port}"


def value(item: NotifyItem) -> str:
    """The measured value behind the alert (``插座温度 82.3 °C``), else the detector's message."""
    point = _KIND_POINT.get(item.kind)
    raw = item.evidence.get(point) if point else None
    if point is not None and isinstance(raw, float):
        name, unit = POINTS[point]
        return f"{name} {raw:.1f} {unit}"
    return zh(item.message)


def summary(item: NotifyItem) -> str:
    """One line: ``【严重·告警】demo-site 设备 pile-01 · 端口 3 插座过温：插座温度 82.3 °C``."""
    zh, _ = kind_name(item.kind)
    head = f"【{SEVERITY[item.severity]}·{STATE[item.state]}】"
    return f"{head}{item.site} {where(item)} {zh}：{value(item)}"


def summary_en(item: NotifyItem) -> str:
    """The English line: ``[critical firing] demo-site pile-01 port 3 socket over-temperature``."""
    _, en = kind_name(item.kind)
    port = printed_port(item.port)
    spot = "whole pile" if port is None else f"port {port}"
    return f"[{item.severity} {STATE_EN[item.state]}] {item.site} {item.device} {spot} {en}: {item.message}"


def description(item: NotifyItem) -> str:
    """The lines of one alert: where, value, detail, time, evidence link (plain text)."""
    lines = [
        f"{WORDS['site']}：{item.site}",
        where(item),
        f"{WORDS['value']}：{value(item)}",
        f"{WORDS['detail']}：{zh(item.message)}",
        f"{WORDS['time']}：{local_time(item.ts)}（{WORDS['tz']}）",
    ]
    if item.state == "resolved" and item.first_ts < item.ts:
        lines.append(f"{WORDS['since']}：{local_time(item.first_ts)}")
    if item.repeats:
        lines.append(WORDS["repeats"].format(n=item.repeats))
    lines.append(f"{WORDS['evidence']}：{item.url}")
    return "\n".join(lines)


def ordered(items: Sequence[NotifyItem]) -> list[NotifyItem]:
    """Firing before resolved, most severe first, then oldest first."""
    return sorted(items, key=lambda i: (i.state != "firing", -SEVERITY_RANK[i.severity], i.ts))


def title(items: Sequence[NotifyItem]) -> str:
    """``demo-site：告警 2 条，已恢复 1 条``."""
    firing = sum(i.state == "firing" for i in items)
    parts = []
    if firing:
        parts.append(WORDS["count_firing"].format(n=firing))
    if len(items) - firing:
        parts.append(WORDS["count_resolved"].format(n=len(items) - firing))
    return f"{items[0].site}：{'，'.join(parts)}"


def _colour(item: NotifyItem, text: str) -> str:
    if item.state == "resolved":
        return f'<font color="info">{text}</font>'
    return f'<font color="{"warning" if item.severity == "critical" else "comment"}">{text}</font>'


def markdown(items: Sequence[NotifyItem], max_items: int, colour: bool) -> str:
    """The group message for a chat robot (WeCom colours with ``<font>``, DingTalk does not)."""
    shown = ordered(items)[:max_items]
    out = [f"### {WORDS['brand']} · {title(items)}"]
    for item in shown:
        zh, en = kind_name(item.kind)
        head = f"**{SEVERITY[item.severity]} · {STATE[item.state]} · {zh}**"
        out += ["", (_colour(item, head) if colour else head) + f" ({en})"]
        out += [f"> {where(item)}", f"> {WORDS['value']}：{value(item)}"]
        out.append(f"> {WORDS['time']}：{local_time(item.ts)}（{WORDS['tz']}）")
        if item.state == "resolved" and item.first_ts < item.ts:
            out.append(f"> {WORDS['since']}：{local_time(item.first_ts)}")
        if item.repeats:
            out.append("> " + WORDS["repeats"].format(n=item.repeats))
        out.append(f"> [{WORDS['evidence']} / evidence]({item.url})")
    if len(items) > len(shown):
        out += ["", WORDS["more"].format(n=len(items) - len(shown))]
    return "\n".join(out)


def as_json(item: NotifyItem) -> dict[str, Any]:
    """One alert of the generic webhook's body: the facts plus their Chinese rendering."""
    zh, en = kind_name(item.kind)
    return {
        "id": item.id,
        "site": item.site,
        "device": item.device,
        "port": item.port,
        "port_printed": printed_port(item.port),
        "kind": item.kind,
        "kind_zh": zh,
        "kind_en": en,
        "severity": item.severity,
        "severity_zh": SEVERITY[item.severity],
        "state": item.state,
        "state_zh": STATE[item.state],
        "ts": item.ts,
        "first_ts": item.first_ts,
        "time_local": local_time(item.ts),
        "message": item.message,
        "value": value(item),
        "summary": summary(item),
        "url": item.url,
        "repeats": item.repeats,
    }
