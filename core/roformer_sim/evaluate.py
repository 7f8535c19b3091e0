"""Evaluate a RoFormer-Sim checkpoint on the Chinese similarity test sets.

    python -m core.roformer_sim.evaluate similarity [--datasets ATEC,BQ,LCQMC,STS-B] [--limit N]
    python -m core.roformer_sim.evaluate generate [--limit N] [--n 20] [--compare-checkpoint bundled]
    python -m core.roformer_sim.evaluate dev [--extra-dir ../shared/data/chinese_sts_extra]
    python -m core.roformer_sim.evaluate shown [--inputs FILE] --out OUT.jsonl

``similarity``: Spearman×100 between cosine and label on each test set (the protocol of Su's tables,
bojone/BERT-whitening chn/eval.py, maxlen 64) plus "avg", next to a character-overlap baseline scored
in the same run. ``generate``: paraphrases of test-set positive pairs' first sentences; the share of
inputs that get a candidate differing from the input beyond punctuation, the mean cosine of the best
such candidate, and its character F1 against the human paraphrase, next to copying the input; and, by
the fluency judge of fluency.py (not the generator; checked on blind labels), the share of the top-5
candidates judged fluent and the share of inputs with a fluent non-copy candidate of cosine >= 0.8
(issue #23's targets), next to the share of the human paraphrases judged fluent. With
``--compare-checkpoint`` the same figures for a second checkpoint (e.g. the present bundle) are measured
in the same run on the same inputs and seeds.
``shown``: what the paraphrase tab shows with its default settings (``generate.TAB_DEFAULTS``) for each input of
``--inputs`` (one sentence a line; default: the first ``--limit`` (50) positive pairs' first sentences of each test
set): ``--out`` gets one JSON line per input, ``{"input", "shown": the first five candidates in the tab's order}``; the
summary gives the share of those five the judge passes and the share of inputs with a passing non-copy candidate of
cosine >= 0.8 among the five and among all the tab shows.
``dev``: the trainer's dev score (held-out train/valid pairs, ``data.dev_spearman``; with ``--extra-dir``
also the extra sources' held-out pairs, as a run trained with ``--extra-pairs`` logs it), for checkpoints
whose run did not log it on the same pairs; it chooses runs and is never recorded.
The last stdout line is one JSON object with the metrics. ``--record`` stores the bundled model's result
in its metrics file (similarity: all four test sets in full only).
"""

from __future__ import annotations

import argparse
import json
import os
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from tqdm import tqdm

from core import checkpoints, metrics
from core.roformer_sim import generate
from core.roformer_sim.data import DATASETS, STS_DIR, dev_spearman, is_positive, labelled_pairs, read_pairs, spearman, split_dev, test_file
from core.roformer_sim.model import Sim, load

if TYPE_CHECKING:
    from core.roformer_sim.fluency import FluencyJudge

FLUENCY_TOP = 5  # candidates per input whose fluency is counted (issue #23: "top-5 candidates judged fluent")
GOOD_COSINE = 0.8  # issue #23: an input is served when it gets a fluent non-copy candidate at least this close


def char_f1(candidate: str, reference: str) -> float:
    """F1 of the two character multisets (= Dice overlap); the baseline similarity and the paraphrase metric."""
    common = sum((Counter(candidate) & Counter(reference)).values())
    if not common:
        return 0.0
    return 2 * common / (len(candidate) + len(reference))


def evaluate_similarity(sim: Sim, sts_dir: Path, datasets: list[str], limit: int | None) -> dict:
    model_scores, overlap_scores = {}, {}
    for name in tqdm(datasets, desc="similarity"):
        pairs = read_pairs(test_file(sts_dir, name), limit)
        labels = [label for _, _, label in pairs]
        model_scores[name] = round(spearman(generate.pair_cosines(sim, pairs), labels), 2)
        overlap_scores[name] = round(spearman([char_f1(a, b) for a, b, _ in pairs], labels), 2)
    model_scores["avg"] = round(float(np.mean([model_scores[d] for d in datasets])), 2)
    overlap_scores["avg"] = round(float(np.mean([overlap_scores[d] for d in datasets])), 2)
    return {"spearman": model_scores, "char_overlap_baseline": overlap_scores}


def generation_inputs(sts_dir: Path, datasets: list[str], limit: int) -> list[tuple[str, str]]:
    """``limit`` positive test pairs per dataset: (input, human paraphrase), the input cut to what the model reads."""
    inputs = []
    for name in datasets:
        positives = [(a, b) for a, b, label in read_pairs(test_file(sts_dir, name)) if is_positive(name, label)]
        inputs += [(a[: generate.MAX_LEN - 2], b) for a, b in positives[:limit]]
    return inputs


