"""The gateway's state files: their schema versions, and backup / restore of all of them.

State = the spool (accepted data the store has not confirmed yet), the ingest state (dedupe
marks, dead letters, the alert book) and the analytics checkpoint (learning). The store's time
series are not state: back them up with the store's own tools.

``chargewatch gateway backup --config FILE --out BACKUP.tar`` copies each SQLite file with
SQLite's online backup API, so the copy is consistent while the gateway runs and writes; the
checkpoint is replaced atomically by the gateway, so a plain copy is consistent too. The archive
holds ``spool.sqlite``, ``state.sqlite``, ``evidence.sqlite`` and ``analytics.ckpt`` (when there are ones) and
``manifest.json`` (schema versions, site, time).

``chargewatch gateway restore --config FILE --from BACKUP.tar`` writes them to the paths the
config names, with the gateway stopped. It refuses to overwrite existing state unless
``--force`` (then stale ``-wal``/``-shm`` files go too) and refuses files from a newer
ChargeWatch. Started again, the gateway recognises re-sent messages by the restored dedupe marks
and lists the restored alerts.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import sys
import tarfile
import tempfile
import time
from pathlib import Path

from chargewatch.errors import ChargeWatchError, ConfigError
from chargewatch.statefile import SchemaVersionError, file_version
from gateway import spool
from gateway.config import GatewayConfig, load_config
from gateway.evidence import store as evidence
from gateway.ingest import state

PROG = "chargewatch gateway"
_SQLITE = {
    "spool.sqlite": "gateway spool",
    "state.sqlite": "gateway ingest state",
    "evidence.sqlite": "gateway evidence",
}
_KNOWN = {
    "spool.sqlite": len(spool.MIGRATIONS),
    "state.sqlite": len(state.MIGRATIONS),
    "evidence.sqlite": len(evidence.MIGRATIONS),
}
_OPTIONAL = frozenset({"evidence.sqlite"})  # absent before a gateway with evidence first ran
_CHECKPOINT = "analytics.ckpt"


class BackupError(ChargeWatchError):
    """A backup or restore cannot be done; the message names the file and the fix."""


def _targets(cfg: GatewayConfig) -> dict[str, Path]:
    return {
        "spool.sqlite": Path(cfg.spool.path),
        "state.sqlite": Path(cfg.spool.state_path),
        "evidence.sqlite": cfg.evidence.file(cfg.spool.state_path),
        _CHECKPOINT: Path(cfg.spool.analytics_path),
    }


def check_versions(cfg: GatewayConfig) -> str:
    """The existing state files are of a schema this version reads (absent files are fine)."""
    targets = _targets(cfg)
    found = {n: file_version(targets[n], what, _KNOWN[n]) for n, what in _SQLITE.items()}
    return "state files: " + ", ".join(f"{n} v{v}" for n, v in found.items())


def _copy_sqlite(src: Path, dst: Path) -> int:
    """Online backup of ``src`` into ``dst`` (consistent while another process writes); its version."""
    source = sqlite3.connect(f"file:{src}?mode=ro", uri=True)
    try:
        target = sqlite3.connect(dst)
        try:
            source.backup(target)
            return int(target.execute("PRAGMA user_version").fetchone()[0])
        finally:
            target.close()
    finally:
        source.close()


def backup(cfg: GatewayConfig, out: Path) -> list[str]:
    """Write a backup archive of the gateway's state to ``out``; the names of the files in it."""
    targets = _targets(cfg)
    manifest: dict[str, object] = {"site": cfg.site, "created": time.time(), "files": {}}
    files: dict[str, object] = {}
    with tempfile.TemporaryDirectory(prefix="cw-backup-") as tmp:
        staged = Path(tmp)
        for name, what in _SQLITE.items():
            if name in _OPTIONAL and not targets[name].exists():
                continue
            if not targets[name].exists():
                raise BackupError(
                    f"{targets[name]}: no {what} to back up. Fix: check --config (is this "
                    "the gateway's config?) or start the gateway once"
                )
            files[name] = {"schema_version": _copy_sqlite(targets[name], staged / name)}
        if targets[_CHECKPOINT].exists():
            (staged / _CHECKPOINT).write_bytes(targets[_CHECKPOINT].read_bytes())
            files[_CHECKPOINT] = {"bytes": (staged / _CHECKPOINT).stat().st_size}
        manifest["files"] = files
        (staged / "manifest.json").write_text(json.dumps(manifest, indent=2))
        partial = out.with_name(out.name + ".partial")
        with tarfile.open(partial, "w") as tar:
            for path in sorted(staged.iterdir()):
                tar.add(path, arcname=path.name)
        partial.replace(out)
    return sorted(files)


def restore(cfg: GatewayConfig, archive: Path, force: bool = False) -> list[Path]:
    """Write the archive's state files to the config's paths (gateway stopped); the files written."""
    targets = _targets(cfg)
    existing = [p for p in targets.values() if p.exists()]
    if existing and not force:
        raise BackupError(
            f"{existing[0]} already exists. Fix: restore into an empty state folder, or stop the "
            "gateway and pass --force to replace its state"
        )
    with tempfile.TemporaryDirectory(prefix="cw-restore-") as tmp, tarfile.open(archive) as tar:
        staged = Path(tmp)
        tar.extractall(staged, filter="data")
        if not (staged / "manifest.json").exists():
            raise BackupError(f"{archive}: no manifest.json: not a ChargeWatch gateway backup")
        for name, what in _SQLITE.items():
            if name in _OPTIONAL and not (staged / name).exists():
                continue
            if not (staged / name).exists():
                raise BackupError(f"{archive}: {name} missing: the backup is incomplete")
            file_version(staged / name, f"{what} in {archive}", _KNOWN[name])
        written: list[Path] = []
        for name, target in targets.items():
            if not (staged / name).exists():
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            for stale in (target.with_name(target.name + "-wal"), target.with_name(target.name + "-shm")):
                stale.unlink(missing_ok=True)
            tmp_target = target.with_name(target.name + ".restoring")
            tmp_target.write_bytes((staged / name).read_bytes())
            tmp_target.replace(target)
            written.append(target)
    return written


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=PROG, description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)
    b = sub.add_parser("backup", help="copy the state of a (running) gateway into one archive")
    b.add_argument("--config", required=True, help="the gateway's YAML")
    b.add_argument("--out", required=True, type=Path, help="archive to write, e.g. gateway-state.tar")
    r = sub.add_parser("restore", help="write an archive's state to the config's paths (gateway stopped)")
    r.add_argument("--config", required=True, help="the gateway's YAML")
    r.add_argument("--from", dest="archive", required=True, type=Path, help="archive made by backup")
    r.add_argument("--force", action="store_true", help="replace existing state files")
    return p


def main(argv: list[str]) -> int:
    """``chargewatch gateway backup|restore``; 0 ok, 2 bad config, 1 failed (one line on stderr)."""
    args = _parser().parse_args(argv)
    try:
        cfg = load_config(args.config)
        if args.command == "backup":
            print(f"{args.out}: backed up {', '.join(backup(cfg, args.out))}")
        else:
            written = restore(cfg, args.archive, force=args.force)
            print(f"{args.archive}: restored {', '.join(map(str, written))}")
    except ConfigError as exc:
        print(f"{PROG} {args.command}: {exc}", file=sys.stderr)
        return 2
    except (BackupError, SchemaVersionError, sqlite3.Error, tarfile.TarError, OSError) as exc:
        print(f"{PROG} {args.command}: {exc}", file=sys.stderr)
        return 1
    return 0
