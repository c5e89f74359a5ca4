"""``chargewatch evidence``: list, export and verify sealed alert evidence from the gateway's state.

Reads the evidence file the gateway config names (``evidence.path``, default evidence.sqlite
beside ``spool.state_path``), read-only, so it runs beside a live gateway.

* ``--list``: the sealed alerts, newest first (id, kind, alert time, sha256).
* ``--alert ID --out DIR``: writes ``evidence-ID.json`` (the exact canonical bytes the checksum
  covers), ``evidence-ID.json.sha256`` (``sha256sum -c`` checks it without ChargeWatch) and
  ``evidence-ID.csv`` (UTF-8 with BOM, Chinese and English headers, as the API's CSV).
* ``--verify``: re-computes the checksum of every sealed row (or of ``--alert``'s) and, with
  ``--out``, of the file exported there before (nothing is written); exit 1 on any mismatch.
"""

from __future__ import annotations

import argparse
import hashlib
import sqlite3
import sys
from pathlib import Path
from zoneinfo import ZoneInfo

from chargewatch.errors import ChargeWatchError, ConfigError
from chargewatch.statefile import SchemaVersionError
from gateway.config import load_config
from gateway.evidence.csvform import to_csv
from gateway.evidence.store import EvidenceError, EvidenceStore

PROG = "chargewatch evidence"


class ExportError(ChargeWatchError):
    """Nothing to export or verify; the message names the file and the fix."""


def _name(alert_id: str) -> str:
    return "evidence-" + "".join(c if c.isalnum() or c in "._-" else "_" for c in alert_id)


def export(store: EvidenceStore, alert_id: str, out: Path, tz: ZoneInfo) -> list[Path]:
    """Write the JSON, its .sha256 and the CSV of one sealed alert into ``out``; the files."""
    sealed = store.get(alert_id)
    if sealed is None:
        raise ExportError(
            f"{store.path}: no sealed evidence for alert {alert_id!r}. Fix: check the id "
            f"(`{PROG} --config ... --list`); a window still open is sealed by the running gateway"
        )
    out.mkdir(parents=True, exist_ok=True)
    base = out / _name(alert_id)
    json_path = base.with_name(base.name + ".json")
    json_path.write_bytes(sealed.body)
    sums = json_path.with_name(json_path.name + ".sha256")
    sums.write_text(f"{sealed.sha256}  {json_path.name}\n")
    csv_path = base.with_name(base.name + ".csv")
    csv_path.write_bytes(to_csv(sealed.document(), tz))
    return [json_path, sums, csv_path]


def verify(store: EvidenceStore, alert_id: str | None, out: Path | None) -> list[str]:
    """Lines describing every check; raises ExportError naming what does not match."""
    lines: list[str] = []
    if alert_id is None:
        checked, bad = store.verify()
        if bad:
            raise ExportError(
                f"{store.path}: {len(bad)} of {checked} sealed rows fail their checksum: {bad[:10]}"
            )
        return [f"{store.path}: {checked} sealed rows, all checksums match"]
    sealed = store.get(alert_id)
    if sealed is None:
        raise ExportError(f"{store.path}: no sealed evidence for alert {alert_id!r}")
    if not sealed.intact:
        raise ExportError(f"{store.path}: alert {alert_id!r}: stored bytes do not match their sha256")
    lines.append(f"{alert_id}: stored evidence matches sha256 {sealed.sha256}")
    if out is not None:
        path = out / (_name(alert_id) + ".json")
        try:
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
        except OSError as exc:
            raise ExportError(f"{path}: cannot read the export: {exc}. Fix: export it first") from exc
        if digest != sealed.sha256:
            raise ExportError(f"{path}: sha256 {digest} differs from the sealed {sealed.sha256}: altered")
        lines.append(f"{path}: matches")
    return lines


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=PROG, description=__doc__.splitlines()[0])
    p.add_argument("--config", required=True, help="the gateway's YAML")
    p.add_argument("--alert", help="alert id, e.g. p1.3.socket_overtemp.1")
    p.add_argument("--out", type=Path, help="folder to export into (with --alert)")
    p.add_argument("--verify", action="store_true", help="re-compute checksums (all rows, or --alert's)")
    p.add_argument("--list", action="store_true", help="list the sealed alerts, newest first")
    return p


def _open(config: str) -> tuple[EvidenceStore, ZoneInfo]:
    cfg = load_config(config)
    path = cfg.evidence.file(cfg.spool.state_path)
    if not path.exists():
        raise ExportError(f"{path}: no evidence file yet. Fix: check --config; the gateway creates it")
    return EvidenceStore(path, readonly=True), ZoneInfo(cfg.tariff.timezone)


def _run(args: argparse.Namespace) -> None:
    store, tz = _open(args.config)
    try:
        if args.list:
            for alert_id, kind, alert_ts, digest in store.listing():
                print(f"{alert_id}\t{kind}\t{alert_ts:.3f}\t{digest}")
        if args.verify:
            print("\n".join(verify(store, args.alert, args.out)))
        elif args.alert and args.out:
            for written in export(store, args.alert, args.out, tz):
                print(written)
    finally:
        store.close()


def main(argv: list[str]) -> int:
    """0 ok, 2 bad config or arguments, 1 nothing to export or a checksum mismatch."""
    parser = _parser()
    args = parser.parse_args(argv)
    if not (args.list or args.verify or (args.alert and args.out)):
        parser.error("give --list, --verify, or --alert ID --out DIR")
    try:
        _run(args)
    except ConfigError as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return 2
    except (ExportError, EvidenceError, SchemaVersionError, sqlite3.Error, OSError) as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return 1
    return 0
