"""Paraphrase sampling speed: our batched, cached sampler vs the reference recipe.

    python benchmarks/roformer_sim_speed.py [--threads 1] [--base-max-new 32] [--repeats 3]

Reference recipe (the PyTorch ports' usage, JunnYu/RoFormer_pytorch #42/#47): one sampled candidate
per call, the whole sequence recomputed with the UniLM mask at every step. Ours: the n candidates in
one batch, the source encoded once, one token per step through a KV cache, finished rows dropped.
Both run the same model, the same top-p sampler and the same step limit, on this machine.

Models: the bundled checkpoint (real stopping at [SEP]) and a base-size config (12 layers, hidden
768, 12 heads, vocab 12000 like chinese_roformer-char base) with random weights, which never stops
early, so every candidate runs exactly ``--base-max-new`` steps. For that model the reference is
timed on ``--reference-calls`` calls and scaled to n (the calls are identical in cost); the output
says so. Each timing is summed over ``--repeats`` sampling seeds, because the batch lasts as long as its
longest candidate and one seed's lengths can favour either side. Last stdout line: JSON with all
timings and ratios.
"""

from __future__ import annotations

import argparse
import json
import time

import torch
from transformers import BertTokenizer

from core import checkpoints
from core.roformer_sim import generate
from core.roformer_sim.model import RoFormerSim, Sim, load, sim_config

TEXT = "广州和深圳哪个好？"


def base_size_model(vocab_file: str) -> Sim:
    config = sim_config(
        dict(vocab_size=12000, hidden_size=768, num_hidden_layers=12, num_attention_heads=12, intermediate_size=3072,
             max_position_embeddings=512, type_vocab_size=2)
    )
    torch.manual_seed(0)
    return Sim(RoFormerSim(config).eval(), BertTokenizer(vocab=vocab_file, do_lower_case=True))


def time_ours(sim: Sim, n: int, max_new: int, seed: int) -> float:
    generator = torch.Generator().manual_seed(seed)
    start = time.perf_counter()
    generate.decode(sim, generate.source_ids(sim, TEXT), n, generate.sample_top_p(0.95, generator), max_new)
    return time.perf_counter() - start


def time_reference(sim: Sim, calls: int, max_new: int, seed: int) -> float:
    generator = torch.Generator().manual_seed(seed)
    ids = generate.source_ids(sim, TEXT)
    start = time.perf_counter()
    for _ in range(calls):
        generate.decode(sim, ids, 1, generate.sample_top_p(0.95, generator), max_new, steps=generate.RecomputedSteps)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoint", default=None, help="checkpoint directory (default: the bundled model)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (the dev machine is shared)")
    parser.add_argument("--ns", default="20,100")
    parser.add_argument("--max-new", type=int, default=64, help="step limit for the bundled model (as in Su's script)")
    parser.add_argument("--base-max-new", type=int, default=32, help="steps per candidate for the random base model")
    parser.add_argument("--reference-calls", type=int, default=3, help="reference calls timed for the base model")
    parser.add_argument("--repeats", type=int, default=3, help="sampling seeds each timing is summed over")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    ns = [int(x) for x in args.ns.split(",")]
    bundled_dir = checkpoints.locate("roformer_sim", args.checkpoint)
    bundled = load(bundled_dir)
    models = [("bundled", bundled, args.max_new, None), ("base-random", base_size_model(str(bundled_dir / "vocab.txt")), args.base_max_new, args.reference_calls)]
    results = []
    with torch.inference_mode():
        for name, sim, max_new, ref_calls in models:
            params = sum(p.numel() for p in sim.model.parameters()) / 1e6
            time_ours(sim, 2, 2, 0)  # warm-up (allocator, first-call overheads)
            for n in ns:
                seeds = range(1, args.repeats + 1)
                ours = sum(time_ours(sim, n, max_new, seed) for seed in seeds)
                calls = n if ref_calls is None else min(ref_calls, n)
                reference = sum(time_reference(sim, calls, max_new, seed) for seed in seeds) * n / calls
                row = {"model": name, "params_M": round(params, 1), "n": n, "max_new": max_new, "repeats": args.repeats, "ours_s": round(ours, 3),
                       "reference_s": round(reference, 3), "reference_calls_timed": calls, "speedup": round(reference / ours, 1)}
                results.append(row)
                print(f"{name:12s} {params:6.1f}M  n={n:<4d} ours {ours:8.3f} s   reference {reference:9.3f} s"
                      f" ({calls} of {n} calls timed; {args.repeats} seeds)   speed-up {reference / ours:6.1f}x", flush=True)
    print(json.dumps({"threads": args.threads, "text": TEXT, "results": results}, ensure_ascii=False))


if __name__ == "__main__":
    main()
