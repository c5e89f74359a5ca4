"""``chargewatch bench nab``: the generic detector on NAB's labelled real-world streams.

Runs a detector factory (default :func:`analytics.detectors.nab.make`, one fresh detector per
data file, score before learning) over the NAB development split in ``--nab-root`` (data,
labels and the scorer ``nab_eval.py``; default: the first ``shared/benchmarks/nab-dev`` found
beside the current directory or one of its parents) and prints the normalised NAB score of each
profile (a detector that never fires scores 0, a perfect one 100) and the detector's CPU µs per
sample. ``--json`` prints ``{"profiles": {name: score}, "us_per_sample": …, …}`` last.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, Protocol

from chargewatch.errors import ConfigError

PROFILES = ("standard", "reward_low_FP_rate", "reward_low_FN_rate")
DEFAULT_DETECTOR = "analytics.detectors.nab:make"
_RELATIVE_ROOT = Path("shared/benchmarks/nab-dev")


class Scorer(Protocol):
    """What NAB's scorer needs from a detector."""

    def score(self, timestamp_s: float, value: float) -> float:
        """Anomaly score in [0, 1] of one sample, then learn it."""
        ...


@dataclass(frozen=True)
class NabResult:
    """Normalised score per profile and the detector's cost over one corpus run."""

    scores: dict[str, float]
    thresholds: dict[str, float]
    files: int
    rows: int
    windows: int
    us_per_sample: float


def find_root(start: Path | None = None) -> Path:
    """The first ``shared/benchmarks/nab-dev`` in ``start`` (default: cwd) or a parent."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / _RELATIVE_ROOT / "nab_eval.py").is_file():
            return folder / _RELATIVE_ROOT
    raise ConfigError(
        f"no {_RELATIVE_ROOT} with nab_eval.py in {here} or its parents; "
        "pass --nab-root pointing at the NAB development folder (data/, labels/, nab_eval.py)"
    )


def load_scorer(root: Path) -> ModuleType:
    """Import ``nab_eval.py`` from ``root`` (it is a script, not an installed package)."""
    path = root / "nab_eval.py"
    if not path.is_file() or not (root / "labels" / "combined_windows.json").is_file():
        raise ConfigError(
            f"--nab-root {root}: expected nab_eval.py and labels/combined_windows.json there; "
            "point it at the NAB development folder"
        )
    spec = importlib.util.spec_from_file_location("chargewatch_nab_eval", path)
    if spec is None or spec.loader is None:
        raise ConfigError(f"--nab-root {root}: cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def load_factory(spec: str) -> Callable[[], Scorer]:
    """``module:function`` → the factory it names."""
    module_name, _, attr = spec.partition(":")
    if not module_name or not attr:
        raise ConfigError(f"--detector {spec!r}: expected 'module:function', e.g. {DEFAULT_DETECTOR}")
    factory: Callable[[], Scorer] = getattr(importlib.import_module(module_name), attr)
    return factory


def run_nab(
    root: Path,
    factory: Callable[[], Scorer],
    *,
    files: Sequence[str] | None = None,
    profiles: Sequence[str] = PROFILES,
) -> NabResult:
    """Score ``factory``'s detectors on the corpus in ``root`` (``files``: name substrings)."""
    nab = load_scorer(root)
    series: list[Any] = nab.load_corpus(str(root), include=list(files) if files else None)
    scores: dict[str, Any] = {}
    cpu = 0.0
    rows = 0
    for ser in series:
        score = factory().score
        ts: list[float] = ser.ts.tolist()
        values: list[float] = ser.values.tolist()
        start = time.process_time()
        out = [score(t, v) for t, v in zip(ts, values, strict=True)]
        cpu += time.process_time() - start
        rows += len(out)
        scores[ser.name] = out
    results = {p: nab.score_corpus(series, scores, p) for p in profiles}
    return NabResult(
        scores={p: float(r.normalized) for p, r in results.items()},
        thresholds={p: float(r.threshold) for p, r in results.items()},
        files=len(series),
        rows=rows,
        windows=int(next(iter(results.values())).n_windows),
        us_per_sample=1e6 * cpu / max(rows, 1),
    )


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="chargewatch bench nab", description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--nab-root", type=Path, default=None, help="NAB development folder (data/, labels/, nab_eval.py)"
    )
    p.add_argument("--profile", choices=PROFILES, default=None, help="one profile (default: all three)")
    p.add_argument(
        "--files", nargs="*", default=None, help="only data files whose name contains one of these"
    )
    p.add_argument(
        "--detector", default=DEFAULT_DETECTOR, help=f"factory 'module:function' ({DEFAULT_DETECTOR})"
    )
    p.add_argument("--json", action="store_true", help="print the figures as one JSON line last")
    return p


def main(argv: list[str]) -> int:
    """Entry point of ``chargewatch bench nab``; 2 when the NAB folder or detector is unusable."""
    args = _parser().parse_args(argv)
    try:
        root = args.nab_root if args.nab_root is not None else find_root()
        result = run_nab(
            root,
            load_factory(args.detector),
            files=args.files,
            profiles=[args.profile] if args.profile else PROFILES,
        )
    except ConfigError as exc:
        print(f"chargewatch bench nab: {exc}", file=sys.stderr)
        return 2
    print(f"NAB dev split {root}: {result.files} files, {result.rows} rows, {result.windows} windows")
    print(f"detector {args.detector}: {result.us_per_sample:.2f} µs/sample (CPU)")
    for name, value in result.scores.items():
        print(f"  {name:<20} NAB {value:6.2f}  (threshold {result.thresholds[name]:.4f})")
    if args.json:
        payload = {
            "detector": args.detector,
            "nab_root": str(root),
            "files": result.files,
            "rows": result.rows,
            "windows": result.windows,
            "us_per_sample": round(result.us_per_sample, 3),
            "profiles": {k: round(v, 2) for k, v in result.scores.items()},
        }
        print(json.dumps(payload))
    return 0
