"""``chargewatch bench detector``: µs per port-sample of the full pipeline, state bytes per port.

Feeds synthetic 10-port telemetry (charging curves, noise, a summer ambient) for ``--piles``
piles over ``--steps`` polls through :class:`analytics.Pipeline` and prints the cost per
port-sample and the pickled checkpoint size per port. ``--json`` prints one JSON line last.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import time

from analytics.pipeline import Pipeline
from chargewatch.messages import Telemetry

_PORTS = 10


def _messages(piles: int, steps: int, seed: int) -> list[list[Telemetry]]:
    rng = random.Random(seed)
    t0 = 1_750_000_000.0
    base = [[rng.uniform(150, 800) for _ in range(_PORTS)] for _ in range(piles)]
    out = []
    for k in range(steps):
        t = t0 + 5.0 * k
        amb = 34.0 + 6.0 * math.sin(2 * math.pi * k / 17_280)
        batch = []
        for d in range(piles):
            power = [p if (k + 37 * i) % 4_000 < 3_000 else 2.0 for i, p in enumerate(base[d])]
            ports: dict[str, list[float | None]] = {
                "power": [p + rng.gauss(0, 2) for p in power],
                "current": [p / 220.0 for p in power],
                "voltage": [220.0 + rng.gauss(0, 1) for _ in power],
                "socket_temp": [round(amb + p / 100.0 + rng.gauss(0, 0.1), 1) for p in power],
                "state": [1.0 if p > 3.5 else 0.0 for p in power],
            }
            batch.append(
                Telemetry(
                    device=f"pile-{d}",
                    boot=1,
                    seq=k,
                    ts=t,
                    model="cw-pile-10",
                    ports=ports,
                    values={"ambient_temp": round(amb, 1), "smoke_alarm": 0.0},
                )
            )
        out.append(batch)
    return out


def main(argv: list[str]) -> int:
    """Run the benchmark; return the process exit code."""
    parser = argparse.ArgumentParser(prog="chargewatch bench detector", description=__doc__)
    parser.add_argument("--piles", type=int, default=50)
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", action="store_true", help="print a JSON line of the figures last")
    args = parser.parse_args(argv)
    msgs = _messages(args.piles, args.steps, args.seed)
    pipeline = Pipeline()
    alerts = 0
    start = time.perf_counter()
    for batch in msgs:
        alerts += len(pipeline.process_batch(batch))
        pipeline.tick(batch[0].ts)
    elapsed = time.perf_counter() - start
    samples = args.piles * args.steps * _PORTS
    figures = {
        "us_per_port_sample": round(elapsed / samples * 1e6, 3),
        "state_bytes_per_port": round(len(pipeline.checkpoint()) / (args.piles * _PORTS), 1),
        "port_samples": samples,
        "alert_changes": alerts,
    }
    print(f"pipeline: {figures['us_per_port_sample']} µs per port-sample over {samples} port-samples")
    print(f"state: {figures['state_bytes_per_port']} bytes per port (pickled checkpoint / ports)")
    if args.json:
        print(json.dumps(figures))
    return 0
