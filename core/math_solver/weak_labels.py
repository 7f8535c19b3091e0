"""Equations for problems that come with an answer only: weak supervision for the tree solver.

    python -m core.math_solver.weak_labels --threads 1        # CCF-BDCI 2020 → runs/math_weak/weak.jsonl

The CCF-BDCI 2020 contest problems (data README §17) have numeric answers and no equations. A solver searches each
problem's equations (its beams); the best-ranked beam whose value is the given answer becomes the problem's equation, so
the labels are the equations the model already finds most likely among the right ones. The 1,000 problems with the
smallest text hash are held out first and never labelled (``data.ccf_dev_problems``): an answer-only dev set of
another source than Math23K, which ``evaluate --ccf-dev`` scores.

The output is ape210k-format JSON Lines (``original_text``, ``equation``, ``ans``), which ``train_tree --train`` reads.
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path

from core import checkpoints
from core.math_solver import data, evaluate, expression, normalize, solvers
from core.math_solver.solution import Solution, equation_tree


def matching_equation(solution: Solution, answer: str) -> str | None:
    """The best-ranked beam whose value is the answer, as an ASCII equation with the problem's numbers; else ``None``."""
    gold = normalize.parse_answer(answer)
    for candidate in solution.candidates:
        if candidate.value is not None and normalize.answers_match(candidate.value, gold, answer):
            return "x=" + expression.to_infix(equation_tree(candidate.written, solution.problem))
    return None


def label(solver, items: list[dict], beams: int, batch_size: int = 32) -> tuple[list[dict], Counter]:
    """The items a beam answers rightly, with that beam's equation; and how many were labelled or why not."""
    scored = evaluate.scorable(items)
    counts = Counter({"answer does not parse": len(items) - len(scored)})
    labelled = []
    for item, solution in zip(scored, evaluate.solve_items(solver, scored, beams, batch_size, "label")):
        equation = None if solution is None else matching_equation(solution, item["ans"])
        if solution is None:
            counts["the solver refuses the problem"] += 1
        elif equation is None:
            counts["no beam has the answer"] += 1
        else:
            counts["labelled"] += 1
            labelled.append({**item, "equation": equation})
    return labelled, +counts


def write_jsonl(items: list[dict], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(item, ensure_ascii=False) + "\n" for item in items), encoding="utf-8")


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, default=data.CCF_ANSWERS, help="answers-only JSON Lines ({id, question, answer})")
    p.add_argument("--out", type=Path, default=Path("runs/math_weak"), help="folder for weak.jsonl")
    p.add_argument("--held-out", type=int, default=data.CCF_DEV_SIZE, help="problems held out as an answer-only dev set")
    p.add_argument("--checkpoint", default=None, help="the labelling solver's checkpoint (default: the bundled tree solver)")
    p.add_argument("--beams", type=int, default=10, help="beams searched per problem")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    args = p.parse_args(argv)
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    solver = checkpoints.load("math_solver", lambda directory, device: solvers.load(directory, device, "tree"), args.checkpoint)
    to_label, held_out = data.split_held_out(data.read_answer_only(args.data), args.held_out)
    labelled, counts = label(solver, to_label, args.beams)
    write_jsonl(labelled, args.out / "weak.jsonl")
    print(json.dumps({"labelled": len(labelled), "searched": len(to_label), "held_out": len(held_out), "beams": args.beams,
                      "counts": dict(counts), "out": str(args.out)}, ensure_ascii=False))


if __name__ == "__main__":
    main()