def is_copy(candidate: str, text: str) -> bool:
    return generate.without_punctuation(candidate) == generate.without_punctuation(text)


def evaluate_generation(sim: Sim, inputs: list[tuple[str, str]], n: int, top_p: float, seed: int, judge: FluencyJudge) -> dict:
    got, best_scores, best_f1, copy_f1 = 0, [], [], []
    fluent_top, counted_top, served = 0, 0, 0
    for i, (text, reference) in enumerate(tqdm(inputs, desc="paraphrase")):
        ranked = generate.paraphrase(sim, text, n=n, k=n, top_p=top_p, seed=seed + i)
        copy_f1.append(char_f1(text, reference))
        fluent = [score >= judge.threshold for score in judge.scores([c for c, _ in ranked])]
        fluent_top, counted_top = fluent_top + sum(fluent[:FLUENCY_TOP]), counted_top + len(fluent[:FLUENCY_TOP])
        new = [(c, s, f) for (c, s), f in zip(ranked, fluent) if not is_copy(c, text)]
        served += any(s >= GOOD_COSINE and f for _, s, f in new)
        if new:
            got += 1
            best_scores.append(new[0][1])
            best_f1.append(char_f1(new[0][0], reference))
    return {
        "inputs": len(inputs),
        "share_with_non_copy": round(got / max(len(inputs), 1), 4),
        "best_non_copy_cosine": round(float(np.mean(best_scores)), 4) if best_scores else None,
        "best_non_copy_char_f1_vs_human": round(float(np.mean(best_f1)), 4) if best_f1 else None,
        f"top{FLUENCY_TOP}_fluent_share": round(fluent_top / max(counted_top, 1), 4),
        f"top{FLUENCY_TOP}_candidates_judged": counted_top,
        f"share_with_fluent_non_copy_cosine_{GOOD_COSINE}": round(served / max(len(inputs), 1), 4),
        "copy_input_baseline": {"share_with_non_copy": 0.0, "cosine": 1.0, "char_f1_vs_human": round(float(np.mean(copy_f1)), 4)},
        "n": n,
        "top_p": top_p,
    }


def dev_inputs(sts_dir: Path, per_set: int) -> list[str]:
    """The first ``per_set`` positive pairs' first sentences of each dataset's held-out dev pairs (``data.split_dev``):
    inputs to choose decoding settings and generators on, never a test split."""
    dev = split_dev(labelled_pairs(sts_dir))[1]
    return [a[: generate.MAX_LEN - 2] for name in DATASETS for a, _, _ in [r for r in dev[name] if is_positive(name, r[2])][:per_set]]


def evaluate_shown(sim: Sim, texts: list[str], judge: FluencyJudge, out: Path | None, settings: dict | None = None) -> dict:
    """The tab's output per input under ``settings`` (default: the tab's defaults), written to ``out`` when given, and
    the judge's shares over it."""
    from core.roformer_sim import reader_check
    from core.roformer_sim.fluency import judged_paraphrases

    settings = settings or generate.TAB_DEFAULTS
    passed_top, counted_top, served_top, served_shown = 0, 0, 0, 0
    with open(out or os.devnull, "w", encoding="utf-8") as f:
        for text in tqdm(texts, desc="shown"):
            rows = judged_paraphrases(sim, judge, text, **settings)
            f.write(json.dumps({"input": text, "shown": [row[0] for row in rows[:FLUENCY_TOP]]}, ensure_ascii=False) + "\n")
            passed_top += sum(row[3] for row in rows[:FLUENCY_TOP])
            counted_top += len(rows[:FLUENCY_TOP])
            good = [row[3] and row[1] >= GOOD_COSINE and not is_copy(row[0], text) for row in rows]
            served_top, served_shown = served_top + any(good[:FLUENCY_TOP]), served_shown + any(good)
    return {
        "inputs": len(texts),
        f"top{FLUENCY_TOP}_passing_share": round(passed_top / max(counted_top, 1), 4),
        f"top{FLUENCY_TOP}_candidates": counted_top,
        f"share_with_passing_non_copy_cosine_{GOOD_COSINE}_in_top{FLUENCY_TOP}": round(served_top / max(len(texts), 1), 4),
        f"share_with_passing_non_copy_cosine_{GOOD_COSINE}_in_shown": round(served_shown / max(len(texts), 1), 4),
        **settings,
        "order": "reader check" if settings.get("reader_order", True) and reader_check.check_for(sim) else "cosine",
        "fluency_threshold": judge.threshold,
    }


