"""Reading a YAML (or JSON) config file into a typed msgspec Struct, once, with errors that
name the file, the offending key and the fix. Every component's loader goes through here."""

from __future__ import annotations

from pathlib import Path
from typing import TypeVar

import msgspec

from chargewatch.errors import ConfigError

T = TypeVar("T")


def decode_file(path: Path | str, kind: type[T], what: str, example: str) -> T:
    """Decode ``path`` (``.json`` as JSON, anything else as YAML) into ``kind``.

    ``what`` names the file's role in messages ("agent config"); ``example`` is where a valid
    one can be seen. Unknown keys and wrong types are rejected by the Struct definitions.
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
        raise ConfigError(f"{path}: {exc}. Fix: correct or remove that key (see {example})") from exc
    except msgspec.DecodeError as exc:
        raise ConfigError(
            f"{path}: not valid {'JSON' if path.suffix.lower() == '.json' else 'YAML'}: {exc}. "
            "Fix: check indentation and quoting"
        ) from exc
