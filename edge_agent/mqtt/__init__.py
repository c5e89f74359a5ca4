"""The agent's MQTT side: settings, the store-and-forward link, the connection error."""

from chargewatch.mqtt_transport import LinkError
from edge_agent.mqtt._commands import CommandCallback
from edge_agent.mqtt.link import MqttLink
from edge_agent.mqtt.settings import MqttSettings, mqtt_settings

__all__ = ["CommandCallback", "LinkError", "MqttLink", "MqttSettings", "mqtt_settings"]
