"""Bad query parameters through the real aiohttp server: 400 with a reason, never a 500."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from gateway.api.server import ApiServer, series_fields
from tests.gateway.ingest.test_api_token import _call, _View


class _SeriesView(_View):
    def __init__(self) -> None:
        super().__init__()
        self.queries: list[tuple[Any, ...]] = []

    async def series(self, *args: Any, **kwargs: Any) -> Any:
        self.queries.append(args)
        return []


@pytest.mark.parametrize(
    ("query", "reason"),
    [
        ("/api/series?device=p1&port=0&field=socket_temp&since=nan", "since must be seconds"),
        ("/api/series?device=p1&port=0&field=socket_temp&since=inf", "since must be seconds"),
        ("/api/series?device=p1&port=0&field=socket_temp&since=-5", "since must be seconds"),
        ("/api/series?device=p1&port=0&field=socket_temp&since=1e12", "since must be seconds"),
        ("/api/series?device=p1&port=0&field=socket_temp&since=abc", "since must be seconds"),
        ("/api/series?device=p1&port=0&field=temperature", "port has no field 'temperature'; known: ["),
        ("/api/series?device=p1&field=socket_temp", "pile has no field 'socket_temp'"),
        ("/api/series?device=p1&port=0&field=socket_temp&measurement=users", "measurement must be one of"),
        ("/api/series?device=p1&port=99999999999999999999&field=socket_temp", "port must be an integer"),
        ("/api/series?device=p1&port=-1&field=socket_temp", "port must be an integer"),
        ("/api/series?field=socket_temp", "device and field are required"),
        ("/api/dead_letters?limit=-1", "limit must be an integer in 1..1000"),
        ("/api/dead_letters?limit=0", "limit must be an integer in 1..1000"),
        ("/api/dead_letters?limit=99999999999999999999", "limit must be an integer in 1..1000"),
        ("/api/dead_letters?limit=ten", "limit must be an integer in 1..1000"),
    ],
)
async def test_bad_parameters_are_a_400_with_the_reason(query: str, reason: str) -> None:
    view = _SeriesView()
    async with ApiServer(view, "127.0.0.1", 0) as api:
        status, body = await asyncio.to_thread(_call, api.port, query)
    assert status == 400
    assert reason in body["error"]
    assert view.queries == []


async def test_good_parameters_reach_the_store() -> None:
    view = _SeriesView()
    async with ApiServer(view, "127.0.0.1", 0) as api:
        ok = "/api/series?device=p1&port=3&field=socket_temp&since=600"
        status, body = await asyncio.to_thread(_call, api.port, ok)
        assert (status, body["points"]) == (200, [])
        assert (await asyncio.to_thread(_call, api.port, "/api/series?device=p1&field=ambient_temp"))[
            0
        ] == 200
        assert (await asyncio.to_thread(_call, api.port, "/api/dead_letters?limit=1000"))[0] == 200
    measurement, fields, where, start, end = view.queries[0]
    assert (measurement, fields, where) == ("port", ["socket_temp"], {"device": "p1", "port": "3"})
    assert end - start == pytest.approx(600_000, abs=1000)


def test_known_fields_come_from_the_profiles() -> None:
    fields = series_fields()
    assert {"socket_temp", "current", "meter", "seq"} <= fields["port"]
    assert "ambient_temp" in fields["pile"]
    assert "socket_temp" not in fields["pile"]
