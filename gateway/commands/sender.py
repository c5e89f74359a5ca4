"""Signing commands with the gateway's key (``commands.signing_key_file``, see ``chargewatch keygen``)."""

from __future__ import annotations

import logging
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from chargewatch.clock import Clock, SystemClock
from chargewatch.logs import kv
from chargewatch.messages import Command
from chargewatch.signing import load_private_key, new_command, sign
from gateway.config import CommandsConfig

log = logging.getLogger(__name__)


class CommandSender:
    """Makes fresh signed commands: a random id and nonce, valid for ``ttl`` seconds from now."""

    def __init__(self, key: Ed25519PrivateKey, key_id: str, ttl: float, clock: Clock | None = None) -> None:
        self.key_id = key_id
        self.ttl = ttl
        self._key = key
        self._clock = clock or SystemClock()

    def make(
        self, *, device: str, point: str, value: float, port: int | None, operator: str
    ) -> tuple[Command, bytes]:
        """The command and the SignedCommand payload to publish on the device's cmd topic."""
        cmd = new_command(
            device=device,
            point=point,
            value=value,
            port=port,
            operator=operator,
            now=self._clock.time(),
            ttl=self.ttl,
        )
        log.info(
            kv(
                "command_signed",
                id=cmd.id,
                device=device,
                point=point,
                port=port,
                value=value,
                operator=operator,
                key=self.key_id,
            )
        )
        return cmd, sign(cmd, self._key, self.key_id)


def load_sender(cfg: CommandsConfig, clock: Clock | None = None) -> CommandSender | None:
    """The sender of ``cfg`` (None when no ``signing_key_file`` is set); ConfigError names the file."""
    if not cfg.signing_key_file:
        return None
    return CommandSender(load_private_key(Path(cfg.signing_key_file)), cfg.key_id, cfg.ttl_s, clock)
