"""The gateway's HTTP API and control room."""

from gateway.api._events import EventHub
from gateway.api.server import ApiServer, GatewayView

__all__ = ["ApiServer", "EventHub", "GatewayView"]
