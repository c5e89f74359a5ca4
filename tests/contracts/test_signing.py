"""The signed-command contract: exact bytes signed, tampering detected, payloads bounded, key files."""

from __future__ import annotations

import base64
import stat
from pathlib import Path

import msgspec
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from chargewatch.errors import ConfigError, MessageError
from chargewatch.messages import SignedCommand
from chargewatch.signing import (
    DOMAIN,
    check_shape,
    decode_command_payload,
    load_private_key,
    load_public_key,
    new_command,
    sign,
    verify,
    write_keypair,
)
from chargewatch_cli.keygen import main as keygen_main

KEY = Ed25519PrivateKey.generate()


def _signed() -> SignedCommand:
    cmd = new_command(device="p1", point="relay_on", value=0.0, port=2, operator="li", now=1000.0, ttl=60.0)
    env = decode_command_payload(sign(cmd, KEY, "gw"))
    assert isinstance(env, SignedCommand)
    return env


def test_round_trip_signs_the_exact_payload_bytes_with_the_domain() -> None:
    env = _signed()
    cmd = verify(env, KEY.public_key())
    assert (cmd.device, cmd.port, cmd.operator, cmd.expires - cmd.issued) == ("p1", 2, "li", 60.0)
    assert len(cmd.nonce) == 32
    raw = base64.b64decode(env.payload)
    KEY.public_key().verify(base64.b64decode(env.sig), DOMAIN + raw)


def test_any_change_breaks_the_signature() -> None:
    env = _signed()
    raw = base64.b64decode(env.payload).replace(b'"value":0.0', b'"value":1.0')
    forged = msgspec.structs.replace(env, payload=base64.b64encode(raw).decode())
    with pytest.raises(MessageError, match="bad_signature"):
        verify(forged, KEY.public_key())
    spaced = msgspec.structs.replace(
        env, payload=base64.b64encode(base64.b64decode(env.payload) + b" ").decode()
    )
    with pytest.raises(MessageError, match="bad_signature"):
        verify(spaced, KEY.public_key())
    with pytest.raises(MessageError, match="bad_signature"):
        verify(env, Ed25519PrivateKey.generate().public_key())
    with pytest.raises(MessageError, match="malformed"):
        verify(msgspec.structs.replace(env, sig="%%%"), KEY.public_key())


def test_shape_is_checked_before_parsing() -> None:
    with pytest.raises(MessageError, match="too_deep"):
        check_shape(b"[" * 5 + b"]" * 5)
    check_shape(b'{"a":"[[[[[[[[\\"]]]"}')  # brackets inside a string (with an escaped quote) don't count
    with pytest.raises(MessageError, match="too_large"):
        check_shape(b" " * 9000)
    with pytest.raises(MessageError, match="too_deep"):
        decode_command_payload(b'{"type":"command","id":' + b"[" * 3000 + b"]" * 3000 + b"}")


def test_keygen_writes_a_private_key_only_the_owner_reads(tmp_path: Path) -> None:
    private, public = write_keypair(tmp_path / "keys", "gw")
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    key = load_private_key(private)
    assert load_public_key(public) == key.public_key()
    with pytest.raises(FileExistsError):
        write_keypair(tmp_path / "keys", "gw")
    private.chmod(0o644)
    with pytest.raises(ConfigError, match="readable by others"):
        load_private_key(private)
    with pytest.raises(ConfigError, match="not a PEM public key"):
        load_public_key(private)


def test_keygen_cli_writes_the_pair_once(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert keygen_main(["--out", str(tmp_path), "--name", "gw-1"]) == 0
    assert "gw-1.key (mode 0600" in capsys.readouterr().out
    assert load_public_key(tmp_path / "gw-1.pub") == load_private_key(tmp_path / "gw-1.key").public_key()
    assert keygen_main(["--out", str(tmp_path), "--name", "gw-1"]) == 2
    assert "not overwriting" in capsys.readouterr().err
