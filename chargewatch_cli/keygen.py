"""``chargewatch keygen --out DIR [--name NAME]``: an Ed25519 key pair for signing operator commands.

Writes ``DIR/NAME.key`` (private, PKCS#8 PEM, mode 0600: the gateway's
``commands.signing_key_file``) and ``DIR/NAME.pub`` (copy it to each agent and list it under
``commands.trusted_keys``). Refuses to overwrite an existing key.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from chargewatch.messages import ID_PATTERN
from chargewatch.signing import write_keypair


def main(argv: list[str]) -> int:
    """Entry point dispatched from ``chargewatch.cli``."""
    p = argparse.ArgumentParser(prog="chargewatch keygen", description=__doc__.split("\n")[0])
    p.add_argument("--out", required=True, type=Path, help="directory for NAME.key and NAME.pub")
    p.add_argument("--name", default="gateway", help="key id, also the file stem (default: gateway)")
    args = p.parse_args(argv)
    if not re.match(ID_PATTERN, args.name):
        p.error(f"--name {args.name!r} must match {ID_PATTERN}")
    try:
        private, public = write_keypair(args.out, args.name)
    except FileExistsError as exc:
        print(f"chargewatch keygen: {exc.filename} exists; not overwriting a key", file=sys.stderr)
        return 2
    print(f"private key {private} (mode 0600, gateway commands.signing_key_file)")
    print(f"public key  {public} (agents: commands.trusted_keys[].public_key_file, id {args.name})")
    return 0
