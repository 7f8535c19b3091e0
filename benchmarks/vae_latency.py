"""Time one importance-sampled log p(x) for one drawing (target: K = 1000 in ≤ 300 ms on 2 CPU cores).

    python benchmarks/vae_latency.py [--k 1000] [--threads 2] [--runs 20] [--checkpoint DIR]

Scores assets/vae/examples/seven.png (the full path the tab takes: preprocessing + K samples)
and prints the median and 90th-percentile milliseconds as one JSON line.
"""

from __future__ import annotations

import argparse
import json
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

    def one() -> float:
        start = time.perf_counter()
        x = torch.as_tensor(to_mnist(drawing).reshape(1, N_PIXELS), dtype=torch.float32)
        estimate_log_likelihood(model, x, args.k)
        return (time.perf_counter() - start) * 1000.0

    one()  # warm-up: first call allocates
    times = sorted(one() for _ in range(args.runs))
    print(json.dumps({"k": args.k, "threads": args.threads, "runs": args.runs, "median_ms": round(statistics.median(times), 1),
                      "p90_ms": round(times[int(0.9 * (len(times) - 1))], 1), "target_ms": 300}))


if __name__ == "__main__":
    main()
