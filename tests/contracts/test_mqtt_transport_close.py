"""paho's socket callbacks run in the connecting thread; the loop may act on them after a
connect time-out closed the socket. That must not print ``Invalid file descriptor: -1``."""

from __future__ import annotations

import asyncio
import socket
import threading
from typing import Any

from chargewatch.mqtt_transport import Connection, Endpoint


async def test_socket_callbacks_for_a_socket_closed_before_the_loop_ran_are_harmless() -> None:
    loop = asyncio.get_running_loop()
    errors: list[dict[str, Any]] = []
    loop.set_exception_handler(lambda _loop, ctx: errors.append(ctx))
    conn = Connection(Endpoint(host="127.0.0.1", port=1, client_id="t"), lambda topic, payload: None)
    a, b = socket.socketpair()

    def connecting_thread() -> None:  # what paho does on a connect that timed out
        conn._cb_sock_open(conn.client, None, a)
        conn._cb_reg_write(conn.client, None, a)
        conn._cb_unreg_write(conn.client, None, a)
        conn._cb_sock_close(conn.client, None, a)
        a.close()

    thread = threading.Thread(target=connecting_thread)
    thread.start()
    thread.join()
    for _ in range(3):
        await asyncio.sleep(0)
    b.close()
    assert errors == []
    # and an open socket is still registered and unregistered as before
    c, d = socket.socketpair()
    conn._cb_sock_open(conn.client, None, c)
    assert loop.remove_reader(c)
    conn._cb_sock_close(conn.client, None, c)
    c.close()
    d.close()
    assert errors == []
