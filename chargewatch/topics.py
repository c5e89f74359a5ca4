"""MQTT topic names (version 1). One subtree per device, one per agent.

``cw/v1/dev/{device}/telemetry``  agent → gateway, QoS 1
``cw/v1/dev/{device}/event``      agent → gateway, QoS 1
``cw/v1/dev/{device}/ack``        gateway → agent, QoS 1: seqs durably stored
``cw/v1/dev/{device}/cmd``        operator → agent, QoS 1
``cw/v1/dev/{device}/cmd/reply``  agent → operator, QoS 1
``cw/v1/dev/{device}/alert``      gateway → dashboards, QoS 1
``cw/v1/agent/{agent}/status``    agent → all, retained, also the last will
``cw/v1/gateway/{id}/status``     gateway → all, retained (online, degraded), also its last will
"""

from __future__ import annotations

import re

PREFIX = "cw/v1"
_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")

TELEMETRY = "telemetry"
EVENT = "event"
ACK = "ack"
CMD = "cmd"
CMD_REPLY = "cmd/reply"
ALERT = "alert"
STATUS = "status"


def _check(kind: str, ident: str) -> str:
    if not _ID.match(ident):
        raise ValueError(f"{kind} id {ident!r} does not match [A-Za-z0-9_-]{{1,64}}")
    return ident


def device_topic(device: str, leaf: str) -> str:
    """Topic ``leaf`` (one of the constants above) of ``device``."""
    return f"{PREFIX}/dev/{_check('device', device)}/{leaf}"


def agent_status_topic(agent: str) -> str:
    """Retained status / last-will topic of ``agent``."""
    return f"{PREFIX}/agent/{_check('agent', agent)}/{STATUS}"


def device_filter(leaf: str, device: str = "+") -> str:
    """Subscription filter for ``leaf`` of one device or all (``+``)."""
    return f"{PREFIX}/dev/{device}/{leaf}"


STATUS_FILTER = f"{PREFIX}/agent/+/{STATUS}"
GATEWAY_STATUS_FILTER = f"{PREFIX}/gateway/+/{STATUS}"


def gateway_status_topic(gateway: str) -> str:
    """Retained status of a gateway instance (online, degraded); also its last will."""
    return f"{PREFIX}/gateway/{_check('gateway', gateway)}/{STATUS}"


def parse_device_topic(topic: str) -> tuple[str, str]:
    """(device, leaf) of a device topic; ValueError if it is not one."""
    parts = topic.split("/", 4)
    if len(parts) < 5 or f"{parts[0]}/{parts[1]}" != PREFIX or parts[2] != "dev":
        raise ValueError(f"not a ChargeWatch device topic: {topic!r}")
    return _check("device", parts[3]), parts[4]


def parse_agent_topic(topic: str) -> str:
    """Agent id of a status topic; ValueError if it is not one."""
    parts = topic.split("/")
    if len(parts) != 5 or f"{parts[0]}/{parts[1]}" != PREFIX or parts[2] != "agent" or parts[4] != STATUS:
        raise ValueError(f"not a ChargeWatch agent status topic: {topic!r}")
    return _check("agent", parts[3])
