"""Readers of the data RoFormer-Sim trains and is scored on, and the held-out dev set.

Labelled pairs: Su's ``chinese_sts`` folder (``<NAME>/<NAME>.{train,valid,test}.data``, lines
``sentence1<TAB>sentence2<TAB>label``; ATEC, BQ, LCQMC with 0/1 labels, STS-B with 0-5). Training
reads only the train/valid files (``TRAIN_FILES``); a stratified part of them is held out as the dev
set (``split_dev``) on which every training choice is scored. The test files are for
``core.roformer_sim.evaluate`` alone. More labelled pairs (``chinese_sts_extra``: AFQMC, OPPO-xiaobu,
SimCLUE, QBQTC, NLI; their evaluation-set pairs were removed before staging) join when asked
(``labelled_pairs(..., extra_dir=...)``), with their own held-out dev pairs. Raw text for the
noised-sentence pairs: reviews and MSRA news of ChineseNlpCorpus.
"""

from __future__ import annotations

import csv
import lzma
import random
import zipfile
from pathlib import Path

import numpy as np
from scipy.stats import spearmanr

from core import checkpoints
from core.roformer_sim import generate
from core.roformer_sim.model import Sim

DATA_DIR = checkpoints.SHARED_DATA
STS_DIR = DATA_DIR / "chinese_sts"
DATASETS = ("ATEC", "BQ", "LCQMC", "STS-B")
TRAIN_FILES = {  # dataset -> its train/valid files (ATEC's full train split is not available here)
    "ATEC": ["ATEC.train.partial.data", "ATEC.valid.data"],
    "BQ": ["BQ.valid.data"],
    "LCQMC": ["LCQMC.valid.data"],
    "STS-B": ["STS-B.train.data", "STS-B.valid.data"],
}
EXTRA_DIR = DATA_DIR / "chinese_sts_extra"
PROSE_FILE = Path("modern_prose") / "niutrans_modern.txt.xz"  # one sentence a line, in book order (data README §16)
# The prose's first lines are the fluency judge's: fluency.real_sentences reads the first 20 × 1500 = 30,000; the char LM
# never trains on these (a margin beyond), and the judge's word bigrams never count them.
JUDGE_LINES = 40_000
# The cinlid idiom NLI file is left out: four-character idioms are far from the test sets' questions and
# sentences, and its 91k pairs would outweigh every other source.
EXTRA_FILES = {
    "AFQMC": ["afqmc_train.tsv.xz", "afqmc_dev.tsv.xz"],
    "OPPO": ["oppo_xiaobu_dev.tsv.xz"],
    "SimCLUE": ["simclue_train_pair_1w.tsv.xz", "simclue_train_rank_1w_pairs.tsv.xz"],
    "QBQTC": ["qbqtc_dev.tsv.xz", "qbqtc_test_public.tsv.xz"],
    "NLI": ["cmnli_dev.tsv.xz", "csnli_dev.tsv.xz", "csnli_test.tsv.xz", "ocnli_train10k.tsv.xz", "ocnli_dev.tsv.xz"],
}
# Graded for CoSENT, which only ranks labels within a batch: an entailed hypothesis is closer to its
# premise than a neutral one, a contradiction farthest (the supervised-SimCSE signal, as a ranking).
NLI_LABELS = {"contradiction": 0.0, "neutral": 1.0, "entailment": 2.0}
# Query-title relevance and entailment are not paraphrase: these sources never feed the generator.
NOT_PARAPHRASES = ("QBQTC", "NLI")
STSB_PARAPHRASE = 4  # STS-B scores 4-5 mean "equivalent" / "mostly equivalent": treated as positives
DEV_PAIRS = 400  # held out per dataset (from the train/valid files) for the dev score
DEV_SEED = 0
PUNCTUATION = set("\n。！？!?；;，, …~～")


# ----------------------------------------------------------------------------- labelled pairs


def read_pairs(path: Path, limit: int | None = None) -> list[tuple[str, str, float]]:
    """``sentence1<TAB>sentence2<TAB>label`` lines (Su's *.data files, the extra *.tsv.xz files; NLI labels
    as ``NLI_LABELS``); malformed lines are skipped."""
    if path.suffix == ".xz":
        with lzma.open(path, "rt", encoding="utf-8") as f:
            text = f.read()
    else:
        text = path.read_text(encoding="utf-8")
    pairs = []
    for line in text.splitlines():
        parts = line.strip().split("\t")
        if len(parts) == 3 and parts[0] and parts[1]:
            label = NLI_LABELS.get(parts[2])
            pairs.append((parts[0], parts[1], float(parts[2]) if label is None else label))
    return pairs[:limit] if limit else pairs


def test_file(sts_dir: Path, name: str) -> Path:
    return sts_dir / name / f"{name}.test.data"


def is_positive(dataset: str, label: float) -> bool:
    """A pair the generator may learn to write from either side (never QBQTC or NLI)."""
    return dataset not in NOT_PARAPHRASES and label >= (STSB_PARAPHRASE if dataset == "STS-B" else 1)


def pair_key(a: str, b: str) -> frozenset:
    return frozenset(("".join(a.split()), "".join(b.split())))


