"""Through the real part: telemetry crosses a real Mosquitto, is decoded, and alerts come out."""

from __future__ import annotations

import asyncio
import json

import aiomqtt
import pytest

from analytics import Pipeline
from analytics.bench import main as bench_main
from chargewatch.messages import Telemetry, decode_device_message, encode
from chargewatch.topics import TELEMETRY, device_filter, device_topic
from tests.analytics.synth import T0
from tests.support.servers import Mosquitto


@pytest.mark.integration
async def test_overheating_pile_over_mosquitto_raises_one_alert(mosquitto: Mosquitto) -> None:
    temps = [45.0] * 20 + [45.0 + 2.0 * k for k in range(1, 25)]
    pipeline = Pipeline()
    changes = []
    async with (
        aiomqtt.Client("127.0.0.1", mosquitto.port, identifier="analytics-sub") as sub,
        aiomqtt.Client("127.0.0.1", mosquitto.port, identifier="analytics-pub") as pub,
    ):
        await sub.subscribe(device_filter(TELEMETRY), qos=1)
        for seq, temp in enumerate(temps):
            msg = Telemetry(
                device="pile-7",
                boot=1,
                seq=seq,
                ts=T0 + 5.0 * seq,
                model="cw-pile-10",
                ports={"socket_temp": [*[40.0] * 9, temp], "power": [300.0] * 10, "current": [1.4] * 10},
                values={"ambient_temp": 35.0},
            )
            await pub.publish(device_topic("pile-7", TELEMETRY), encode(msg), qos=1)
        async with asyncio.timeout(10):
            received = 0
            async for message in sub.messages:
                decoded = decode_device_message(bytes(message.payload))
                assert isinstance(decoded, Telemetry)
                changes += pipeline.process_telemetry(decoded)
                received += 1
                if received == len(temps):
                    break
    hot = [c for c in changes if c.kind == "socket_overtemp"]
    assert [c.state for c in hot][:2] == ["pending", "firing"]
    assert {c.id for c in hot} == {hot[0].id}
    assert all(c.port == 9 for c in changes)


def test_bench_prints_figures_as_json_last(capsys: pytest.CaptureFixture[str]) -> None:
    assert bench_main(["--piles", "3", "--steps", "20", "--json"]) == 0
    figures = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert figures["us_per_port_sample"] > 0
    assert 0 < figures["state_bytes_per_port"] < 4_096
