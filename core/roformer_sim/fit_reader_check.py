"""Fit the paraphrase tab's reader check (``reader_check``) on a reader's verdicts of every candidate the tab's
defaults write for a set of inputs, with the bundled generator and fluency judge.

    python -m core.roformer_sim.fit_reader_check [--verdicts benchmarks/reader_verdicts_all_beams.tsv] [--out FILE]

The inputs are the 40 dev inputs of ``evaluate shown --inputs dev --limit 10`` ("dev") and the 40 everyday sentences of
``benchmarks/everyday_sentences.txt`` ("everyday"). The verdicts file has one line per candidate,
``set<TAB>input number<TAB>candidate<TAB>verdict`` (1 = fluent Chinese that keeps the input's meaning); the candidates
are regenerated here, with the decoding they were read for (no tail penalty, ``READ_TAIL_PENALTY``), and one without a
verdict is an error (the generator or the judge changed since the reading).
``benchmarks/roformer_sim_order.py`` measures orders of the same candidates by cross-validation.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from core import checkpoints
from core.roformer_sim import generate, reader_check
from core.roformer_sim.data import STS_DIR
from core.roformer_sim.evaluate import dev_inputs
from core.roformer_sim.fluency import FluencyJudge
from core.roformer_sim.model import Sim, load

EVERYDAY = checkpoints.REPO_ROOT / "benchmarks" / "everyday_sentences.txt"
VERDICTS = checkpoints.REPO_ROOT / "benchmarks" / "reader_verdicts_all_beams.tsv"
READ_TAIL_PENALTY = 0.0  # the verdicts were read for beam search before the tab's tail penalty (rule 42u) existed


def input_sets(everyday: Path = EVERYDAY) -> dict[str, list[str]]:
    lines = [line.strip() for line in everyday.read_text(encoding="utf-8").splitlines() if line.strip()]
    return {"dev": dev_inputs(STS_DIR, 10), "everyday": lines}


def candidates(sim: Sim, text: str, tail_penalty: float = READ_TAIL_PENALTY) -> list[tuple[str, float]]:
    """Every (candidate, cosine) the tab judges with its defaults but the tail penalty (by default the one the
    verdicts were read for), best cosine first."""
    d = generate.TAB_DEFAULTS
    return generate.beyond_punctuation(generate.paraphrase(sim, text, d["n"], d["n"], d["top_p"], d["seed"], beam=d["beam"],
                                                           tail_penalty=tail_penalty), text)


def read_verdicts(path: Path) -> dict[tuple[str, int, str], int]:
    verdicts = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            name, number, candidate, verdict = line.split("\t")
            verdicts[name, int(number), candidate] = int(verdict)
    return verdicts


def read_inputs(sim: Sim, judge: FluencyJudge, verdicts: dict[tuple[str, int, str], int],
                sets: dict[str, list[str]]) -> dict[str, list[dict]]:
    """Per set, per input: its candidates (``texts``), the judge's verdicts (``passes``), feature rows and the reader's
    verdicts."""
    read: dict[str, list[dict]] = {}
    for name, texts in sets.items():
        read[name] = []
        for i, text in enumerate(texts):
            ranked = candidates(sim, text)
            missing = [c for c, _ in ranked if (name, i, c) not in verdicts]
            if missing:
                raise ValueError(f"no verdict for {len(missing)} candidates of {name} input {i} ({text!r}), e.g. {missing[0]!r}: "
                                 "the generator or the judge is not the one the verdicts were read for")
            scores = judge.scores([c for c, _ in ranked])
            read[name].append({"texts": [c for c, _ in ranked], "passes": np.asarray(scores) >= judge.threshold,
                               "rows": reader_check.features(sim, text, ranked, scores),
                               "verdicts": np.array([verdicts[name, i, c] for c, _ in ranked], dtype=int)})
    return read


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--verdicts", type=Path, default=VERDICTS)
    parser.add_argument("--everyday", type=Path, default=EVERYDAY)
    parser.add_argument("--out", type=Path, default=reader_check.ASSET_FILE)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    sim = load(checkpoints.locate("roformer_sim", None), checkpoints.device())
    read = read_inputs(sim, FluencyJudge(), read_verdicts(args.verdicts), input_sets(args.everyday))
    items = [item for inputs in read.values() for item in inputs]
    verdicts = np.concatenate([item["verdicts"] for item in items])
    about = {"verdicts": str(args.verdicts.name), "inputs": {name: len(inputs) for name, inputs in read.items()},
             "candidates": int(len(verdicts)), "accepted": int(verdicts.sum())}
    check = reader_check.fit(np.concatenate([item["rows"] for item in items]), verdicts, reader_check.fingerprint(sim), about)
    args.out.write_text(json.dumps(check.to_json(), ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    print(json.dumps({"out": str(args.out), **about, "weights": dict(zip(reader_check.FEATURES, np.round(check.model.weights, 3).tolist()))}))


if __name__ == "__main__":
    main()
