"""The exception family shared by every ChargeWatch component."""

from __future__ import annotations


class ChargeWatchError(Exception):
    """Base of every error ChargeWatch raises on purpose."""


class ConfigError(ChargeWatchError):
    """A configuration or profile file is invalid; the message names the file, the key and the fix."""


class MessageError(ChargeWatchError):
    """A message failed validation; ``reason`` is a short machine-readable code."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail
