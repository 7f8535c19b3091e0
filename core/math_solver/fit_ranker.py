"""Fit the beam ranker (``core.math_solver.ranker``) on the beams of the held-out dev problems.

    python -m core.math_solver.fit_ranker --threads 1                    # the tab's solver, its beams
    python -m core.math_solver.fit_ranker --solver tree --threads 1      # the bundled tree model (5 beams)

The dev problems (``data.dev_problems``) are ones the model never trained on; since they are the ranker's training
data, its accuracy there is reported 2-fold cross-validated (fitted on one half, measured on the other), beside the
fixed rule's. The ranker is written next to the solver's weights unless ``--out`` says otherwise.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from pathlib import Path

import torch

from core import checkpoints, training
from core.math_solver import data, evaluate, ranker, solvers


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", default=checkpoints.BUNDLED, help="the solver whose beams are ranked (default: bundled)")
    p.add_argument("--solver", choices=solvers.KINDS, default=None, help="which bundled solver (default: the tab's)")
    p.add_argument("--beams", type=int, default=None, help="beams per problem (default: the solver's, as the tab uses it)")
    p.add_argument("--out", type=Path, default=None, help="ranker file (default: ranker.json beside the solver's weights)")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    directory = checkpoints.locate("math_solver", args.checkpoint)
    solver = solvers.unranked(directory, args.solver)
    beams = args.beams or solver.default_beams
    out = args.out or solver.directory / ranker.RANKER_FILE
    items = evaluate.scorable(data.dev_problems())
    solutions = evaluate.solve_items(solver, items, beams, args.batch_size, "dev")
    problems = ranker.labelled_beams(solutions, items)
    rule = evaluate.metrics(evaluate.score(solutions, items), len(items))["accuracy"]
    about = {"fitted_on": f"beams of the {len(items):,} dev problems (data.dev_problems), {beams} beams each",
             "dev_accuracy_2_fold": round(ranker.cross_validated_accuracy(problems, len(items)), 4),
             "dev_accuracy_of_the_rule": rule, "model_fingerprint": training.weights_fingerprint(solver.model),
             "command": "python -m core.math_solver.fit_ranker " + " ".join(sys.argv[1:] if argv is None else argv),
             "date": dt.date.today().isoformat()}
    fitted = ranker.fit([row for beams_, _ in problems for row in beams_], [label for _, labels in problems for label in labels], about)
    fitted.save(out)
    print(json.dumps({**about, "out": str(out)}, ensure_ascii=False))


if __name__ == "__main__":
    main()
