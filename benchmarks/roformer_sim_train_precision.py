"""Training steps per second of the bundled RoFormer-Sim on the CPU, fp32 against bf16 autocast, side by side.

    python benchmarks/roformer_sim_train_precision.py [--threads 1] [--steps 8] [--pairs 32]

Stage-1 steps (UniLM rows of both directions + in-batch contrastive loss, forward and backward, AdamW) on the same
batches, the two precisions alternating so that a busy machine slows both alike. Prints steps/s of each and the ratio.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import random
import time

import torch

from core import checkpoints
from core.roformer_sim import data, train


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--pairs", type=int, default=32)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    sim = train.init_model(checkpoints.ASSETS_DIR / "roformer_sim", torch.device("cpu"))
    net = sim.model.train()
    optimizer = torch.optim.AdamW(net.parameters(), lr=1e-5)
    pairs = [(a, b) for a, b, y in data.read_pairs(data.STS_DIR / "LCQMC" / "LCQMC.valid.data") if y >= 1]
    rng = random.Random(0)
    batches = [train.unilm_rows(rng.sample(pairs, args.pairs), sim.tokenizer, rng, 40) for _ in range(args.steps)]
    seconds = {"fp32": 0.0, "bf16": 0.0}
    contexts = {"fp32": contextlib.nullcontext, "bf16": lambda: torch.autocast("cpu", dtype=torch.bfloat16)}
    for i, batch in enumerate(batches + batches[:2]):
        for name, context in contexts.items():
            start = time.perf_counter()
            with context():
                gen, similarity = train.step_losses(net, batch, None, None, 20.0)
            optimizer.zero_grad()
            (gen + similarity).backward()
            optimizer.step()
            if i >= 2:  # the first two steps of each warm up
                seconds[name] += time.perf_counter() - start
    rates = {name: round(args.steps / s, 3) for name, s in seconds.items()}
    print(f"fp32 {rates['fp32']} steps/s · bf16 autocast {rates['bf16']} steps/s · ratio {rates['bf16'] / rates['fp32']:.2f}")
    print(json.dumps({"steps_per_second": rates, "bf16_over_fp32": round(rates["bf16"] / rates["fp32"], 3),
                      "threads": args.threads, "pairs_per_step": args.pairs}))


if __name__ == "__main__":
    main()
