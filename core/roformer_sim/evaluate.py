"""Evaluate a RoFormer-Sim checkpoint on the Chinese similarity test sets.

    python -m core.roformer_sim.evaluate similarity [--datasets ATEC,BQ,LCQMC,STS-B] [--limit N]
    python -m core.roformer_sim.evaluate generate [--limit N] [--n 20]

``similarity``: Spearman×100 between cosine and label on each test set (the protocol of Su's tables,
bojone/BERT-whitening chn/eval.py, maxlen 64) plus "avg", next to a character-overlap baseline scored
in the same run. ``generate``: paraphrases of test-set positive pairs' first sentences; the share of
inputs that get a candidate differing from the input beyond punctuation, the mean cosine of the best
such candidate, and its character F1 against the human paraphrase, next to copying the input.
The last stdout line is one JSON object with the metrics.
"""

from __future__ import annotations

import argparse
import json
import unicodedata
from collections import Counter
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from core import checkpoints
from core.roformer_sim import generate
from core.roformer_sim.data import DATASETS, STS_DIR, is_positive, read_pairs, spearman, test_file
from core.roformer_sim.model import Sim, load

def char_f1(candidate: str, reference: str) -> float:
    """F1 of the two character multisets (= Dice overlap); the baseline similarity and the paraphrase metric."""
    common = sum((Counter(candidate) & Counter(reference)).values())
    if not common:
        return 0.0
    return 2 * common / (len(candidate) + len(reference))


def without_punctuation(text: str) -> str:
    return "".join(ch for ch in text if not unicodedata.category(ch).startswith(("P", "Z", "S")))


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


def evaluate_generation(sim: Sim, sts_dir: Path, datasets: list[str], limit: int, n: int, top_p: float, seed: int) -> dict:
    """``limit`` positive test pairs per dataset; the first sentence is the input, the second the reference."""
    inputs = []
    for name in datasets:
        positives = [(a, b) for a, b, label in read_pairs(test_file(sts_dir, name)) if is_positive(name, label)]
        inputs += positives[:limit]
    got, best_scores, best_f1, copy_f1 = 0, [], [], []
    for i, (text, reference) in enumerate(tqdm(inputs, desc="paraphrase")):
        text = text[: generate.MAX_LEN - 2]
        ranked = generate.paraphrase(sim, text, n=n, k=n, top_p=top_p, seed=seed + i)
        copy_f1.append(char_f1(text, reference))
        new = [(c, s) for c, s in ranked if without_punctuation(c) != without_punctuation(text)]
        if new:
            got += 1
            best_scores.append(new[0][1])
            best_f1.append(char_f1(new[0][0], reference))
    return {
        "inputs": len(inputs),
        "share_with_non_copy": round(got / max(len(inputs), 1), 4),
        "best_non_copy_cosine": round(float(np.mean(best_scores)), 4) if best_scores else None,
        "best_non_copy_char_f1_vs_human": round(float(np.mean(best_f1)), 4) if best_f1 else None,
        "copy_input_baseline": {"share_with_non_copy": 0.0, "cosine": 1.0, "char_f1_vs_human": round(float(np.mean(copy_f1)), 4)},
        "n": n,
        "top_p": top_p,
    }


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("task", choices=["similarity", "generate"])
    parser.add_argument("--checkpoint", default=None, help="checkpoint directory or Hub id (default: bundled model)")
    parser.add_argument("--sts-dir", type=Path, default=STS_DIR, help="folder with <NAME>/<NAME>.test.data")
    parser.add_argument("--datasets", default=",".join(DATASETS), help="comma-separated subset of " + ",".join(DATASETS))
    parser.add_argument("--limit", type=int, default=None, help="pairs per test set (similarity: all; generate: 100)")
    parser.add_argument("--n", type=int, default=20, help="generate: candidates sampled per input")
    parser.add_argument("--top-p", type=float, default=0.95)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    datasets = [d.strip() for d in args.datasets.split(",") if d.strip()]
    unknown = set(datasets) - set(DATASETS)
    if unknown:
        parser.error(f"unknown datasets {sorted(unknown)}; choose from {','.join(DATASETS)}")
    sim = load(checkpoints.locate("roformer_sim", args.checkpoint), checkpoints.device())
    if args.task == "similarity":
        result = evaluate_similarity(sim, args.sts_dir, datasets, args.limit)
    else:
        result = evaluate_generation(sim, args.sts_dir, datasets, args.limit or 100, args.n, args.top_p, args.seed)
    result.update(task=args.task, checkpoint=str(args.checkpoint or "bundled"), datasets=datasets)
    print(json.dumps(result, ensure_ascii=False))
    return result


if __name__ == "__main__":
    main()
