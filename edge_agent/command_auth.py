"""Which signed commands the agent believes: trusted keys, allow-lists, expiry and replay.

A command is executed only if all of these hold, checked in this order (the first that fails
is the refusal reason, see :class:`CommandRefusedError`):

``unsigned``            it came inside a :class:`~chargewatch.messages.SignedCommand`;
``no_trusted_keys``     the agent trusts at least one key (none configured: every command refused);
``unknown_key``         the envelope names a key in ``commands.trusted_keys``;
``bad_signature``       the Ed25519 signature verifies over the payload bytes;
``invalid``             the signed payload is a command with an operator and a nonce;
``not_yet_valid``       ``issued`` is not ahead of the agent's clock by more than the skew;
``expired``             ``expires`` has not passed;
``validity_too_long``   ``expires - issued`` is at most ``max_validity_s``;
``issued_before_start`` it was issued after this agent process started: the nonce cache lives in
                        memory, so a command captured before a restart can never be replayed;
``replayed``            its nonce was not seen before (nonces are kept until their command
                        expires, so the cache is bounded by the command rate × the validity);
``not_allowed``         the key may command this point and this device.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from chargewatch.clock import Clock
from chargewatch.errors import MessageError
from chargewatch.messages import Command, SignedCommand
from chargewatch.signing import unverified, verify

MAX_LIVE_NONCES = 10_000


class CommandRefusedError(Exception):
    """A command the agent will not execute; ``command`` is what it claimed (maybe unverified)."""

    def __init__(
        self, code: str, detail: str, command: Command | None = None, key: str = "", *, verified: bool = False
    ) -> None:
        super().__init__(f"{code}: {detail}")
        self.code = code
        self.detail = detail
        self.command = command
        self.key = key
        self.verified = verified


@dataclass(frozen=True)
class KeyPolicy:
    """One trusted key and what it may command (``"*"`` in ``devices``: every device)."""

    key_id: str
    public_key: Ed25519PublicKey
    points: frozenset[str]
    devices: frozenset[str]

    def allows(self, cmd: Command) -> bool:
        return cmd.point in self.points and ("*" in self.devices or cmd.device in self.devices)


class CommandAuth:
    """Decides whether a SignedCommand may run (see the module docstring); one per agent process."""

    def __init__(
        self,
        keys: Sequence[KeyPolicy],
        clock: Clock,
        *,
        max_validity: float = 300.0,
        max_skew: float = 30.0,
    ) -> None:
        self._keys: Mapping[str, KeyPolicy] = {k.key_id: k for k in keys}
        self._clock = clock
        self._max_validity = max_validity
        self._max_skew = max_skew
        self._started = clock.time()
        self._nonces: dict[str, float] = {}

    def check(self, env: Command | SignedCommand) -> tuple[Command, str]:
        """The verified command and its key id; :class:`CommandRefusedError` otherwise."""
        if isinstance(env, Command):
            raise CommandRefusedError("unsigned", "commands must be signed (chargewatch.signing)", env)
        if not self._keys:
            raise CommandRefusedError(
                "no_trusted_keys",
                "this agent trusts no command key: add one under commands.trusted_keys",
                unverified(env),
                env.key,
            )
        policy = self._keys.get(env.key)
        if policy is None:
            raise CommandRefusedError(
                "unknown_key", f"key {env.key!r} is not trusted here", unverified(env), env.key
            )
        try:
            cmd = verify(env, policy.public_key)
        except MessageError as exc:
            code = "bad_signature" if exc.reason == "bad_signature" else "invalid"
            raise CommandRefusedError(code, exc.detail, unverified(env), env.key) from exc
        problem = self._problem(cmd, policy)
        if problem is not None:
            raise CommandRefusedError(*problem, cmd, env.key, verified=True)
        return cmd, env.key

    def _problem(self, cmd: Command, policy: KeyPolicy) -> tuple[str, str] | None:
        """(code, detail) of the first check a verified command fails; spends its nonce if none."""
        now = self._clock.time()
        problem: tuple[str, str] | None = None
        if not cmd.operator or not cmd.nonce:
            problem = ("invalid", "a signed command needs an operator and a nonce")
        elif cmd.issued > now + self._max_skew:
            problem = ("not_yet_valid", f"issued {cmd.issued - now:.1f} s in the future")
        elif now > cmd.expires:
            problem = ("expired", f"expired {now - cmd.expires:.1f} s ago")
        elif cmd.expires - cmd.issued > self._max_validity:
            valid = cmd.expires - cmd.issued
            problem = (
                "validity_too_long",
                f"valid for {valid:.0f} s > max_validity_s {self._max_validity:.0f}",
            )
        elif cmd.issued < self._started:
            problem = (
                "issued_before_start",
                f"issued {self._started - cmd.issued:.1f} s before this agent started",
            )
        elif cmd.nonce in self._nonces:
            problem = ("replayed", f"nonce {cmd.nonce} was already used")
        elif not policy.allows(cmd):
            problem = (
                "not_allowed",
                f"key {policy.key_id!r} may not command {cmd.point!r} on {cmd.device!r}",
            )
        elif not self._remember(cmd.nonce, cmd.expires, now):
            problem = ("busy", f"{MAX_LIVE_NONCES} commands still valid; retry later")
        return problem

    def _remember(self, nonce: str, expires: float, now: float) -> bool:
        if len(self._nonces) >= MAX_LIVE_NONCES:
            self._nonces = {n: exp for n, exp in self._nonces.items() if exp >= now}
            if len(self._nonces) >= MAX_LIVE_NONCES:
                return False
        self._nonces[nonce] = expires
        return True
