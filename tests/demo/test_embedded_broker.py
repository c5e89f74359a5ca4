from __future__ import annotations

import asyncio
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from demo.broker import EmbeddedBroker

N = 300


async def test_embedded_broker_carries_qos1_messages() -> None:
    loop = asyncio.get_running_loop()
    got: list[bytes] = []
    subscribed = asyncio.Event()
    all_in = asyncio.Event()

    def on_message(_c: mqtt.Client, _u: Any, m: mqtt.MQTTMessage) -> None:
        got.append(bytes(m.payload))
        if len(got) >= N:
            loop.call_soon_threadsafe(all_in.set)

    def on_subscribe(*_a: Any) -> None:
        loop.call_soon_threadsafe(subscribed.set)

    async with EmbeddedBroker() as broker:
        sub = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="demo-sub", clean_session=False)
        sub.on_message = on_message
        sub.on_subscribe = on_subscribe
        sub.connect("127.0.0.1", broker.port)
        sub.loop_start()
        pub = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="demo-pub")
        pub.connect("127.0.0.1", broker.port)
        pub.loop_start()
        try:
            sub.subscribe("cw/v1/dev/+/telemetry", qos=1)
            async with asyncio.timeout(10):
                await subscribed.wait()
            for i in range(N):
                pub.publish(f"cw/v1/dev/p{i % 3}/telemetry", str(i), qos=1)
            async with asyncio.timeout(20):
                await all_in.wait()
            assert sorted(int(x) for x in got) == list(range(N))
        finally:
            pub.loop_stop()
            sub.loop_stop()
            pub.disconnect()
            sub.disconnect()
