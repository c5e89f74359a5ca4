"""ChargeWatch gateway: MQTT in, validated, deduped, spooled and stored; alerts, liveness, HTTP API."""

from gateway.app import Gateway
from gateway.config import GatewayConfig, load_config

__all__ = ["Gateway", "GatewayConfig", "load_config"]
