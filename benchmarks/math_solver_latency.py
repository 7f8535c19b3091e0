"""Latency of solving one problem with the bundled solver: beam widths side by side.

    python benchmarks/math_solver_latency.py [--threads 2] [--repeats 20]

Times what the tab computes for one Ape210K-style problem, end to end: ``Solver.solve`` (placeholders,
T5 beam search, parsing, exact evaluation, the ranker's choice of beam), the working of the chosen equation and
the model's probability of the answer; after a warm-up call, prints the median and 90th percentile per beam
width, and for 3 beams the same without the ranker (the fixed rule), side by side. Target from the issue:
≤ 300 ms with 3 beams on 2 CPU cores, ranker included. Last line: JSON.
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
    result = {"threads": args.threads, "problem": PROBLEM, "ranker": solver.ranker is not None}
    without_ranker = model.Solver(solver.model, solver.tokenizer)
    for name, timed_solver, beams in [("beams_1", solver, 1), ("beams_3", solver, 3),
                                      ("beams_3_rule_only", without_ranker, 3), ("beams_5", solver, 5)]:
        times = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            solution, steps, probability = solve_and_explain(timed_solver, beams)
            times.append((time.perf_counter() - start) * 1000)
        times.sort()
        best = solution.best
        result[name] = {
            "median_ms": round(statistics.median(times), 1),
            "p90_ms": round(times[int(0.9 * (len(times) - 1))], 1),
            "equation": best.equation if best else None,
            "working": [str(step) for step in steps],
            "answer_probability": round(probability, 3) if probability is not None else None,
        }
        print(f"{name}: median {result[name]['median_ms']} ms, p90 {result[name]['p90_ms']} ms, equation {result[name]['equation']}")
    result["ranker_time_ratio"] = round(result["beams_3"]["median_ms"] / result["beams_3_rule_only"]["median_ms"], 3)
    print(json.dumps(result, ensure_ascii=False))


if __name__ == "__main__":
    main()
