"""Signed operator commands: the wire contract between whoever commands and the agent.

What goes on ``cw/v1/dev/{device}/cmd`` is a :class:`~chargewatch.messages.SignedCommand`::

    {"type": "signed_command", "v": 1, "key": "<key id>",
     "payload": "<base64 of the command's JSON bytes>", "sig": "<base64 of the signature>"}

* ``payload`` decodes (standard base64, padded) to the exact JSON bytes of a
  :class:`~chargewatch.messages.Command`; ``sig`` is the 64-byte Ed25519 signature over
  ``DOMAIN + those bytes``. The verifier checks the signature over the bytes it received and
  only then parses them, so nothing is re-encoded or canonicalised: what was signed is what is
  executed. ``DOMAIN`` keeps a command signature from being valid for anything else.
* ``key`` names the public key to verify with; the agent's config maps key ids to public key
  files and to what each key may command (points and devices).
* The command carries ``operator`` (who), ``nonce`` (32 lowercase hex digits, random per
  command), ``issued`` and ``expires`` (seconds since the epoch), all under the signature.

Ed25519 (RFC 8032) from the ``cryptography`` package: deterministic signatures (no per-signature
randomness to get wrong), 32-byte keys, fast verify. Agents hold only public keys, so a
compromised agent can neither forge a command to another agent nor sign as the gateway.

Before any parsing, a payload is bounded in size (:data:`MAX_COMMAND_BYTES`) and JSON nesting
depth (:data:`MAX_DEPTH`): a deeply nested payload must not reach a recursive decoder.
"""

from __future__ import annotations

import base64
import binascii
import os
import secrets
import stat
from pathlib import Path

import msgspec
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from chargewatch.errors import ConfigError, MessageError
from chargewatch.messages import Command, SignedCommand, encode

DOMAIN = b"chargewatch/signed-command/v1\n"
MAX_COMMAND_BYTES = 8 * 1024
MAX_DEPTH = 4

_cmd_decoder = msgspec.json.Decoder(Command | SignedCommand)
_inner_decoder = msgspec.json.Decoder(Command)
_OPEN, _CLOSE, _QUOTE, _BACKSLASH = frozenset(b"[{"), frozenset(b"]}"), 0x22, 0x5C


def check_shape(raw: bytes, max_bytes: int = MAX_COMMAND_BYTES, max_depth: int = MAX_DEPTH) -> None:
    """MessageError ``too_large`` / ``too_deep`` unless ``raw`` is small and shallow enough to parse."""
    if len(raw) > max_bytes:
        raise MessageError("too_large", f"{len(raw)} bytes > {max_bytes}")
    depth = 0
    in_string = escaped = False
    for byte in raw:
        if in_string:
            if escaped:
                escaped = False
            elif byte == _BACKSLASH:
                escaped = True
            elif byte == _QUOTE:
                in_string = False
        elif byte == _QUOTE:
            in_string = True
        elif byte in _OPEN:
            depth += 1
            if depth > max_depth:
                raise MessageError("too_deep", f"JSON nesting deeper than {max_depth}")
        elif byte in _CLOSE:
            depth -= 1


def decode_command_payload(raw: bytes) -> Command | SignedCommand:
    """A cmd topic payload, shape-checked then decoded; MessageError says why not."""
    check_shape(raw)
    try:
        return _cmd_decoder.decode(raw)
    except msgspec.ValidationError as exc:
        raise MessageError("schema", str(exc)) from exc
    except msgspec.DecodeError as exc:
        raise MessageError("malformed", str(exc)) from exc


def _b64(text: str, what: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise MessageError("malformed", f"{what} is not base64: {exc}") from exc


def sign(cmd: Command, key: Ed25519PrivateKey, key_id: str) -> bytes:
    """The SignedCommand payload (JSON bytes) carrying ``cmd`` signed with ``key``."""
    payload = encode(cmd)
    sig = key.sign(DOMAIN + payload)
    env = SignedCommand(
        key=key_id, payload=base64.b64encode(payload).decode(), sig=base64.b64encode(sig).decode()
    )
    return encode(env)


def unverified(env: SignedCommand) -> Command | None:
    """The command inside ``env`` WITHOUT checking the signature (to address a refusal), or None."""
    try:
        raw = _b64(env.payload, "payload")
        check_shape(raw)
        return _inner_decoder.decode(raw)
    except (MessageError, msgspec.DecodeError):
        return None


def verify(env: SignedCommand, key: Ed25519PublicKey) -> Command:
    """The command inside ``env`` if ``key`` signed it; MessageError ``bad_signature`` otherwise."""
    raw = _b64(env.payload, "payload")
    sig = _b64(env.sig, "sig")
    try:
        key.verify(sig, DOMAIN + raw)
    except InvalidSignature as exc:
        raise MessageError("bad_signature", f"signature does not verify with key {env.key!r}") from exc
    check_shape(raw)
    try:
        return _inner_decoder.decode(raw)
    except msgspec.ValidationError as exc:
        raise MessageError("schema", str(exc)) from exc
    except msgspec.DecodeError as exc:
        raise MessageError("malformed", str(exc)) from exc


def new_command(
    *,
    device: str,
    point: str,
    value: float,
    port: int | None,
    operator: str,
    now: float,
    ttl: float,
) -> Command:
    """A fresh command (random id and nonce) valid from ``now`` for ``ttl`` seconds."""
    nonce = secrets.token_hex(16)
    return Command(
        id=f"cmd-{nonce[:16]}",
        device=device,
        point=point,
        value=value,
        port=port,
        operator=operator,
        nonce=nonce,
        issued=now,
        expires=now + ttl,
    )


def write_keypair(out_dir: Path, name: str) -> tuple[Path, Path]:
    """New Ed25519 key pair: ``{name}.key`` (PKCS#8 PEM, mode 0600) and ``{name}.pub`` in ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    private, public = out_dir / f"{name}.key", out_dir / f"{name}.pub"
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    fd = os.open(private, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(pem)
    public.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return private, public


def load_private_key(path: Path) -> Ed25519PrivateKey:
    """The Ed25519 private key in PEM file ``path``; ConfigError naming the file and the fix."""
    try:
        mode = path.stat().st_mode
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the signing key: {exc}. Fix: chargewatch keygen") from exc
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ConfigError(f"{path}: signing key is readable by others. Fix: chmod 600 {path}")
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"{path}: not an unencrypted PEM private key. Fix: chargewatch keygen") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise ConfigError(f"{path}: not an Ed25519 key. Fix: chargewatch keygen")
    return key


def load_public_key(path: Path) -> Ed25519PublicKey:
    """The Ed25519 public key in PEM file ``path``; ConfigError naming the file and the fix."""
    try:
        key = serialization.load_pem_public_key(path.read_bytes())
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the public key: {exc}") from exc
    except ValueError as exc:
        raise ConfigError(f"{path}: not a PEM public key. Fix: use the .pub of chargewatch keygen") from exc
    if not isinstance(key, Ed25519PublicKey):
        raise ConfigError(f"{path}: not an Ed25519 public key. Fix: use the .pub of chargewatch keygen")
    return key
