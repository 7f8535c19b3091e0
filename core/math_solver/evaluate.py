"""Answer accuracy of a checkpoint on Ape210K / Math23K problems.

    python -m core.math_solver.evaluate --data ../shared/data/ape210k/test.ape.json --threads 1
    python -m core.math_solver.evaluate --dev --solver t5 --beams 3      # the bundled T5 instead of the tab's solver
    python -m core.math_solver.evaluate --test ../shared/data/ape210k/test.ape.json \
        ../shared/data/math23k/math23k_train_full.jsonl.xz --limit 500      # accuracy per file and overall

Files: Ape210K JSON Lines, Math23K JSON arrays or JSON Lines, HMWP and CM17K JSON arrays, plain or ``.xz``
(the format is guessed from the content; ``--format`` names it, once for all files or once per file). A
problem with two unknowns (an HMWP / CM17K system) has no single answer to score and counts as unscored.
The last line of stdout is one JSON object: ``accuracy`` (the solver's answer, from the beam its ranker
prefers, equals the gold answer exactly, or to 1e-4 relative when the gold answer is a rounded decimal),
``n`` (problems scored), ``valid_expression_rate`` (share of problems for which at least one beam
evaluates), ``rule_accuracy`` (the answer of the fixed rule instead: the best beam with a plausible value;
``accuracy`` itself when the checkpoint has no ranker), ``first_evaluating_beam_accuracy`` (the answer of the best beam that evaluates,
without the plausibility rule), ``most_probable_value_accuracy`` (the value whose beams' probabilities sum
highest: an answer-level vote, ``confidence.most_probable_value``), ``some_beam_correct`` (share of problems where some beam is right: what
a perfect choice among the beams would score), and for the tab's "check this one" flag ``unsure_share``
(share of problems flagged, ``confidence.is_unsure``), ``accuracy_when_sure`` and ``accuracy_when_unsure``.
Problems whose gold answer does not parse are not scored (``unscored`` says how many); problems the solver
refuses (no numbers …) count as wrong and unsure. With several files the keys are over all of them, and
``per_source`` has the same keys for each file (named ``folder/file``, see ``data.source_name``).
``--limit`` applies to each file. ``--dev`` scores the development set that ``train`` holds out
(1,000 new Math23K problems, ``data.dev_problems``): checkpoints and thresholds are chosen on it,
never on a test set. ``--record`` stores the result of the bundled model in its metrics file.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from tqdm import tqdm

from core import checkpoints, metrics as bundle_metrics
from core.math_solver import confidence, data, normalize, solvers
from core.math_solver.solution import Solution

COUNTS = ("correct", "valid", "rule_correct", "first_evaluating_correct", "most_probable_value_correct", "some_beam_correct",
          "unsure", "unsure_correct")


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", "--test", type=Path, nargs="+", default=[data.APE_TEST],
                   help="problem files to solve (default: Ape210K test)")
    p.add_argument("--format", choices=data.FORMATS, nargs="+", default=None,
                   help="file format, once for all files or once per file (default: guessed from the content)")
    held_out = p.add_mutually_exclusive_group()
    held_out.add_argument("--dev", action="store_true", help="score the held-out development set instead of --data")
    held_out.add_argument("--ccf-dev", action="store_true",
                          help="score the 1,000 CCF-BDCI problems held out from the weak labels (answers only) instead of --data")
    p.add_argument("--beams", type=int, default=None, help="beams per problem (default: the solver's, as the tab uses it)")
    p.add_argument("--limit", type=int, default=None, help="score only the first N problems of each file")
    p.add_argument("--checkpoint", default=None, help="checkpoint directory or Hub id (default: bundled)")
    p.add_argument("--solver", choices=solvers.KINDS, default=None,
                   help="which solver of the bundle (default: the tab's, the one with the higher recorded dev accuracy)")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    bundle_metrics.add_record_option(p)
    args = p.parse_args(argv)
    bundle_metrics.check_recordable(args, "math_solver")
    if args.format is None or len(args.format) == 1:
        args.format = (args.format or [None]) * len(args.data)
    elif len(args.format) != len(args.data):
        p.error(f"--format: give one format for all files or one per file ({len(args.data)}), not {len(args.format)}")
    return args


def score(solutions: list[Solution | None], items: list[dict]) -> dict[str, int]:
    """Counts over solutions aligned with their dataset items: ``correct`` (the answer the solver gives),
    ``valid`` (some beam evaluates), ``rule_correct`` (the best beam with a plausible value), ``first_evaluating_correct`` (the best beam that evaluates, without the
    plausibility rule), ``most_probable_value_correct`` (the answer-level vote, ``confidence.most_probable_value``),
    ``some_beam_correct`` (an oracle that knows which beam is right), ``unsure`` (flagged
    for checking; refused problems too) and ``unsure_correct`` (flagged, yet right)."""
    counts = dict.fromkeys(COUNTS, 0)
    for solution, item in zip(solutions, items):
        unsure = solution is None or confidence.is_unsure(solution)
        counts["unsure"] += unsure
        if solution is None:
            continue
        gold = normalize.parse_answer(item["ans"])
        right = [c.value is not None and normalize.answers_match(c.value, gold, item["ans"]) for c in solution.candidates]
        evaluated = [k for k, c in enumerate(solution.candidates) if c.value is not None]
        if not evaluated:
            continue
        counts["valid"] += 1
        counts["correct"] += right[solution.candidates.index(solution.best)]
        counts["unsure_correct"] += unsure and right[solution.candidates.index(solution.best)]
        counts["rule_correct"] += right[solution.candidates.index(solution.best_by_rule)]
        counts["first_evaluating_correct"] += right[evaluated[0]]
        counts["most_probable_value_correct"] += normalize.answers_match(confidence.most_probable_value(solution), gold, item["ans"])
        counts["some_beam_correct"] += any(right)
    return counts


def metrics(counts: dict[str, int], n: int) -> dict[str, float | int]:
    """Shares of the counts of :func:`score` over ``n`` scored problems (0 for an empty group)."""
    share = lambda part, whole: round(part / whole, 4) if whole else 0.0
    sure = n - counts["unsure"]
    return {
        "accuracy": share(counts["correct"], n),
        "n": n,
        "valid_expression_rate": share(counts["valid"], n),
        "rule_accuracy": share(counts["rule_correct"], n),
        "first_evaluating_beam_accuracy": share(counts["first_evaluating_correct"], n),
        "most_probable_value_accuracy": share(counts["most_probable_value_correct"], n),
        "some_beam_correct": share(counts["some_beam_correct"], n),
        "unsure_share": share(counts["unsure"], n),
        "accuracy_when_sure": share(counts["correct"] - counts["unsure_correct"], sure),
        "accuracy_when_unsure": share(counts["unsure_correct"], counts["unsure"]),
    }


def scorable(items: list[dict]) -> list[dict]:
    """The items whose gold answer parses (the others cannot be scored)."""
    kept = []
    for item in items:
        try:
            normalize.parse_answer(item["ans"])
            kept.append(item)
        except ValueError:
            pass
    return kept


def solve_items(solver, items: list[dict], beams: int, batch_size: int, label: str):
    """Solutions aligned with ``items``; ``None`` for a problem the solver refuses (no numbers …)."""
    order = sorted(range(len(items)), key=lambda i: len(items[i]["original_text"]))  # little padding per batch
    solutions: list[Solution | None] = [None] * len(items)
    for start in tqdm(range(0, len(order), batch_size), desc=f"solve {label}", mininterval=10):
        problems, positions = [], []
        for i in order[start : start + batch_size]:
            try:
                problems.append(normalize.encode_problem(items[i]["original_text"]))
                positions.append(i)
            except ValueError:
                pass
        for i, solution in zip(positions, solver.solve_many(problems, beams) if problems else []):
            solutions[i] = solution
    return solutions


def main(argv=None) -> None:
    args = parse_args(argv)
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    solver = checkpoints.load("math_solver", lambda directory, device: solvers.load(directory, device, args.solver), args.checkpoint)
    args.beams = args.beams or solver.default_beams
    total, n, unscored, per_source = dict.fromkeys(COUNTS, 0), 0, 0, {}
    if args.dev or args.ccf_dev:
        sources = [("dev", data.dev_problems())] if args.dev else [("ccf_dev", data.ccf_dev_problems())]
    else:
        sources = [(data.source_name(path), data.read_problems(path, data_format)) for path, data_format in zip(args.data, args.format)]
    for source, items in sources:
        items = items[: args.limit]
        scored = scorable(items)
        counts = score(solve_items(solver, scored, args.beams, args.batch_size, source), scored)
        per_source[source] = {**metrics(counts, len(scored)), "unscored": len(items) - len(scored)}
        total = {key: total[key] + counts[key] for key in COUNTS}
        n, unscored = n + len(scored), unscored + len(items) - len(scored)
    result = {**metrics(total, n), "unscored": unscored, "beams": args.beams, "solver": type(solver).__name__,
              "data": (sources[0][0] if args.dev or args.ccf_dev else str(args.data[0]) if len(args.data) == 1
                       else [str(path) for path in args.data]),
              "ranker": solver.ranker.about if solver.ranker else None}
    if len(sources) > 1:
        result["per_source"] = per_source
    if args.record:
        record(args, result, argv, "tree_" if type(solver).__name__ == "TreeSolver" else "")
    print(json.dumps(result, ensure_ascii=False))


def record(args: argparse.Namespace, result: dict, argv, prefix: str = "") -> None:
    """Store the measurement under a key naming the solver (``prefix``), the problems and beams (only whole
    standard sets)."""
    if args.dev:
        key, label = "dev", f"held-out dev ({result['n']:,} new Math23K problems), answer accuracy, {args.beams} beams"
        anchor = "Math23K (5-fold): Transformer 61.5%, GTS 74.2%, BERTGen 76.6%"
    elif args.ccf_dev:
        key, label = "ccf_dev", f"CCF-BDCI 2020 held-out problems ({result['n']:,}, answers only), answer accuracy, {args.beams} beams"
        anchor = "none published for this split"
    elif [Path(p).resolve() for p in args.data] == [data.APE_TEST.resolve()] and args.limit is None:
        key, label = "ape210k_test", f"Ape210K test answer accuracy, {args.beams} beams ({result['n']:,} problems)"
        anchor = "70.20% Ape210K seq2seq, 72.35% Su's BERT-base UniLM (both trained on 200k problems)"
    else:
        raise SystemExit("--record takes the whole Ape210K test (default --data, no --limit), --dev or --ccf-dev")
    value = f"{result['accuracy']:.2%}"
    if result["ranker"] and args.dev:  # the ranker was fitted on these problems: its fair dev score is cross-validated
        value += (f" (the ranker was fitted on these problems; fitted on one half, measured on the other: "
                  f"{result['ranker']['dev_accuracy_2_fold']:.1%}; the fixed rule: {result['rule_accuracy']:.1%})")
    elif result["ranker"]:
        value += f" (the fixed rule instead of the ranker: {result['rule_accuracy']:.2%})"
    if prefix:
        label = "tree decoder: " + label
    bundle_metrics.record("math_solver", f"{prefix}{key}_beams{args.beams}", label=label, value=value,
                          raw=result, command=bundle_metrics.command_line("core.math_solver.evaluate", argv),
                          anchor=anchor)


if __name__ == "__main__":
    main()
