"""The order and the decoding of the paraphrase tab's candidates against a reader's verdicts on every candidate (rules
42q, 42r, 42s, 42t and 42u in the roformer_sim card): cosine to the input (C), the round trip (R: how likely the
generator finds the input given the candidate), R plus the forward probability (F), and the reader check
(``core.roformer_sim.reader_check``) fitted on one set of inputs and tested on the other, cross-validated over both, and
tested on new sentences; then the tail penalty (``generate.steer_to_stop``) on more new sentences.

    python benchmarks/roformer_sim_order.py sheet SHEET.tsv [--held-out]   # every candidate, for a blind reading
    python benchmarks/roformer_sim_order.py score                          # the shares of each order, one JSON line
    python benchmarks/roformer_sim_order.py held-out                       # rule 42t on the new sentences, one JSON line
    python benchmarks/roformer_sim_order.py sheet SHEET.tsv --decoding     # both decodings' candidates, for a blind reading
    python benchmarks/roformer_sim_order.py tail-penalty                   # rule 42u, one JSON line
    python benchmarks/roformer_sim_order.py sheet SHEET.tsv --recheck      # D1 on rule 42t's sentences, for a reading
    python benchmarks/roformer_sim_order.py recheck                        # the check after rule 42u, one JSON line

``sheet`` writes, for the 40 dev inputs and the 40 everyday sentences (``fit_reader_check.input_sets``), every distinct
candidate that changes more than punctuation (the tab's defaults), pooled per input and shuffled, with no score:
``set<TAB>input number<TAB>input<TAB>candidate``. The reader's verdicts go into ``benchmarks/reader_verdicts_all_beams.tsv``
(``set<TAB>input number<TAB>candidate<TAB>verdict``; the dev inputs are STS sentences, which are not committed).
``score`` prints, per set and order, the reader-accepted share of the top five and the share of inputs with an accepted
candidate there; "grouped" orders put the candidates the fluency judge passes first. ``fluency_alone`` scores the
same orders by a second reading of fluency alone (``benchmarks/reader_fluency_all_beams.tsv``), as the team's blind
reader judges. ``held-out`` orders the 40 new sentences of ``everyday_sentences_held_out.txt`` (verdicts in
``reader_verdicts_held_out.tsv``) by C, by the check fitted on all verdicts of the other 80 inputs (L0, the bundled one),
and by that check with one more feature, the characters a candidate appends after the input (T1). ``tail-penalty``
orders the 40 sentences of ``everyday_sentences_decoding.txt`` as the tab does, with the candidates of its beam search
without the tail penalty (D0) and with ``TAIL_PENALTY`` (D1), scored by ``reader_verdicts_decoding.tsv`` (read from the
union of both decodings' candidates, with no mark of which decoding wrote them). ``recheck`` scores D0 and D1 on rule
42t's sentences, D1's new candidates by ``reader_verdicts_held_out_tail_penalty.tsv``, which also re-reads as many old ones.
"""

from __future__ import annotations

import argparse
import difflib
import json
import random
from pathlib import Path

import numpy as np
import torch

from core import checkpoints
from core.roformer_sim import generate, reader_check
from core.roformer_sim.fit_reader_check import VERDICTS, candidates, input_sets, read_inputs, read_verdicts
from core.roformer_sim.fluency import FluencyJudge
from core.roformer_sim.model import load

TOP = 5
HELD_OUT = Path(__file__).with_name("everyday_sentences_held_out.txt")  # rule 42t's 40 new inputs
HELD_OUT_VERDICTS = Path(__file__).with_name("reader_verdicts_held_out.tsv")
DECODING = Path(__file__).with_name("everyday_sentences_decoding.txt")  # rule 42u's 40 new inputs
DECODING_VERDICTS = Path(__file__).with_name("reader_verdicts_decoding.tsv")
TAIL_PENALTY = 6.0  # rule 42u's D1, fixed before the reading
RECHECK_VERDICTS = Path(__file__).with_name("reader_verdicts_held_out_tail_penalty.tsv")  # D1 on rule 42t's sentences
COLUMN = {name: i for i, name in enumerate(reader_check.FEATURES)}
FIXED = {"C": lambda rows: rows[:, COLUMN["cosine"]], "R": lambda rows: rows[:, COLUMN["round_trip"]],
         "F": lambda rows: rows[:, COLUMN["round_trip"]] + rows[:, COLUMN["forward"]]}


def read_candidates(sim, text: str) -> list[str]:
    """The candidates the verdicts of the dev, everyday and held-out sentences were read for (no tail penalty)."""
    return [c for c, _ in candidates(sim, text)]


def both_decodings(sim, text: str) -> list[str]:
    """Rule 42u's sheet: the candidates of D0 (no tail penalty) and D1 (``TAIL_PENALTY``), each once."""
    return list(dict.fromkeys(c for penalty in (0.0, TAIL_PENALTY) for c, _ in candidates(sim, text, penalty)))


