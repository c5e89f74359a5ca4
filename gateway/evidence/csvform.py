"""The CSV form of an evidence document, for a fire investigator's spreadsheet.

UTF-8 with a byte-order mark (so Excel on Chinese Windows opens it as UTF-8), one row per sample
(long format), headers Chinese with the English key in parentheses (``lang="en"``: English keys
only), times in the site's local time beside the epoch seconds. The first line is a ``#``
comment naming the alert, whether it is sealed and its SHA-256 (of the JSON document, which the
checksum covers; the CSV is a view of it). Events are in the JSON only.
"""

from __future__ import annotations

import csv
import io
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

#: (key, Chinese header) of each CSV column, in order
COLUMNS: tuple[tuple[str, str], ...] = (
    ("time", "时间"),
    ("ts", "时间戳(秒)"),
    ("series", "测点"),
    ("scope", "范围"),
    ("port", "端口"),
    ("unit", "单位"),
    ("value", "数值"),
)
SCOPES_ZH = {"port": "端口", "pile": "整桩"}


def to_csv(doc: dict[str, Any], tz: ZoneInfo, lang: str = "zh") -> bytes:
    """The CSV export of one evidence document (UTF-8 with BOM)."""
    out = io.StringIO()
    zh = lang != "en"
    out.write(
        f"# alert={doc['alert_id']} device={doc['device']} kind={doc['kind']} "
        f"sealed={str(doc['sealed']).lower()} sha256={doc['sha256'] or ''}\r\n"
    )
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([f"{name} ({key})" if zh else key for key, name in COLUMNS])
    for s in doc["series"]:
        scope = f"{SCOPES_ZH[s['scope']]} ({s['scope']})" if zh else s["scope"]
        port = "" if s["port"] is None else s["port"]
        for ts, value in s["points"]:
            local = datetime.fromtimestamp(ts, tz).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
            shown = "" if value is None else value
            writer.writerow([local, repr(ts), s["name"], scope, port, s["unit"], shown])
    return ("\ufeff" + out.getvalue()).encode("utf-8")
