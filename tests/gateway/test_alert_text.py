"""Alert messages in Chinese (gateway/alert_text.py over gateway/api/static/messages_zh.json):
every message form the analytics and the gateway write reads without an English word left,
measured values and names carried over; unknown text is kept, never dropped."""

from __future__ import annotations

import re

from gateway.alert_text import zh
from gateway.notify._item import NotifyItem
from gateway.notify.text import description

#: one message of every form the analytics and the gateway write (gateway/api/static/messages.js)
MESSAGES = (
    "socket 69.7 °C",
    "socket rising 2.4 °C/min",
    "current 16.02 A",
    "current 12.50 A > limit 10.00 A",
    "firmware cut the port on over-current",
    "socket 6.3 °C hotter than its load explains",
    "idle socket warmed 4.1 °C over the ambient with no load: a heating battery?",
    "socket 7.5 °C hotter than neighbours",
    "pile smoke sensor alarm",
    "meter ran 3.2 Wh ahead of the sampled power (meter gain 1.012): current spikes between polls",
    "35% of the last 120 s implausible; socket_temp out of range (-40.0 °C); socket_temp no_sensor",
    "20% of the last 120 s implausible; socket_temp jumped implausibly; current missing",
    "18% of the last 120 s implausible; socket_temp stuck at 41.2 °C under load",
    "no float after 9.5 h at 120 W (taper stalled at 45% of peak)",
    "no float after 9.5 h at 120 W",
    "power crept up 35 W in 40 min: battery self-heating?",
    "power back to 210 W after float",
    "3.10 kWh / 9.2 h; constant-current ramp says pack ≥ 3.4 kWh; usual 0.90 kWh / 3.1 h",
    "3 session starts within 600 s",
    "charging power climbed 24 W back up its constant-voltage taper (to 180 W): "
    "the battery draws current it does not store",
    "socket warmed 0.6 °C with no load: heat from the plugged battery",
    "no detection for 6.2 h (usual gap 12 min)",
    "camera offline",
    "camera fault code 3",
    "doors held 400 s > 180 s",
    "relay closed with no hold",
    "no telemetry for 95 s",
    "agent reports the device not answering",
    "device offline (silent)",
    "device back online (message)",
    "agent offline (last_will)",
    "port cut by the pile: over_temperature (fault code 1)",
    "port cut by the agent's interlock: socket_temp 92.3 (limit 85.0)",
    "acknowledged by 王工",
)

_ENGLISH = re.compile(r"[a-z]{3,}")


def test_every_message_form_reads_in_chinese() -> None:
    left = [(m, zh(m)) for m in MESSAGES if _ENGLISH.search(zh(m))]
    assert left == []


def test_numbers_and_names_are_carried_over() -> None:
    assert zh("socket 69.7 °C") == "插座温度 69.7 °C"
    assert zh("current 12.50 A > limit 10.00 A") == "电流 12.50 A，超过上限 10.00 A"
    assert (
        zh("port cut by the pile: over_temperature (fault code 2)")
        == "充电桩已切断端口：过温断电（故障码 2）"
    )
    assert zh("agent offline (last_will)") == "采集终端离线（采集终端异常断线）"
    assert zh("acknowledged by 王工") == "已由 王工 确认"
    # the relay's error is the Modbus client's own text: carried over as it came
    assert zh(
        "port cut by the agent's interlock: smoke 1.0 (limit 1.0); relay NOT confirmed off: timeout"
    ) == ("采集终端联锁已切断端口：烟雾 1.0（上限 1.0）；继电器未确认断开：timeout")


def test_unknown_parts_stay_as_written() -> None:
    assert zh("socket 69.7 °C; a brand-new detail") == "插座温度 69.7 °C；a brand-new detail"
    assert zh("") == ""
    assert zh("pile smoke sensor alarm (extra)") == "pile smoke sensor alarm (extra)"


def test_notifications_carry_the_chinese_detail() -> None:
    item = NotifyItem(
        id="pile-a2.5.sensor_fault.1",
        site="demo",
        device="pile-a2",
        port=5,
        kind="sensor_fault",
        severity="warning",
        state="firing",
        ts=1.7e9,
        first_ts=1.7e9,
        message="22% of the last 120 s implausible",
        evidence={},
        url="http://x/",
    )
    text = description(item)
    assert "最近 120 秒内 22% 的读数不合理" in text
    assert "implausible" not in text
