"""A small acknowledging subscriber: the gateway's stand-in for tests, benchmarks and the demo.

It subscribes (persistent session, QoS 1) to the telemetry and event topics, records each
(device, boot, seq) with its first arrival time and source ts, counts duplicates and conflicts
(the same key with a different ts: a seq reused within a boot), and every
``flush_interval`` or ``max_batch`` messages, whichever comes first, publishes one ``Ack`` per
(device, boot) covering every seq received since the last flush — duplicates included, so a
re-sent message is acked again. Run it alone with ``python -m edge_agent.acker mqtt://127.0.0.1:1883``;
it prints ``ready`` once subscribed. Over ``mqtts://`` it verifies the broker with ``ca_file``
(``--ca-file``) and may present a client certificate; its password comes from the caller (the
CLI reads it from the environment variable named by ``--password-env``, never from argv).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
import time
from collections import defaultdict
from urllib.parse import urlsplit

from chargewatch.acks import acks_for
from chargewatch.errors import MessageError
from chargewatch.logs import kv
from chargewatch.messages import Event, decode_device_message, encode
from chargewatch.mqtt_transport import Connection, Endpoint, LinkError
from chargewatch.retry import Backoff
from chargewatch.tasks import cancel_and_wait
from chargewatch.topics import ACK, EVENT, TELEMETRY, device_filter, device_topic

log = logging.getLogger(__name__)

Key = tuple[str, int, int]


class Acker:
    """``async with Acker(url) as acker``: receive, record and acknowledge device messages."""

    def __init__(
        self,
        url: str,
        *,
        client_id: str = "cw-acker",
        device: str = "+",
        flush_interval: float = 0.05,
        max_batch: int = 250,
        ack: bool = True,
        username: str | None = None,
        password: str | None = None,
        ca_file: str | None = None,
        cert_file: str | None = None,
        key_file: str | None = None,
    ) -> None:
        parts = urlsplit(url)
        tls = parts.scheme == "mqtts"
        self.endpoint = Endpoint(
            host=parts.hostname or "127.0.0.1",
            port=parts.port or (8883 if tls else 1883),
            client_id=client_id,
            max_inflight=100,
            username=username,
            password=password,
            tls=tls,
            ca_file=ca_file,
            cert_file=cert_file,
            key_file=key_file,
        )
        self.device = device
        self.flush_interval = flush_interval
        self.max_batch = max_batch
        self._unflushed = 0
        self.ack_enabled = ack
        self.seen: dict[Key, float] = {}
        self.order: list[Key] = []
        self.events: set[Key] = set()
        self.ts: dict[Key, float] = {}
        self.duplicates = 0
        self.conflicts = 0
        self.invalid = 0
        self._pending: defaultdict[tuple[str, int], list[int]] = defaultdict(list)
        self._conn: Connection | None = None
        self._ready = asyncio.Event()
        self._grew = asyncio.Event()
        self._runner: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Acker:
        self._runner = asyncio.create_task(self._run(), name="acker")
        return self

    async def __aexit__(self, *exc: object) -> None:
        runner, self._runner = self._runner, None
        await cancel_and_wait(runner)

    async def wait_ready(self) -> None:
        """Return once subscribed (callers bound the wait with ``asyncio.timeout``)."""
        await self._ready.wait()

    async def wait_count(self, n: int) -> None:
        """Wait until ``n`` distinct messages arrived (callers bound it with ``asyncio.timeout``)."""
        while len(self.seen) < n:
            self._grew.clear()
            await self._grew.wait()

    def seqs(self, device: str, boot: int) -> list[int]:
        """Distinct seqs received of (device, boot), sorted."""
        return sorted(s for d, b, s in self.seen if d == device and b == boot)

    def _on_message(self, topic: str, payload: bytes) -> None:
        try:
            msg = decode_device_message(payload)
        except MessageError as exc:
            self.invalid += 1
            log.warning(kv("acker_invalid", topic=topic, reason=exc.reason))
            return
        key = (msg.device, msg.boot, msg.seq)
        if key in self.seen:
            self.duplicates += 1
            if self.ts[key] != msg.ts:
                self.conflicts += 1
                log.error(kv("acker_seq_conflict", device=msg.device, boot=msg.boot, seq=msg.seq))
        else:
            self.seen[key] = time.monotonic()
            self.ts[key] = msg.ts
            self.order.append(key)
            if isinstance(msg, Event):
                self.events.add(key)
            self._grew.set()
        self._pending[(msg.device, msg.boot)].append(msg.seq)
        self._unflushed += 1
        if self._unflushed >= self.max_batch:
            self.flush()

    def flush(self) -> int:
        """Publish the pending acks now; returns how many Ack messages went out."""
        conn = self._conn
        if conn is None or not self._pending or not self.ack_enabled:
            return 0
        pending, self._pending = self._pending, defaultdict(list)
        self._unflushed = 0
        sent = 0
        for (device, boot), seqs in pending.items():
            for ack in acks_for(device, boot, seqs):
                conn.publish(device_topic(device, ACK), encode(ack))
                sent += 1
        return sent

    async def _run(self) -> None:
        retrying = Backoff(initial=0.1, cap=2.0).start()
        while True:
            try:
                async with Connection(self.endpoint, self._on_message) as conn:
                    retrying.succeeded()
                    await conn.subscribe(
                        [(device_filter(TELEMETRY, self.device), 1), (device_filter(EVENT, self.device), 1)]
                    )
                    self._conn = conn
                    self._ready.set()
                    log.info(kv("acker_connected", broker=conn.ep.name))
                    await self._flush_until_lost(conn)
            except LinkError as exc:
                log.debug(kv("acker_connect_failed", error=exc))
            finally:
                self._conn = None
            delay = retrying.next_delay()
            assert delay is not None, "reconnects are unbounded"
            await asyncio.sleep(delay)

    async def _flush_until_lost(self, conn: Connection) -> None:
        lost = asyncio.create_task(conn.wait_lost(), name="acker-lost")
        try:
            while not lost.done():
                await asyncio.wait([lost], timeout=self.flush_interval)
                self.flush()
        finally:
            lost.cancel()
        log.info(kv("acker_lost", reason=lost.result()))


async def _main(args: argparse.Namespace, password: str | None) -> None:
    acker = Acker(
        args.url,
        client_id=args.client_id,
        username=args.username,
        password=password,
        ca_file=args.ca_file,
        cert_file=args.cert_file,
        key_file=args.key_file,
    )
    async with acker:
        async with asyncio.timeout(30):
            await acker.wait_ready()
        sys.stdout.write("ready\n")
        sys.stdout.flush()
        await asyncio.Event().wait()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="ChargeWatch acknowledging subscriber (gateway stand-in)")
    parser.add_argument("url", help="mqtt://host:port or mqtts://host:port")
    parser.add_argument("--client-id", default="cw-acker")
    parser.add_argument("--username")
    parser.add_argument("--password-env", help="name of the environment variable holding the password")
    parser.add_argument("--ca-file", help="CA certificate (PEM) that signed the broker's certificate")
    parser.add_argument("--cert-file", help="client certificate (PEM), with --key-file")
    parser.add_argument("--key-file", help="client private key (PEM), with --cert-file")
    args = parser.parse_args(argv)
    if (args.cert_file is None) != (args.key_file is None):
        parser.error("--cert-file and --key-file go together")
    password = None
    if args.password_env is not None:
        password = os.environ.get(args.password_env)
        if password is None:
            parser.error(f"--password-env: environment variable {args.password_env!r} is not set")
    logging.basicConfig(level=logging.WARNING)
    asyncio.run(_main(args, password))


if __name__ == "__main__":
    main()
