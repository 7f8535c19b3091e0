"""Answer accuracy of a checkpoint on Ape210K / Math23K problems.

    python -m core.math_solver.evaluate --data ../shared/data/ape210k/test.ape.json --beams 3

The last line of stdout is one JSON object: ``accuracy`` (the solver's answer, from the best beam
with a plausible value, equals the gold answer exactly, or to 1e-4 relative when the gold answer is a
rounded decimal), ``n`` (problems scored), ``valid_expression_rate`` (share of problems for which at
least one beam evaluates), ``first_evaluating_beam_accuracy`` (the answer of the best beam that evaluates,
without the plausibility rule) and ``some_beam_correct`` (share of problems where some beam is right: what
a perfect choice among the beams would score). Problems whose gold answer does not parse are not scored
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


def score(solutions: list[solver_model.Solution | None], items: list[dict]) -> dict[str, int]:
    """Counts over solutions aligned with their dataset items: ``correct`` (the answer the solver gives),
    ``valid`` (some beam evaluates), ``first_evaluating_correct`` (the best beam that evaluates, without the
    plausibility rule) and ``some_beam_correct`` (an oracle that knows which beam is right)."""
    counts = dict.fromkeys(["correct", "valid", "first_evaluating_correct", "some_beam_correct"], 0)
    for solution, item in zip(solutions, items):
        if solution is None:
            continue
        gold = normalize.parse_answer(item["ans"])
        right = [c.value is not None and normalize.answers_match(c.value, gold, item["ans"]) for c in solution.candidates]
        evaluated = [k for k, c in enumerate(solution.candidates) if c.value is not None]
        if not evaluated:
            continue
        counts["valid"] += 1
        counts["correct"] += right[solution.candidates.index(solution.best)]
        counts["first_evaluating_correct"] += right[evaluated[0]]
        counts["some_beam_correct"] += any(right)
    return counts


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
    counts = score(solutions, scored)
    n = len(scored)
    share = lambda key: round(counts[key] / n, 4) if n else 0.0
    result = {
        "accuracy": share("correct"),
        "n": n,
        "valid_expression_rate": share("valid"),
        "first_evaluating_beam_accuracy": share("first_evaluating_correct"),
        "some_beam_correct": share("some_beam_correct"),
        "unscored": len(items) - n,
        "beams": args.beams,
        "data": str(args.data),
    }
    print(json.dumps(result, ensure_ascii=False))


if __name__ == "__main__":
    main()
