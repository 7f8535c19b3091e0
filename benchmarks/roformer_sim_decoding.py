"""Decoding settings of the paraphrase tab side by side, judged by the fluency judge and cosine (not the model's own
probability), on held-out dev inputs (``evaluate.dev_inputs``; never a test split).

    python benchmarks/roformer_sim_decoding.py [--checkpoint DIR] [--per-set 25] [--threads 1]

For each setting (top-p, copy bias towards the input's characters, repetition penalty, sampling or beam search; n, k,
seed, order and tail penalty as the tab's defaults; a beam search keeps n beams and ignores top-p and the seed): A = share of the shown
top five the judge passes, B = share of inputs with a shown candidate that passes,
has cosine >= 0.8 and is not a copy. One line per setting, then one JSON object of all of them.
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from core import checkpoints
from core.roformer_sim import evaluate, generate
from core.roformer_sim.fluency import FluencyJudge
from core.roformer_sim.model import load

GRID = [  # (top_p, copy_bias, repetition_penalty, beam): the tab's earlier default (0.95, 0, 0, sampling) first
    (0.95, 0.0, 0.0, 0), (0.95, 1.5, 0.0, 0), (0.95, 0.0, 1.5, 0), (0.95, 1.5, 1.5, 0), (0.95, 3.0, 0.0, 0), (0.8, 1.5, 0.0, 0),
    (0.6, 1.5, 0.0, 0), (0.8, 0.0, 0.0, 0),
    # beam search (added under a rule written before it was run, quoted in the model card)
    (0.8, 0.0, 0.0, 1), (0.8, 1.5, 0.0, 1), (0.8, 3.0, 0.0, 1),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoint", default=None)
    parser.add_argument("--per-set", type=int, default=25)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--settings", default=None, help="instead of GRID: 'top_p,copy_bias,penalty[,beam];...' (beam: 1 or 0)")
    args = parser.parse_args()
    grid = [(*(float(v) for v in item.split(",")), 0)[:4] for item in args.settings.split(";")] if args.settings else GRID
    torch.set_num_threads(args.threads)
    sim = load(checkpoints.locate("roformer_sim", args.checkpoint), checkpoints.device())
    judge = FluencyJudge()
    texts = evaluate.dev_inputs(evaluate.STS_DIR, args.per_set)
    results = []
    for top_p, copy_bias, penalty, beam in grid:
        settings = {**generate.TAB_DEFAULTS, "top_p": top_p, "copy_bias": copy_bias, "repetition_penalty": penalty, "beam": bool(beam)}
        start = time.perf_counter()
        r = evaluate.evaluate_shown(sim, texts, judge, None, settings)
        a = r[f"top{evaluate.FLUENCY_TOP}_passing_share"]
        b = r[f"share_with_passing_non_copy_cosine_{evaluate.GOOD_COSINE}_in_shown"]
        results.append({"top_p": top_p, "copy_bias": copy_bias, "repetition_penalty": penalty, "beam": bool(beam),
                        "tail_penalty": settings["tail_penalty"], "A": a, "B": b,
                        "A+B": round(a + b, 4), "seconds": round(time.perf_counter() - start, 1)})
        decoding = "beam search" if beam else f"top-p {top_p:<4}"
        print(f"{decoding:<11} copy bias {copy_bias:<3} penalty {penalty:<3}  A {a:.3f}  B {b:.3f}  A+B {a + b:.3f}", flush=True)
    print(json.dumps({"inputs": len(texts), "checkpoint": args.checkpoint or "bundled", "settings": results}))


if __name__ == "__main__":
    main()
