"""Who may use the gateway's HTTP API: the ``http.users`` list of the gateway config.

Each user has a ``name`` (what the audit trail records), a ``role`` (``viewer``: reads;
``operator``: reads, acknowledges alerts, sends commands) and one or both credentials: a bearer
token read from ``token_env``/``token_file`` (never written in the YAML) and a
``password_hash`` from ``chargewatch hash-password`` (HTTP Basic). Checked once at start-up
(:func:`check_access`): every error names the file, the key (``http.users[i]...``) and the fix.

The former single ``http.token_env``/``token_file`` is refused with the one-line migration: a
shared token cannot say who acknowledged an alert or stopped a port, which is what the audit
trail is for.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Literal

import msgspec

from chargewatch.errors import ConfigError
from gateway.passwords import PasswordHash, parse_hash

Role = Literal["viewer", "operator"]
ReadPolicy = Literal["auto", "login"]
NAME_PATTERN = r"^[A-Za-z0-9_.@-]{1,64}$"
#: shorter tokens are refused: a guessable token is no protection
MIN_TOKEN = 16


class UserConfig(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """One entry of ``http.users``."""

    name: Annotated[str, msgspec.Meta(pattern=NAME_PATTERN)]
    role: Role
    token_env: str = ""
    token_file: str = ""
    password_hash: str = ""


@dataclass(frozen=True, slots=True)
class ApiUser:
    """A user with its credentials resolved (token read, hash parsed)."""

    name: str
    role: Role
    token: str = ""
    password: PasswordHash | None = None


def is_loopback(bind: str) -> bool:
    """Whether ``bind`` (an address or ``localhost``) is reachable only from this machine."""
    if bind == "localhost":
        return True
    try:
        return ipaddress.ip_address(bind).is_loopback
    except ValueError:
        return False


def reads_need_login(bind: str, read: ReadPolicy) -> bool:
    """``read: login`` always; ``auto``: when the API listens beyond loopback."""
    return read == "login" or not is_loopback(bind)


def check_access(
    bind: str, read: ReadPolicy, users: Sequence[UserConfig], legacy_token: bool, where: str
) -> None:
    """The cross-field rules of ``http:``; ConfigError names the key and the fix."""
    if legacy_token:
        raise ConfigError(
            f"{where}: http.token_env/http.token_file (one shared token) were replaced by named users, "
            "so the audit trail says who acted. Fix: move it into http.users, e.g. "
            'users: [{name: ops, role: operator, token_env: CW_API_TOKEN}] (README "Users and roles")'
        )
    seen: set[str] = set()
    for i, u in enumerate(users):
        key = f"http.users[{i}]"
        if u.name in seen:
            raise ConfigError(f"{where}: {key}.name {u.name!r} appears twice. Fix: one entry per user")
        seen.add(u.name)
        if u.token_env and u.token_file:
            raise ConfigError(f"{where}: {key} ({u.name}): set only one of token_env and token_file")
        if not (u.token_env or u.token_file or u.password_hash):
            raise ConfigError(
                f"{where}: {key} ({u.name}) has no credential. Fix: set token_env or token_file, "
                "and/or password_hash (from `chargewatch hash-password`)"
            )
        if u.password_hash:
            try:
                parse_hash(u.password_hash)
            except ValueError as exc:
                raise ConfigError(
                    f"{where}: {key}.password_hash ({u.name}) is not a hash: {exc}. "
                    "Fix: paste the output of `chargewatch hash-password`"
                ) from exc
    if not is_loopback(bind) and not any(u.role == "operator" for u in users):
        raise ConfigError(
            f"{where}: http.bind {bind!r} exposes the API beyond this machine without an operator "
            "credential. Fix: add an operator to http.users (token_env/token_file or password_hash), "
            "or bind to 127.0.0.1"
        )
    if read == "login" and not users:
        raise ConfigError(
            f"{where}: http.read is login but http.users is empty, so nobody could read. "
            "Fix: add users, or set http.read: auto"
        )


def resolve(u: UserConfig, index: int, token: str) -> ApiUser:
    """``u`` with its ``token`` (read by the caller from token_env/token_file) checked and its hash parsed."""
    if (u.token_env or u.token_file) and len(token.strip()) < MIN_TOKEN:
        source = f"${u.token_env}" if u.token_env else f"file {u.token_file!r}"
        raise ConfigError(
            f"http.users[{index}] ({u.name}): the token from {source} is empty or shorter than "
            f"{MIN_TOKEN} characters. Fix: put a long random token there (e.g. `openssl rand -hex 32`)"
        )
    password = parse_hash(u.password_hash) if u.password_hash else None
    return ApiUser(u.name, u.role, token.strip(), password)


def check_tokens(users: Sequence[ApiUser]) -> None:
    """Two users sharing one token could not be told apart."""
    owner: dict[str, str] = {}
    for u in users:
        if u.token and u.token in owner:
            raise ConfigError(
                f"http.users: {owner[u.token]} and {u.name} have the same token. Fix: one token per user"
            )
        if u.token:
            owner[u.token] = u.name