def human_fluent_share(inputs: list[tuple[str, str]], judge: FluencyJudge) -> float:
    """The judge on the human paraphrases of the same inputs: what a perfect generator would score."""
    return round(float(np.mean(np.asarray(judge.scores([reference for _, reference in inputs])) >= judge.threshold)), 4)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("task", choices=["similarity", "generate", "dev", "shown"])
    parser.add_argument("--checkpoint", default=None, help="checkpoint directory or Hub id (default: bundled model)")
    parser.add_argument("--compare-checkpoint", default=None,
                        help="generate: also measure this checkpoint ('bundled' = the present bundle) in the same run")
    parser.add_argument("--sts-dir", type=Path, default=STS_DIR, help="Su's chinese_sts folder (test files; dev: train/valid files)")
    parser.add_argument("--extra-dir", type=Path, default=None, help="dev: the chinese_sts_extra folder, to score its held-out pairs too")
    parser.add_argument("--datasets", default=",".join(DATASETS), help="comma-separated subset of " + ",".join(DATASETS))
    parser.add_argument("--limit", type=int, default=None, help="pairs per test set (similarity: all; generate: 100; shown: 50)")
    parser.add_argument("--inputs", default=None,
                        help="shown: a file of input sentences, one a line, or 'dev' (held-out dev pairs; default: test sets)")
    parser.add_argument("--out", type=Path, default=None, help="shown: the JSON-lines file to write (required)")
    parser.add_argument("--n", type=int, default=20, help="generate: candidates sampled per input")
    parser.add_argument("--top-p", type=float, default=0.95)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    metrics.add_record_option(parser)
    args = parser.parse_args(argv)
    if args.task == "shown" and args.out is None:
        parser.error("shown needs --out OUT.jsonl")
    if args.record and args.task == "shown" and args.inputs == "dev":
        parser.error("dev inputs choose settings and are not recorded (drop --record)")
    if args.record and args.task == "dev":
        parser.error("dev scores choose runs and are not recorded (drop --record)")
    metrics.check_recordable(args, "roformer_sim")
    if args.threads:
        torch.set_num_threads(args.threads)
    datasets = [d.strip() for d in args.datasets.split(",") if d.strip()]
    unknown = set(datasets) - set(DATASETS)
    if unknown:
        parser.error(f"unknown datasets {sorted(unknown)}; choose from {','.join(DATASETS)}")
    if args.record:
        check_record(args, datasets)
    sim = load(checkpoints.locate("roformer_sim", args.checkpoint), checkpoints.device())
    if args.task == "dev":
        result = {"dev_spearman": dev_spearman(sim, split_dev(labelled_pairs(args.sts_dir, args.extra_dir))[1])}
    elif args.task == "shown":
        from core.roformer_sim.fluency import FluencyJudge

        if args.inputs == "dev":
            texts = dev_inputs(args.sts_dir, args.limit or 25)
        elif args.inputs:
            texts = [line.strip() for line in Path(args.inputs).read_text(encoding="utf-8").splitlines() if line.strip()]
        else:
            texts = [text for text, _ in generation_inputs(args.sts_dir, datasets, args.limit or 50)]
        result = evaluate_shown(sim, texts, FluencyJudge(), args.out)
        result["inputs_from"] = str(args.inputs or f"test sets {','.join(datasets)}, {args.limit or 50} each")
    elif args.task == "similarity":
        result = evaluate_similarity(sim, args.sts_dir, datasets, args.limit)
    else:
        from core.roformer_sim.fluency import FluencyJudge  # loads the masked LM and jieba: similarity runs without them

        judge, inputs = FluencyJudge(), generation_inputs(args.sts_dir, datasets, args.limit or 100)
        result = evaluate_generation(sim, inputs, args.n, args.top_p, args.seed, judge)
        result.update(human_paraphrase_fluent_share=human_fluent_share(inputs, judge), fluency_threshold=judge.threshold)
        if args.compare_checkpoint:
            other = load(checkpoints.locate("roformer_sim", args.compare_checkpoint), checkpoints.device())
            result["compare"] = {"checkpoint": args.compare_checkpoint,
                                 **evaluate_generation(other, inputs, args.n, args.top_p, args.seed, judge)}
    result.update(task=args.task, checkpoint=str(args.checkpoint or "bundled"), datasets=datasets)
    if args.record:
        record(args, result, argv)
    print(json.dumps(result, ensure_ascii=False))
    return result


