"""Latency of solving one problem end to end: the tree decoder and the T5 side by side, in one run.

    python benchmarks/math_solver_latency.py [--threads 1] [--repeats 20] [--tree DIR]

Times what the tab computes for one Ape210K-style problem: ``solve`` (placeholders, beam search, parsing, exact
evaluation, the ranker's choice of beam when the checkpoint has one), the working of the chosen equation and the
model's probability of the answer. After a warm-up call it prints the median and 90th percentile per solver and beam
width: each solver at 1 beam and at its tab default (T5 3, tree 5), and, when the tree model has a ranker, the tree at 5
beams without it (the fixed rule). The tree model is the bundle's (``assets/math_solver/tree``) unless ``--tree`` names a checkpoint.
Target from the issue: <= 300 ms median on one thread for the tab's solver. Last line: JSON, with the ratio of the
tree's to the T5's median at their tab defaults.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import torch

from core import checkpoints
from core.math_solver import confidence, model, solvers, tree, working
from core.math_solver.solution import Solution, equation_tree

PROBLEM = "一件上衣原价480元，现在降价20%，比原价便宜了多少元？"


def solve_and_explain(solver, beams: int) -> tuple[Solution, list[working.Step], float | None]:
    solution = solver.solve(PROBLEM, beams=beams)
    best = solution.best
    steps = working.steps(equation_tree(best.written, solution.problem)) if best else []
    return solution, steps, confidence.answer_probability(solution)


def timed(solver, beams: int, repeats: int) -> dict:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        solution, steps, probability = solve_and_explain(solver, beams)
        times.append((time.perf_counter() - start) * 1000)
    times.sort()
    best = solution.best
    return {"median_ms": round(statistics.median(times), 1), "p90_ms": round(times[int(0.9 * (len(times) - 1))], 1),
            "equation": best.equation if best else None, "working": [str(step) for step in steps],
            "answer_probability": round(probability, 3) if probability is not None else None}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--tree", type=Path, default=None, help="tree checkpoint (default: the bundle's)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    bundle = checkpoints.locate("math_solver", checkpoints.BUNDLED)
    t5 = model.load(bundle)
    tree_solver = tree.load(args.tree) if args.tree else solvers.load(bundle, kind="tree")
    result = {"threads": args.threads, "problem": PROBLEM, "tab_solver": solvers.preferred_kind(bundle),
              "tree_ranker": tree_solver.ranker is not None, "t5_ranker": t5.ranker is not None}
    runs = [("t5_beams_1", t5, 1), ("t5_beams_3", t5, 3), ("tree_beams_1", tree_solver, 1), ("tree_beams_5", tree_solver, 5)]
    if tree_solver.ranker:
        runs.append(("tree_beams_5_rule_only", tree.TreeSolver(tree_solver.model, tree_solver.tokenizer), 5))
    for _, solver, beams in runs:
        solver.solve(PROBLEM, beams=beams)  # warm-up: the first call is slower
    for name, solver, beams in runs:
        result[name] = timed(solver, beams, args.repeats)
        print(f"{name}: median {result[name]['median_ms']} ms, p90 {result[name]['p90_ms']} ms, equation {result[name]['equation']}")
    result["tree5_over_t5_3_median_ratio"] = round(result["tree_beams_5"]["median_ms"] / result["t5_beams_3"]["median_ms"], 3)
    print(json.dumps(result, ensure_ascii=False))


if __name__ == "__main__":
    main()
