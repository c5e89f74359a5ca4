"""Alert messages in Chinese, for the people who read them.

The analytics and the gateway write each alert's message once, in English: logs, the API, MQTT
and the stored history keep that one text. Operators read notifications, the daily report and
the control room in Chinese, so those show :func:`zh` of it. The patterns live in one file,
``gateway/api/static/messages_zh.json``, which the control room loads too (``messages.js``):
a message is split at ``"; "`` and each part matched against them; ``{n}`` in a template is the
n-th group, ``{n:dict}`` its name in that dictionary. A part no pattern knows is kept as written,
so a new message form is never hidden, only untranslated.
"""

from __future__ import annotations

import json
import re
from functools import cache
from importlib import resources
from typing import Final

_PLACEHOLDER: Final = re.compile(r"\{(\d+)(?::(\w+))?\}")


@cache
def _catalog() -> tuple[list[tuple[re.Pattern[str], str]], dict[str, dict[str, str]]]:
    text = resources.files("gateway.api").joinpath("static/messages_zh.json").read_text(encoding="utf-8")
    doc = json.loads(text)
    patterns = [(re.compile(pattern), template) for pattern, template in doc["patterns"]]
    return patterns, doc["dicts"]


def _part(text: str) -> str:
    patterns, dicts = _catalog()
    for pattern, template in patterns:
        match = pattern.fullmatch(text)
        if match is None:
            continue

        def fill(ph: re.Match[str], match: re.Match[str] = match) -> str:
            value = match.group(int(ph.group(1))) or ""
            names = dicts.get(ph.group(2) or "", {})
            return names.get(value, value)

        return _PLACEHOLDER.sub(fill, template)
    return text


def zh(message: str) -> str:
    """``message`` in Chinese, part by part (parts no pattern knows stay as written)."""
    return "；".join(_part(part) for part in message.split("; ")) if message else message
