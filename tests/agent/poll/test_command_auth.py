"""CommandAuth's nonce memory: bounded, pruned once commands expire, never a replay window."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from chargewatch.clock import ManualClock
from chargewatch.messages import SignedCommand
from chargewatch.signing import decode_command_payload, new_command, sign
from edge_agent import command_auth
from edge_agent.command_auth import CommandAuth, CommandRefusedError, KeyPolicy

KEY = Ed25519PrivateKey.generate()


def _signed(clock: ManualClock) -> SignedCommand:
    cmd = new_command(
        device="p1", point="relay_on", value=0.0, port=0, operator="li", now=clock.time(), ttl=10.0
    )
    env = decode_command_payload(sign(cmd, KEY, "gw"))
    assert isinstance(env, SignedCommand)
    return env


def _code(auth: CommandAuth, env: SignedCommand) -> str:
    try:
        auth.check(env)
    except CommandRefusedError as exc:
        return exc.code
    return "ok"


def test_nonce_memory_is_bounded_and_pruned_after_expiry(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(command_auth, "MAX_LIVE_NONCES", 3)
    clock = ManualClock()
    auth = CommandAuth([KeyPolicy("gw", KEY.public_key(), frozenset({"relay_on"}), frozenset({"*"}))], clock)
    clock.advance(1.0)
    first = _signed(clock)
    assert [_code(auth, env) for env in (first, _signed(clock), _signed(clock))] == ["ok", "ok", "ok"]
    assert _code(auth, _signed(clock)) == "busy"
    assert _code(auth, first) == "replayed"
    clock.advance(11.0)
    assert _code(auth, first) == "expired"  # past its expiry a replay is refused without the nonce
    assert _code(auth, _signed(clock)) == "ok"  # the expired nonces made room
