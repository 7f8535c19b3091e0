"""The tail penalty (``generate.steer_to_stop``) against a reader's verdicts: rule 42u in the roformer_sim card.

    python benchmarks/roformer_sim_tail_penalty.py sheet SHEET.tsv   # every candidate of both decodings, for a blind reading
    python benchmarks/roformer_sim_tail_penalty.py score             # the shares of each decoding, one JSON line

For the 40 sentences of ``everyday_sentences_decoding.txt``, D0 is the tab's beam search without the penalty and D1 the
same with ``PENALTY``. ``sheet`` writes the union of both decodings' candidates (those changing more than punctuation),
pooled per input and shuffled, with no score and no mark of which decoding wrote them:
``decoding<TAB>input number<TAB>input<TAB>candidate``. The verdicts go into ``reader_verdicts_decoding.tsv``
(``decoding<TAB>input number<TAB>candidate<TAB>verdict``). ``score`` orders each decoding's candidates by the bundled
reader check, as the tab does, and prints the reader-accepted share of the top five and the share of inputs with an
accepted candidate there.
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

import numpy as np
import torch

from core import checkpoints
from core.roformer_sim import reader_check
from core.roformer_sim.fit_reader_check import candidates, read_verdicts
from core.roformer_sim.fluency import FluencyJudge
from core.roformer_sim.model import load
from roformer_sim_order import ordered_verdicts, top_shares

PENALTY = 6.0  # rule 42u's D1, fixed before the reading
INPUTS = Path(__file__).with_name("everyday_sentences_decoding.txt")
VERDICTS = Path(__file__).with_name("reader_verdicts_decoding.tsv")
SET = "decoding"


def inputs() -> list[str]:
    return [line.strip() for line in INPUTS.read_text(encoding="utf-8").splitlines() if line.strip()]


def write_sheet(sim, sheet: Path) -> None:
    rng = random.Random(42)
    lines = []
    for i, text in enumerate(inputs()):
        pool = list(dict.fromkeys(c for penalty in (0.0, PENALTY) for c, _ in candidates(sim, text, penalty)))
        rng.shuffle(pool)
        lines += [f"{SET}\t{i}\t{text}\t{c}\n" for c in pool]
    sheet.write_text("".join(lines), encoding="utf-8")
    print(json.dumps({"candidates": len(lines)}))


def score(sim, judge: FluencyJudge, verdicts: dict[tuple[str, int, str], int]) -> dict:
    check = reader_check.load()
    ordered: dict[str, list[list[int]]] = {"D0": [], "D1": []}
    for i, text in enumerate(inputs()):
        for name, penalty in (("D0", 0.0), ("D1", PENALTY)):
            ranked = candidates(sim, text, penalty)
            scores = judge.scores([c for c, _ in ranked])
            item = {"passes": np.asarray(scores) >= judge.threshold,
                    "verdicts": np.array([verdicts[SET, i, c] for c, _ in ranked], dtype=int)}
            ordered[name].append(ordered_verdicts(item, check.probabilities(reader_check.features(sim, text, ranked, scores)), False))
    return {"inputs": len(ordered["D0"]), "tail_penalty": PENALTY, **{name: top_shares(lists) for name, lists in ordered.items()}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("task", choices=["sheet", "score"])
    parser.add_argument("path", type=Path, nargs="?", help="sheet: the TSV to write")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    sim = load(checkpoints.locate("roformer_sim", None), checkpoints.device())
    if args.task == "sheet":
        if args.path is None:
            parser.error("sheet needs the TSV to write")
        write_sheet(sim, args.path)
        return
    print(json.dumps(score(sim, FluencyJudge(), read_verdicts(VERDICTS)), ensure_ascii=False))


if __name__ == "__main__":
    main()