def labelled_pairs(sts_dir: Path, extra_dir: Path | None = None) -> dict[str, list[tuple[str, str, float]]]:
    """Every dataset's train/valid pairs; never a test split. With ``extra_dir`` also the extra sources,
    minus every pair (unordered, spaces ignored) already read from an earlier dataset or file: AFQMC
    repeats ATEC pairs, the two SimCLUE files repeat each other. The four original datasets are read
    as before, so their dev split does not move."""
    out = {}
    for name, files in TRAIN_FILES.items():
        out[name] = []
        for file in files:
            assert ".test." not in file, "test splits are never trained on"
            out[name] += read_pairs(sts_dir / name / file)
    if extra_dir is not None:
        seen = {pair_key(a, b) for rows in out.values() for a, b, _ in rows}
        for name, files in EXTRA_FILES.items():
            out[name] = []
            for file in files:
                for a, b, label in read_pairs(Path(extra_dir) / file):
                    if (key := pair_key(a, b)) not in seen:
                        seen.add(key)
                        out[name].append((a, b, label))
    return out


def nli_triplets(rows: list[tuple[str, str, float]]) -> list[tuple[str, str, str]]:
    """(premise, entailed hypothesis, contradicting hypothesis) for supervised SimCSE (Gao et al. 2021).

    Each entailment of a premise is paired with one of the same premise's contradictions (in turn, in
    the order of ``rows``); premises lacking either kind give nothing. Neutral hypotheses are not used.
    """
    by_premise: dict[str, dict[float, list[str]]] = {}
    for premise, hypothesis, label in rows:
        by_premise.setdefault(premise, {}).setdefault(label, []).append(hypothesis)
    entailment, contradiction = NLI_LABELS["entailment"], NLI_LABELS["contradiction"]
    triplets = []
    for premise, hypotheses in by_premise.items():
        negatives = hypotheses.get(contradiction, [])
        for i, positive in enumerate(hypotheses.get(entailment, []) if negatives else []):
            triplets.append((premise, positive, negatives[i % len(negatives)]))
    return triplets


def split_dev(pairs: dict[str, list], n_dev: int = DEV_PAIRS, seed: int = DEV_SEED) -> tuple[dict[str, list], dict[str, list]]:
    """(train, dev): ``n_dev`` pairs of each dataset held out, chosen by a seeded shuffle."""
    train, dev = {}, {}
    for name, rows in pairs.items():
        rows = rows[:]
        random.Random(seed).shuffle(rows)
        dev[name], train[name] = rows[:n_dev], rows[n_dev:]
    return train, dev


# ----------------------------------------------------------------------------- raw text


def consecutive_sentences(path: Path) -> list[tuple[str, str]]:
    """(sentence, the next line) of one-sentence-a-line prose: left-to-right text for the generator."""
    with lzma.open(path, "rt", encoding="utf-8") as f:
        lines = [line.strip() for line in f]
    return [(a, b) for a, b in zip(lines, lines[1:]) if a and b]


def first_piece(text: str, max_chars: int) -> str:
    """The text up to its first sentence-level punctuation mark (Su keeps only the first piece)."""
    for i, ch in enumerate(text):
        if ch in PUNCTUATION and i >= 4:
            return text[:i]
    return text[:max_chars]


def raw_sentences(data_dir: Path, max_chars: int) -> list[str]:
    """Short clauses of reviews and news (ChineseNlpCorpus): the noised-sentence pairs' raw text."""
    corpus = data_dir / "chinese_nlp_corpus"
    texts = []
    for name in ("waimai_10k.csv", "ChnSentiCorp_htl_all.csv"):
        with open(corpus / name, encoding="utf-8-sig", newline="") as f:
            texts += [row["review"] for row in csv.DictReader(f)]
    with zipfile.ZipFile(corpus / "dh_msra.zip") as z:
        lines = z.read(z.namelist()[0]).decode("utf-8").split("\n\n")
    texts += ["".join(line.split("\t")[0] for line in block.splitlines() if line) for block in lines]
    pieces = {first_piece(t.strip(), max_chars) for t in texts}
    return sorted(p for p in pieces if 6 <= len(p) <= max_chars)


# ----------------------------------------------------------------------------- scores


def spearman(scores, labels) -> float:
    """Spearman × 100, the unit of Su's tables."""
    return float(spearmanr(scores, labels).correlation * 100)


def dev_spearman(sim: Sim, dev: dict[str, list]) -> dict[str, float]:
    """Spearman of cosine vs label on each dataset's dev pairs and their mean ("avg", what runs are
    chosen by); with the extra sources also the mean of the four test-set datasets alone ("avg4")."""
    was_training = sim.model.training
    sim.model.eval()
    scores = {name: round(spearman(generate.pair_cosines(sim, rows), [r[2] for r in rows]), 2) for name, rows in dev.items()}
    sim.model.train(was_training)
    if set(dev) - set(DATASETS):
        scores["avg4"] = round(float(np.mean([scores[name] for name in DATASETS])), 2)
    scores["avg"] = round(float(np.mean([v for name, v in scores.items() if name != "avg4"])), 2)
    return scores
