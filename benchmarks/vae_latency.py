"""Time one importance-sampled log p(x) for one drawing (target: K = 1000 in ≤ 300 ms on 2 CPU cores).

    python benchmarks/vae_latency.py [--k 1000] [--threads 2] [--runs 20] [--checkpoint DIR]

Scores assets/vae/examples/seven.png (the full path the tab takes: preprocessing + K samples)
and prints the median and 90th-percentile wall milliseconds as one JSON line, with the median
CPU milliseconds of the process (wall time rises on a shared machine; CPU time much less).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core import checkpoints  # noqa: E402
from core.vae.model import N_PIXELS, estimate_log_likelihood, load  # noqa: E402
from core.vae.preprocess import to_mnist  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--k", type=int, default=1000)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--runs", type=int, default=20)
    p.add_argument("--checkpoint", default=None)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    model = load(checkpoints.locate("vae", args.checkpoint))
    drawing = np.asarray(Image.open(checkpoints.spec("vae").asset_dir / "examples" / "seven.png"))

    def one() -> tuple[float, float]:
        wall, cpu = time.perf_counter(), time.process_time()
        x = torch.as_tensor(to_mnist(drawing).reshape(1, N_PIXELS), dtype=torch.float32)
        estimate_log_likelihood(model, x, args.k)
        return (time.perf_counter() - wall) * 1000.0, (time.process_time() - cpu) * 1000.0

    one()  # warm-up: first call allocates
    runs = [one() for _ in range(args.runs)]
    walls = sorted(wall for wall, _ in runs)
    print(json.dumps({"k": args.k, "threads": args.threads, "runs": args.runs, "median_ms": round(statistics.median(walls), 1),
                      "p90_ms": round(walls[int(0.9 * (len(walls) - 1))], 1),
                      "median_cpu_ms": round(statistics.median(cpu for _, cpu in runs), 1), "target_ms": 300,
                      "load_average": round(os.getloadavg()[0], 2)}))


if __name__ == "__main__":
    main()
