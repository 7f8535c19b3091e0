"""Latency of solving one problem with the bundled solver: beam widths side by side.

    python benchmarks/math_solver_latency.py [--threads 2] [--repeats 20]

Times what the tab computes for one Ape210K-style problem, end to end: ``Solver.solve`` (placeholders,
T5 beam search, parsing, exact evaluation), the working of the chosen equation and the model's
probability of the answer; after a warm-up call, prints the median and 90th percentile per beam
width. Target from the issue: ≤ 300 ms with 3 beams on 2 CPU cores. Last line: JSON.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch

from core import checkpoints
from core.math_solver import confidence, model, working

PROBLEM = "一件上衣原价480元，现在降价20%，比原价便宜了多少元？"


def solve_and_explain(solver: model.Solver, beams: int) -> tuple[model.Solution, list[working.Step], float | None]:
    solution = solver.solve(PROBLEM, beams=beams)
    best = solution.best
    steps = working.steps(model.equation_tree(best.written, solution.problem)) if best else []
    return solution, steps, confidence.answer_probability(solution)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    solver = checkpoints.load("math_solver", model.load)
    solver.solve(PROBLEM, beams=3)  # warm-up: the first generate call is slower
    result = {"threads": args.threads, "problem": PROBLEM}
    for beams in (1, 3, 5):
        times = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            solution, steps, probability = solve_and_explain(solver, beams)
            times.append((time.perf_counter() - start) * 1000)
        times.sort()
        best = solution.best
        result[f"beams_{beams}"] = {
            "median_ms": round(statistics.median(times), 1),
            "p90_ms": round(times[int(0.9 * (len(times) - 1))], 1),
            "equation": best.equation if best else None,
            "working": [str(step) for step in steps],
            "answer_probability": round(probability, 3) if probability is not None else None,
        }
        print(f"{beams} beams: median {result[f'beams_{beams}']['median_ms']} ms, "
              f"p90 {result[f'beams_{beams}']['p90_ms']} ms, equation {result[f'beams_{beams}']['equation']}")
    print(json.dumps(result, ensure_ascii=False))


if __name__ == "__main__":
    main()
