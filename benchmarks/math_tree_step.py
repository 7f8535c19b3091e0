"""Training-step time of the tree solver: fp32 against bf16 autocast, side by side, for a few model shapes.

    python benchmarks/math_tree_step.py [--threads 1] [--steps 12] [--shapes 256x1 256x2 512x2]

Builds the trainer's data (``core.math_solver.train_tree``: the same examples, constants and batches of 64), then for
each shape (hidden x encoder layers) times teacher-forced steps (forward, backward, Adam) of a fresh model, first in
fp32, then under CPU bf16 autocast, on the same batches; the first two steps of each are warm-up. Process CPU time per
step, so other jobs on a shared machine do not count. Prints the median per setting and the fp32/bf16 ratio; last
line JSON.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import random
import statistics
import time

import torch

from core import training
from core.math_solver import data, tree
from core.math_solver.model import CharTokenizer
from core.math_solver.train_tree import prepare


def step_times(net: tree.TreeModel, tokenizer, sources, targets, batches, bf16: bool) -> list[float]:
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-3)
    times = []
    for batch in batches:
        start = time.process_time()
        with torch.autocast("cpu", dtype=torch.bfloat16) if bf16 else contextlib.nullcontext():
            memory = net.encode(*tree.encode_sources(tokenizer, [sources[i] for i in batch]))
            loss = net.loss(memory, [targets[i] for i in batch])
        training.optimizer_step(net, optimizer, loss, clip=5.0)
        times.append(time.process_time() - start)
    return times[2:]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--steps", type=int, default=12)
    p.add_argument("--shapes", nargs="+", default=["256x1", "256x2", "512x2"], help="hidden x encoder layers")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    train, _, _ = data.training_and_dev(list(data.DEFAULT_TRAIN), data.APE_TEST, data.DEV_SIZE)
    constants = tree.constant_vocabulary([e.target for e in train])
    train, targets, _ = prepare(train, constants)
    sources = [e.source for e in train]
    tokenizer = CharTokenizer.build(sources)
    lengths = [1000 * sum(len(t) > edge for edge in (3, 5, 7, 9, 13, 19)) + len(s) for t, s in zip(targets, sources)]
    batches = training.length_bucketed_batches(lengths, 64, random.Random(0))[: args.steps]
    result = {"threads": args.threads, "steps_timed": len(batches) - 2}
    for shape in args.shapes:
        hidden, layers = map(int, shape.split("x"))
        medians = {}
        for bf16 in (False, True):
            torch.manual_seed(0)
            net = tree.TreeModel(tree.TreeConfig(len(tokenizer), constants, hidden=hidden, layers=layers)).train()
            medians["bf16" if bf16 else "fp32"] = round(1000 * statistics.median(step_times(net, tokenizer, sources, targets, batches, bf16)))
        result[shape] = {**{f"{k}_ms_per_step": v for k, v in medians.items()}, "fp32_over_bf16": round(medians["fp32"] / medians["bf16"], 2)}
        print(f"hidden {hidden}, {layers} layer(s): fp32 {medians['fp32']} ms, bf16 {medians['bf16']} ms per step of 64 "
              f"(x{result[shape]['fp32_over_bf16']})", flush=True)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