def check_record(args: argparse.Namespace, datasets: list[str]) -> None:
    """Before the run: refuse ``--record`` for a run its entry would mislabel."""
    if Path(args.sts_dir).resolve() != STS_DIR.resolve():
        raise SystemExit(f"--record takes the test sets of {STS_DIR} (drop --sts-dir)")
    if args.task == "similarity" and (sorted(datasets) != sorted(DATASETS) or args.limit is not None):
        raise SystemExit("--record similarity takes every pair of all four test sets (drop --datasets and --limit)")


def record(args: argparse.Namespace, result: dict, argv: list[str] | None) -> None:
    """similarity: one entry; generate: one entry per input count, datasets, n and top-p."""
    command = metrics.command_line("core.roformer_sim.evaluate", argv)
    if args.task == "similarity":
        ours, overlap = result["spearman"], result["char_overlap_baseline"]
        metrics.record(
            "roformer_sim", "test_spearman",
            label="test Spearman×100 " + " / ".join(DATASETS) + " / avg (cosine vs label, every pair)",
            value=" / ".join(f"{ours[d]:.2f}" for d in DATASETS) + f" / avg {ours['avg']:.2f} "
                  f"(character overlap, same run: avg {overlap['avg']:.2f})",
            raw=result, command=command, anchor="RoFormer-Sim base 39.27 / 48.31 / 72.30 / 71.75 / 57.9 (blog 8541)")
        return
    if args.task == "shown":
        named = "inputs of " + (Path(args.inputs).name if args.inputs else f"test sets (first {args.limit or 50} positive pairs of each)")
        metrics.record(
            "roformer_sim", "shown_" + (Path(args.inputs).stem if args.inputs else f"test_{args.limit or 50}_per_set"),
            label=f"the tab's default output for {result['inputs']} {named} (n = {result['n']}, "
                  + ("beam search" if result.get("beam") else f"top-p {result['top_p']:g}") + ", "
                  f"copy bias {result.get('copy_bias', 0):g}, repetition penalty {result.get('repetition_penalty', 0):g}, "
                  f"tail penalty {result.get('tail_penalty', 0):g}, "
                  + ("judge-passing first, then " if result.get("fluent_first") else "") + f"ordered by {result['order']}): "
                  f"shown top {FLUENCY_TOP} the fluency judge passes · inputs with a passing non-copy candidate of cosine "
                  f"≥ {GOOD_COSINE} among the top {FLUENCY_TOP} · among all {result['k']} shown",
            value=f"{result[f'top{FLUENCY_TOP}_passing_share']:.1%} · "
                  f"{result[f'share_with_passing_non_copy_cosine_{GOOD_COSINE}_in_top{FLUENCY_TOP}']:.0%} · "
                  f"{result[f'share_with_passing_non_copy_cosine_{GOOD_COSINE}_in_shown']:.0%}",
            raw=result, command=command)
        return
    per_set = args.limit or 100
    named = [d for d in DATASETS if d in result["datasets"]]
    scope = "all" if named == list(DATASETS) else "_".join(d.lower() for d in named)
    fluent = result[f"top{FLUENCY_TOP}_fluent_share"]
    num = lambda x: "–" if x is None else f"{x:.3f}"  # None: no input got a non-copy candidate
    metrics.record(
        "roformer_sim", f"generate_{scope}_{per_set}_per_set_n{args.n}_p{args.top_p:g}",
        label=f"paraphrases of {result['inputs']:,} test inputs (first {per_set} positive pairs of "
              f"{', '.join(named)}; n = {args.n}, top-p {args.top_p:g}): inputs with a non-copy candidate · "
              f"best candidate's cosine · its char F1 vs the human paraphrase · top-{FLUENCY_TOP} judged fluent · "
              f"inputs with a fluent non-copy candidate of cosine ≥ {GOOD_COSINE}",
        value=f"{result['share_with_non_copy']:.0%} · {num(result['best_non_copy_cosine'])} · "
              f"{num(result['best_non_copy_char_f1_vs_human'])} (copying the input: "
              f"{result['copy_input_baseline']['char_f1_vs_human']:.3f}) · {fluent:.1%} (human paraphrases: "
              f"{result['human_paraphrase_fluent_share']:.0%}) · {result[f'share_with_fluent_non_copy_cosine_{GOOD_COSINE}']:.0%}"
              + compared_note(result),
        raw=result, command=command)


def compared_note(result: dict) -> str:
    """The fluency figures of ``--compare-checkpoint`` (same inputs, seeds and judge), for the entry's value."""
    if "compare" not in result:
        return ""
    other = result["compare"]
    return (f" (`{other['checkpoint']}` in the same run: {other[f'top{FLUENCY_TOP}_fluent_share']:.1%} · "
            f"{other[f'share_with_fluent_non_copy_cosine_{GOOD_COSINE}']:.0%})")


if __name__ == "__main__":
    main()
