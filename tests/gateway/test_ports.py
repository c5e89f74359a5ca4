"""The control room's port grid (``GET /api/ports``): one state per port from the last
telemetry named through the profile, liveness and the open alerts; blockers with today's
blocked entries from their detections counter."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from chargewatch.profiles import load_profiles
from gateway.api._ports import counter_rise, grid, port_state
from gateway.api.server import ApiServer
from gateway.store.base import Row
from gateway.store.errors import StoreError
from tests.gateway.ingest.test_api_token import _call, _View


def test_the_first_state_that_applies_wins() -> None:
    assert port_state(False, "charging", "over_temperature", 90.0, ["socket_overtemp"]) == "offline"
    assert port_state(True, "fault", "over_temperature", 90.0, []) == "tripped"
    assert port_state(True, "idle", "none", 30.0, ["port_cut"]) == "tripped"
    assert port_state(True, "fault", "none", 30.0, []) == "fault"
    assert port_state(True, "charging", "none", 45.0, ["temp_rising_fast"]) == "hot"
    assert port_state(True, "charging", "none", 61.0, []) == "hot"
    assert port_state(True, "charging", "timeout", 40.0, []) == "charging"  # a time-out is no trip
    assert port_state(True, "full", "none", 30.0, ["sensor_fault"]) == "full"
    assert port_state(True, "stopped", "remote_stop", 30.0, []) == "idle"


def _pile(device: str, model: str, ports: int, **cols: list[float]) -> dict[str, Any]:
    base: dict[str, list[float]] = {"state": [0.0] * ports, "fault_code": [0.0] * ports}
    return {"device": device, "model": model, "online": True, "ports": base | cols, "values": {}}


def test_codes_are_named_through_each_vendors_profile() -> None:
    profiles = load_profiles()
    vx_state = [0.0] * 12
    vx_state[1], vx_state[2] = 1.0, 3.0  # vx-pile-12: 1 charging, 3 full
    vx_fault = [0.0] * 12
    vx_fault[4] = 12.0  # vx-pile-12: 12 = over_temperature
    cw_state = [0.0] * 10
    cw_state[9] = 2.0  # cw-pile-10: 2 = full
    devices = [
        _pile("vx", "vx-pile-12", 12, state=vx_state, fault_code=vx_fault),
        _pile("cw", "cw-pile-10", 10, state=cw_state),
        {"device": "lift", "model": "cw-blocker", "online": False, "values": {"camera_online": 1.0}},
    ]
    alerts: list[dict[str, Any]] = [
        {"device": "cw", "port": 3, "kind": "socket_overtemp"},
        {"device": "cw", "port": None, "kind": "x"},
    ]
    body = grid(devices, alerts, profiles, "s1", {"lift": 4})
    vx, cw = body["piles"]
    assert [p["state"] for p in vx["ports"][:5]] == ["idle", "charging", "full", "idle", "tripped"]
    assert vx["ports"][4]["fault"] == "over_temperature"
    assert [(p["port"], p["label"]) for p in cw["ports"][:2]] == [(0, 1), (1, 2)]
    assert (cw["ports"][3]["state"], cw["ports"][3]["alerts"]) == ("hot", ["socket_overtemp"])
    assert (cw["ports"][9]["state"], cw["alerts"]) == ("full", ["x"])
    assert body["blockers"] == [
        {
            "device": "lift", "model": "cw-blocker", "online": False, "last_seen_s": None, "ts": None,
            "alerts": [], "camera_online": 1.0, "relay_closed": None, "door_hold": None,
            "ebike_present": None, "blocked_today": 4,
        }
    ]  # fmt: skip


def test_a_counter_rise_counts_a_reset_as_a_new_start() -> None:
    assert counter_rise([5, 7, None, 9, 2, 3]) == 4 + 2 + 1
    assert counter_rise([]) == 0


class _GridView(_View):
    def alerts(self, open_only: bool) -> list[dict[str, Any]]:
        return [{"device": "lift", "port": None, "kind": "blocker_camera_fault", "state": "firing"}]

    def devices(self) -> list[dict[str, Any]]:
        return [{"device": "lift", "model": "cw-blocker", "online": True, "values": {"door_hold": 0.0}}]

    async def series(self, *args: Any, **kwargs: Any) -> Any:
        assert args[:3] == ("blocker", ["detections"], {"device": "lift"})
        return [Row(ts, {}, {"detections": v}) for ts, v in ((1, 10.0), (2, 12.0), (3, 15.0))]


async def test_the_grid_through_the_server_counts_blocked_entries_today() -> None:
    async with ApiServer(_GridView(), "127.0.0.1", 0, site="demo") as api:
        status, body = await asyncio.to_thread(_call, api.port, "/api/ports")
    assert status == 200
    assert (body["site"], body["piles"]) == ("demo", [])
    assert body["blockers"][0]["blocked_today"] == 5
    assert body["blockers"][0]["alerts"] == ["blocker_camera_fault"]


class _FailingStoreView(_GridView):
    async def series(self, *args: Any, **kwargs: Any) -> Any:
        raise StoreError("sqlite:test", "store down")


async def test_a_failing_store_leaves_the_count_out_and_is_logged_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with ApiServer(_FailingStoreView(), "127.0.0.1", 0) as api:
        for _ in range(3):
            status, body = await asyncio.to_thread(_call, api.port, "/api/ports")
            assert status == 200
            assert body["blockers"][0]["blocked_today"] is None
    assert sum("blocked_today_unavailable" in r.message for r in caplog.records) == 1
