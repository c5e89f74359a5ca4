"""``chargewatch hash-password [--name NAME] [--role ROLE] [--stdin]``: a salted scrypt hash for an API user.

Asks for the password twice on the terminal (``--stdin``: reads one line from standard input,
for scripts) and prints the hash for ``http.users[].password_hash`` of the gateway config; with
``--name`` it prints the whole YAML entry. The password itself is never printed or stored.
"""

from __future__ import annotations

import argparse
import getpass
import re
import sys

from gateway.passwords import hash_password

_NAME = r"^[A-Za-z0-9_.@-]{1,64}$"


def _read(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass("password: ")
    if getpass.getpass("again: ") != first:
        raise ValueError("the two passwords differ")
    return first


def main(argv: list[str]) -> int:
    """Entry point dispatched from ``chargewatch_cli``; 0 ok, 2 bad input."""
    p = argparse.ArgumentParser(prog="chargewatch hash-password", description=__doc__.split("\n")[0])
    p.add_argument("--name", help="user name: print a whole http.users entry")
    p.add_argument(
        "--role", choices=["viewer", "operator"], default="viewer", help="with --name (default viewer)"
    )
    p.add_argument("--stdin", action="store_true", help="read the password from standard input")
    args = p.parse_args(argv)
    if args.name is not None and not re.match(_NAME, args.name):
        p.error(f"--name {args.name!r} must match {_NAME}")
    try:
        hashed = hash_password(_read(args.stdin))
    except ValueError as exc:
        print(f"chargewatch hash-password: {exc}", file=sys.stderr)
        return 2
    if args.name is None:
        print(hashed)
    else:
        print(f'  - {{name: {args.name}, role: {args.role}, password_hash: "{hashed}"}}')
    return 0
