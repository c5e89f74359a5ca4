"""The gateway's HTTP API and dashboard."""

from gateway.api.server import ApiServer, GatewayView

__all__ = ["ApiServer", "GatewayView"]
