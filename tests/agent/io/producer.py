"""A producer process for the kill -9 test: opens the outbox, runs MqttLink, commits forever.

``python -m tests.agent.io.producer OUTBOX_DIR BROKER_URL`` prints ``boot N`` once connected,
then commits one telemetry message every 5 ms (``synchronous=full``) until killed.
"""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

from edge_agent.mqtt import MqttLink
from edge_agent.outbox import Outbox
from tests.agent.io.support import add_tel, mqtt_for, outbox_for


async def _main(directory: Path, url: str) -> None:
    with Outbox(outbox_for(directory, synchronous="full")) as box:
        async with MqttLink(mqtt_for(url, "producer"), box, agent="producer", devices=["pile-k"]) as link:
            async with asyncio.timeout(10):
                await link.wait_connected()
            sys.stdout.write(f"boot {box.boot}\n")
            sys.stdout.flush()
            while True:
                add_tel(box, "pile-k", time.time())
                await asyncio.sleep(0.005)


if __name__ == "__main__":
    asyncio.run(_main(Path(sys.argv[1]), sys.argv[2]))