def recheck_pool(sim, text: str, already_read: set[str], rng: random.Random) -> list[str]:
    """The check after rule 42u: D1's candidates of a held-out sentence not read yet, and as many of its D0 candidates
    read before (at random), to be read again (test-retest)."""
    new = [c for c, _ in candidates(sim, text, TAIL_PENALTY) if c not in already_read]
    old = read_candidates(sim, text)
    return new + rng.sample(old, min(len(new), len(old)))


def write_sheet(sim, sheet: Path, sets: dict[str, list[str]], pool_of=read_candidates) -> None:
    rng = random.Random(42)
    lines = []
    for name, texts in sets.items():
        for i, text in enumerate(texts):
            pool = pool_of(sim, text)
            rng.shuffle(pool)
            lines += [f"{name}\t{i}\t{text}\t{c}\n" for c in pool]
    sheet.write_text("".join(lines), encoding="utf-8")
    print(json.dumps({"candidates": len(lines)}))


def lines_of(path: Path) -> list[str]:
    return [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def held_out_set() -> dict[str, list[str]]:
    return {"held_out": lines_of(HELD_OUT)}


def decoding_set() -> dict[str, list[str]]:
    return {"decoding": lines_of(DECODING)}


def ordered_verdicts(item: dict, values: np.ndarray, grouped: bool) -> list[int]:
    """One input's reader verdicts with its candidates ordered by ``values``, best first (after the judge's passes when
    ``grouped``)."""
    ranking = sorted(range(len(values)), key=lambda j: ((not item["passes"][j]) if grouped else 0, -values[j]))
    return [int(item["verdicts"][j]) for j in ranking]


def top_shares(ordered: list[list[int]]) -> dict:
    """Shares over inputs, each given as its candidates' verdicts in the order shown."""
    tops = [verdicts[:TOP] for verdicts in ordered]
    return {"top5_accepted": sum(map(sum, tops)), "top5_shown": sum(map(len, tops)),
            "top5_accepted_share": round(sum(map(sum, tops)) / max(sum(map(len, tops)), 1), 4),
            "inputs_with_accepted_in_top5": round(sum(any(top) for top in tops) / max(len(tops), 1), 4)}


def auc(scores: np.ndarray, labels: np.ndarray) -> float | None:
    kept, rejected = scores[labels == 1], scores[labels == 0]
    if not len(kept) or not len(rejected):
        return None
    return float(((kept[:, None] > rejected[None, :]) + 0.5 * (kept[:, None] == rejected[None, :])).mean())


def fitted_on(inputs: list[dict]) -> reader_check.ReaderCheck:
    return reader_check.fit(np.concatenate([item["rows"] for item in inputs]), np.concatenate([item["verdicts"] for item in inputs]))


def cross_validated(sets: dict[str, list[dict]], folds: int = 10) -> dict:
    """Rule 42s: each input ordered by a check fitted on the other folds (fold = input number mod ``folds``) of every
    set; the top-five shares per set and over all inputs, for L (judge's grouping kept), L0 (none) and C."""
    ordered: dict[str, dict[str, list[list[int]]]] = {order: {name: [] for name in sets} for order in ("L", "L0", "C")}
    for fold in range(folds):
        check = fitted_on([item for inputs in sets.values() for i, item in enumerate(inputs) if i % folds != fold])
        for name, inputs in sets.items():
            for item in inputs[fold::folds]:
                learned = check.probabilities(item["rows"])
                for order, values, grouped in (("L", learned, True), ("L0", learned, False), ("C", FIXED["C"](item["rows"]), True)):
                    ordered[order][name].append(ordered_verdicts(item, values, grouped))
    return {order: {**{name: top_shares(lists) for name, lists in by_set.items()},
                    "all": top_shares([verdicts for lists in by_set.values() for verdicts in lists])}
            for order, by_set in ordered.items()}


def fluency_shares(sets: dict[str, list[dict]], fluency: dict[tuple[str, int, str], int], folds: int = 10) -> dict:
    """The orders of ``cross_validated`` (the check fitted on the other folds' verdicts of fluent and faithful), and the
    judge's probability alone (J), scored by a reading of fluency alone: the share of the top five a reader who does not
    judge content accepts."""
    ordered: dict[str, dict[str, list[list[int]]]] = {order: {name: [] for name in sets} for order in ("L0", "C", "J")}
    for fold in range(folds):
        check = fitted_on([item for inputs in sets.values() for i, item in enumerate(inputs) if i % folds != fold])
        for name, inputs in sets.items():
            for i in range(fold, len(inputs), folds):
                item = inputs[i]
                fluent = {**item, "verdicts": np.array([fluency[name, i, text] for text in item["texts"]], dtype=int)}
                for order, values, grouped in (("L0", check.probabilities(item["rows"]), False),
                                               ("C", FIXED["C"](item["rows"]), True), ("J", item["rows"][:, COLUMN["judge"]], False)):
                    ordered[order][name].append(ordered_verdicts(fluent, values, grouped))
    return {order: {**{name: top_shares(lists) for name, lists in by_set.items()},
                    "all": top_shares([verdicts for lists in by_set.values() for verdicts in lists])}
            for order, by_set in ordered.items()}


def score(sets: dict[str, list[dict]]) -> dict:
    result = {}
    for name, inputs in sets.items():  # rule 42q, and how well each score ranks one input's candidates (mean AUC)
        aucs = {key: [auc(values(item["rows"]), item["verdicts"]) for item in inputs]
                for key, values in {**FIXED, "judge": lambda rows: rows[:, COLUMN["judge"]]}.items()}
        result[name] = {"inputs": len(inputs), "candidates": sum(len(item["verdicts"]) for item in inputs),
                        "accepted": int(sum(item["verdicts"].sum() for item in inputs)),
                        **{order: top_shares([ordered_verdicts(item, key(item["rows"]), True) for item in inputs])
                           for order, key in FIXED.items()},
                        "C_ungrouped": top_shares([ordered_verdicts(item, FIXED["C"](item["rows"]), False) for item in inputs]),
                        "mean_auc_within_input": {key: round(float(np.mean([a for a in values if a is not None])), 3)
                                                  for key, values in aucs.items()}}
    for fit_set, test_set in (("dev", "everyday"), ("everyday", "dev")):  # rule 42r, and its reverse
        check = fitted_on(sets[fit_set])
        result[f"fitted_on_{fit_set}"] = {
            "weights": dict(zip(reader_check.FEATURES, np.round(check.model.weights, 3).tolist())),
            **{name: {order: top_shares([ordered_verdicts(item, check.probabilities(item["rows"]), grouped) for item in inputs])
                      for order, grouped in (("L", True), ("L0", False))} for name, inputs in sets.items()}}
    result["cross_validated"] = cross_validated(sets)  # rule 42s
    return result


def appended(source: str, candidate: str) -> int:
    """Characters the candidate adds after the input's last character, less the final particles that end them
    (punctuation ignored): the question tails the generator learned from the bank questions (今天天气不错怎么回事: 4,
    今天天气不错啊: 0). Rule 42t's feature; not bundled."""
    a, b = generate.without_punctuation(source), generate.without_punctuation(candidate)
    operations = difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes()
    if not operations or operations[-1][0] != "insert" or operations[-1][1] != len(a):
        return 0
    _, _, _, start, end = operations[-1]
    return len(b[start:end].rstrip(generate.FINAL_PARTICLES))


def with_appended(read: dict[str, list[dict]], sets: dict[str, list[str]]) -> dict[str, list[dict]]:
    """The inputs of ``read`` with one more feature column: the characters each candidate appends."""
    return {name: [{**item, "rows": np.column_stack([item["rows"], [appended(sets[name][i], t) for t in item["texts"]]])}
                   for i, item in enumerate(inputs)] for name, inputs in read.items()}


def rule_42t(sim, judge: FluencyJudge) -> dict:
    """L0 (the eight features) and T1 (L0's plus the appended characters), each fitted on all verdicts of the dev and
    everyday inputs, and C, ordering the 40 new everyday sentences, scored by their verdicts."""
    old_sets, new_sets = input_sets(), held_out_set()
    old = read_inputs(sim, judge, read_verdicts(VERDICTS), old_sets)
    new = read_inputs(sim, judge, read_verdicts(HELD_OUT_VERDICTS), new_sets)
    old_t, new_t = with_appended(old, old_sets), with_appended(new, new_sets)
    l0 = fitted_on([item for inputs in old.values() for item in inputs])
    t1 = fitted_on([item for inputs in old_t.values() for item in inputs])
    items, items_t = new["held_out"], new_t["held_out"]
    return {"inputs": len(items), "candidates": sum(len(item["verdicts"]) for item in items),
            "accepted": int(sum(item["verdicts"].sum() for item in items)),
            "C": top_shares([ordered_verdicts(item, FIXED["C"](item["rows"]), True) for item in items]),
            "L0": top_shares([ordered_verdicts(item, l0.probabilities(item["rows"]), False) for item in items]),
            "T1": top_shares([ordered_verdicts(item, t1.probabilities(item["rows"]), False) for item in items_t]),
            "T1_weights": dict(zip([*reader_check.FEATURES, "appended"], np.round(t1.model.weights, 3).tolist())),
            "mean_auc_within_input": {name: round(float(np.mean([a for a in (auc(check.probabilities(item["rows"]), item["verdicts"])
                                                                             for item in inputs) if a is not None])), 3)
                                      for name, check, inputs in (("L0", l0, items), ("T1", t1, items_t))}}


def decodings_ordered(sim, judge: FluencyJudge, name: str, texts: list[str], verdicts: dict[tuple[str, int, str], int]) -> dict:
    """D0 (the tab's beam search without the tail penalty) and D1 (with ``TAIL_PENALTY``), each ordered by the bundled
    reader check as the tab orders, scored by ``verdicts`` of set ``name``: the top-five shares of each."""
    check = reader_check.load()
    ordered: dict[str, list[list[int]]] = {"D0": [], "D1": []}
    for i, text in enumerate(texts):
        for decoding, penalty in (("D0", 0.0), ("D1", TAIL_PENALTY)):
            ranked = candidates(sim, text, penalty)
            missing = [c for c, _ in ranked if (name, i, c) not in verdicts]
            if missing:
                raise ValueError(f"{name} input {i}: no verdict for {missing[0]!r} (the generator changed since the reading)")
            scores = judge.scores([c for c, _ in ranked])
            item = {"passes": np.asarray(scores) >= judge.threshold,
                    "verdicts": np.array([verdicts[name, i, c] for c, _ in ranked], dtype=int)}
            ordered[decoding].append(ordered_verdicts(item, check.probabilities(reader_check.features(sim, text, ranked, scores)), False))
    return {"inputs": len(texts), "tail_penalty": TAIL_PENALTY, **{decoding: top_shares(lists) for decoding, lists in ordered.items()}}


def rule_42u(sim, judge: FluencyJudge) -> dict:
    """D0 and D1 on the 40 sentences of ``DECODING``, scored by their verdicts."""
    return decodings_ordered(sim, judge, "decoding", decoding_set()["decoding"], read_verdicts(DECODING_VERDICTS))


def recheck(sim, judge: FluencyJudge) -> dict:
    """D0 and D1 on rule 42t's 40 sentences, scored by the first reading and, for the candidates only D1 writes, by the
    second; and how often the second reading agrees with the first on the candidates read twice."""
    first, second = read_verdicts(HELD_OUT_VERDICTS), read_verdicts(RECHECK_VERDICTS)
    twice = [key for key in second if key in first]
    return {**decodings_ordered(sim, judge, "held_out", held_out_set()["held_out"], {**second, **first}),
            "read_twice": len(twice), "same_verdict_twice": round(sum(first[k] == second[k] for k in twice) / max(len(twice), 1), 4),
            "accepted_first_reading_of_those": sum(first[k] for k in twice), "accepted_second_reading": sum(second[k] for k in twice)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("task", choices=["sheet", "score", "held-out", "tail-penalty", "recheck"])
    parser.add_argument("path", type=Path, nargs="?", help="sheet: the TSV to write")
    parser.add_argument("--verdicts", type=Path, default=VERDICTS)
    parser.add_argument("--fluency", type=Path, default=Path(__file__).with_name("reader_fluency_all_beams.tsv"),
                        help="score: a reading of fluency alone of the same candidates (same format)")
    parser.add_argument("--held-out", action="store_true",
                        help=f"sheet: the inputs of {HELD_OUT.name} (rule 42t's test) instead of dev and everyday")
    parser.add_argument("--decoding", action="store_true",
                        help=f"sheet: the inputs of {DECODING.name} with both decodings' candidates (rule 42u's test)")
    parser.add_argument("--recheck", action="store_true",
                        help=f"sheet: D1's unread candidates of {HELD_OUT.name} with as many read ones again (after rule 42u)")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    sim = load(checkpoints.locate("roformer_sim", None), checkpoints.device())
    if args.task == "sheet":
        if args.path is None:
            parser.error("sheet needs the TSV to write")
        if args.decoding:
            write_sheet(sim, args.path, decoding_set(), both_decodings)
        elif args.recheck:
            first, rng = read_verdicts(HELD_OUT_VERDICTS), random.Random(42)
            write_sheet(sim, args.path, held_out_set(),
                        lambda sim, text: recheck_pool(sim, text, {c for (_, _, c) in first}, rng))
        else:
            write_sheet(sim, args.path, held_out_set() if args.held_out else input_sets())
        return
    if args.task in ("held-out", "tail-penalty", "recheck"):
        task = {"held-out": rule_42t, "tail-penalty": rule_42u, "recheck": recheck}[args.task]
        print(json.dumps(task(sim, FluencyJudge()), ensure_ascii=False))
        return
    sets = read_inputs(sim, FluencyJudge(), read_verdicts(args.verdicts), input_sets())
    print(json.dumps({**score(sets), "fluency_alone": fluency_shares(sets, read_verdicts(args.fluency))}, ensure_ascii=False))


if __name__ == "__main__":
    main()
