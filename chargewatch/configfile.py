"""Reading a YAML (or JSON) config file into a typed msgspec Struct, once, with errors that
name the file, the offending key and the fix. Every component's loader goes through here."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import TypeVar

import msgspec

from chargewatch.errors import ConfigError

T = TypeVar("T")

_UNKNOWN = re.compile(r"unknown field `([^`]+)`(?: - at `\$\.?([^`]*)`)?")


def old_key_message(exc: msgspec.ValidationError, old_keys: Mapping[str, str]) -> str | None:
    """The message for an unknown key that is one of ``old_keys`` (dotted path -> message)."""
    m = _UNKNOWN.search(str(exc))
    if m is None:
        return None
    return old_keys.get(".".join(part for part in (m.group(2), m.group(1)) if part))


def decode_file(
    path: Path | str, kind: type[T], what: str, example: str, old_keys: Mapping[str, str] | None = None
) -> T:
    """Decode ``path`` (``.json`` as JSON, anything else as YAML) into ``kind``.

    ``what`` names the file's role in messages ("agent config"); ``example`` is where a valid
    one can be seen. Unknown keys and wrong types are rejected by the Struct definitions; a key
    in ``old_keys`` (dotted path -> message, e.g. :func:`chargewatch.mqtt_config.old_keys`) is
    reported with that message, which names the key that replaced it.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read {what}: {exc}. Fix: check the path") from exc
    try:
        if path.suffix.lower() == ".json":
            return msgspec.json.decode(data, type=kind)
        return msgspec.yaml.decode(data, type=kind)
    except msgspec.ValidationError as exc:
        old = old_key_message(exc, old_keys or {})
        if old is not None:
            raise ConfigError(f"{path}: {old} (see {example})") from exc
        raise ConfigError(f"{path}: {exc}. Fix: correct or remove that key (see {example})") from exc
    except msgspec.DecodeError as exc:
        raise ConfigError(
            f"{path}: not valid {'JSON' if path.suffix.lower() == '.json' else 'YAML'}: {exc}. "
            "Fix: check indentation and quoting"
        ) from exc
