"""Training steps per second of the fluency judge's character LM on the CPU, fp32 against bf16 autocast, side by side.

    python benchmarks/char_lm_step.py [--threads 1] [--steps 20] [--batch 64] [--work runs/char_lm/work]

Steps (forward, backward, AdamW) of the ``train_char_lm`` cpu preset's shape on the same prose batches from the
trainer's corpus cache (made by a first ``python -m core.roformer_sim.train_char_lm`` run), the two precisions
alternating so that a busy machine slows both alike. Prints steps/s of each and the ratio.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import time
from pathlib import Path

import numpy as np
import torch

from core.roformer_sim.char_lm import CharLM, CharLMConfig
from core.roformer_sim.train_char_lm import JUDGE_LINES, PRESETS, batch_tensor, epoch_batches, lm_loss


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--batch", type=int, default=PRESETS["cpu"]["batch"])
    parser.add_argument("--work", type=Path, default=Path("runs/char_lm/work"))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    with np.load(args.work / f"corpus-v{PRESETS['cpu']['vocab_size']}-b64-j{JUDGE_LINES}-d5000.npz") as corpus:
        flat_ids, offsets, vocab_size = corpus["train_ids"], corpus["train_offsets"], len(corpus["vocab"])
    shape = {k: PRESETS["cpu"][k] for k in ("n_layer", "n_head", "n_embd")}
    batches = [batch_tensor(flat_ids, offsets, rows) for rows in epoch_batches(np.diff(offsets), args.batch, 0, 0)[: args.steps + 2]]
    contexts = {"fp32": contextlib.nullcontext, "bf16": lambda: torch.autocast("cpu", dtype=torch.bfloat16)}
    models = {name: CharLM(CharLMConfig(vocab_size, **shape)) for name in contexts}
    optimizers = {name: torch.optim.AdamW(m.parameters(), lr=1e-3) for name, m in models.items()}
    seconds = {name: 0.0 for name in contexts}
    for i, ids in enumerate(batches):
        for name, context in contexts.items():
            start = time.perf_counter()
            with context():
                loss = lm_loss(models[name], ids)
            optimizers[name].zero_grad()
            loss.backward()
            optimizers[name].step()
            if i >= 2:  # the first two steps of each warm up
                seconds[name] += time.perf_counter() - start
    rates = {name: round(args.steps / s, 3) for name, s in seconds.items()}
    tokens = sum(int((ids[:, 1:] != 0).sum()) for ids in batches[2:]) / args.steps
    print(f"fp32 {rates['fp32']} steps/s · bf16 autocast {rates['bf16']} steps/s · ratio {rates['bf16'] / rates['fp32']:.2f} "
          f"({tokens:.0f} tokens a step)")
    print(json.dumps({"steps_per_second": rates, "bf16_over_fp32": round(rates["bf16"] / rates["fp32"], 3),
                      "tokens_per_step": round(tokens), "threads": args.threads, "batch": args.batch}))


if __name__ == "__main__":
    main()
