"""API user passwords: salted scrypt hashes (stdlib ``hashlib.scrypt``), never the password itself.

A hash reads ``scrypt$<log2 N>$<r>$<p>$<salt>$<key>`` (salt and key in unpadded URL-safe
base64), the form ``chargewatch hash-password`` prints and ``http.users[].password_hash`` holds.
The cost parameters travel with the hash, so raising :data:`DEFAULT_COST` later leaves old
hashes verifiable. Verification compares in constant time.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
from typing import NamedTuple

PREFIX = "scrypt"
_SALT_BYTES = 16
_KEY_BYTES = 32
_MIN_PASSWORD = 8


class Cost(NamedTuple):
    """scrypt's work factors: N = 2**log_n, block size r, parallelism p."""

    log_n: int
    r: int
    p: int

    @property
    def maxmem(self) -> int:
        """Memory scrypt needs (128·N·r bytes) with headroom; hashlib's default cap is 32 MiB."""
        return 256 * (1 << self.log_n) * self.r + (1 << 20)


#: 2**15 × 8 × 128 B = 32 MiB and ~0.15 s per hash on one core of the test box; a successful
#: check is cached by the API (gateway.api.auth), so the cost is paid once per credential
DEFAULT_COST = Cost(15, 8, 1)


class PasswordHash(NamedTuple):
    """A parsed hash string."""

    cost: Cost
    salt: bytes
    key: bytes


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _derive(password: str, salt: bytes, cost: Cost) -> bytes:
    return hashlib.scrypt(
        password.encode(),
        salt=salt,
        n=1 << cost.log_n,
        r=cost.r,
        p=cost.p,
        maxmem=cost.maxmem,
        dklen=_KEY_BYTES,
    )


def hash_password(password: str, cost: Cost = DEFAULT_COST) -> str:
    """A new salted hash of ``password``; ValueError if it is shorter than 8 characters."""
    if len(password) < _MIN_PASSWORD:
        raise ValueError(f"a password needs at least {_MIN_PASSWORD} characters")
    salt = os.urandom(_SALT_BYTES)
    return "$".join(
        [PREFIX, str(cost.log_n), str(cost.r), str(cost.p), _b64(salt), _b64(_derive(password, salt, cost))]
    )


def parse_hash(text: str) -> PasswordHash:
    """The parts of a hash string; ValueError saying what is wrong (never echoing the hash)."""
    parts = text.split("$")
    if len(parts) != 6 or parts[0] != PREFIX:
        raise ValueError(f"expected {PREFIX}$<log2 N>$<r>$<p>$<salt>$<key> from `chargewatch hash-password`")
    try:
        log_n, r, p = (int(x) for x in parts[1:4])
        salt, key = _unb64(parts[4]), _unb64(parts[5])
    except (ValueError, binascii.Error) as exc:
        raise ValueError(f"the cost fields must be integers and salt/key base64 ({exc})") from exc
    if not (14 <= log_n <= 20 and 1 <= r <= 32 and 1 <= p <= 16):
        raise ValueError(f"cost log2 N={log_n} r={r} p={p} is outside 14..20, 1..32, 1..16")
    if len(salt) < _SALT_BYTES or len(key) != _KEY_BYTES:
        raise ValueError(f"salt must be at least {_SALT_BYTES} bytes and key {_KEY_BYTES} bytes")
    return PasswordHash(Cost(log_n, r, p), salt, key)


def verify_password(password: str, stored: PasswordHash) -> bool:
    """Whether ``password`` produces ``stored`` (constant-time comparison)."""
    return hmac.compare_digest(_derive(password, stored.salt, stored.cost), stored.key)


#: verified against when a Basic login names no user, so an unknown name costs the same time
DECOY = PasswordHash(DEFAULT_COST, b"\0" * _SALT_BYTES, b"\0" * _KEY_BYTES)
