"""Answer accuracy of a checkpoint on Ape210K / Math23K problems.

    python -m core.math_solver.evaluate --data ../shared/data/ape210k/test.ape.json --beams 3

The last line of stdout is one JSON object: ``accuracy`` (the value of the best beam that
evaluates equals the gold answer exactly, or to 1e-4 relative when the gold answer is a rounded
decimal), ``n`` (problems scored) and ``valid_expression_rate`` (share of problems for which at
least one beam evaluates). Problems whose gold answer does not parse are not scored
(``unscored`` says how many); problems the solver refuses (no numbers …) count as wrong.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from tqdm import tqdm

from core import checkpoints
from core.math_solver import data, model as solver_model, normalize


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, default=data.APE_TEST, help="problems to solve (default: Ape210K test)")
    p.add_argument("--format", choices=["ape210k", "math23k"], default=None, help="file format (default: guessed)")
    p.add_argument("--beams", type=int, default=3)
    p.add_argument("--limit", type=int, default=None, help="score only the first N problems")
    p.add_argument("--checkpoint", default=None, help="checkpoint directory or Hub id (default: bundled)")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    return p.parse_args(argv)


def score(solutions: list[solver_model.Solution | None], items: list[dict]) -> tuple[int, int]:
    """(correct, with a valid expression) for solutions aligned with their dataset items."""
    correct = valid = 0
    for solution, item in zip(solutions, items):
        best = solution.best if solution else None
        if best is None:
            continue
        valid += 1
        correct += normalize.answers_match(best.value, normalize.parse_answer(item["ans"]), item["ans"])
    return correct, valid


def main(argv=None) -> None:
    args = parse_args(argv)
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    items = data.read_problems(args.data, args.format)[: args.limit]
    scored = []
    for item in items:
        try:
            normalize.parse_answer(item["ans"])
            scored.append(item)
        except ValueError:
            pass
    scored.sort(key=lambda item: len(item["original_text"]))  # similar lengths batch with little padding
    solver = checkpoints.load("math_solver", solver_model.load, args.checkpoint)
    solutions: list[solver_model.Solution | None] = []
    for start in tqdm(range(0, len(scored), args.batch_size), desc="solve", mininterval=10):
        chunk = scored[start : start + args.batch_size]
        problems, usable = [], []
        for item in chunk:
            try:
                problems.append(normalize.encode_problem(item["original_text"]))
                usable.append(True)
            except ValueError:
                usable.append(False)
        solved = iter(solver.solve_many(problems, args.beams) if problems else [])
        solutions += [next(solved) if ok else None for ok in usable]
    correct, valid = score(solutions, scored)
    n = len(scored)
    result = {
        "accuracy": round(correct / n, 4) if n else 0.0,
        "n": n,
        "valid_expression_rate": round(valid / n, 4) if n else 0.0,
        "unscored": len(items) - n,
        "beams": args.beams,
        "data": str(args.data),
    }
    print(json.dumps(result, ensure_ascii=False))


if __name__ == "__main__":
    main()
