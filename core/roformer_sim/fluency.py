"""A fluency judge that is not the generator: a character n-gram language model (KenLM) trained on prose.

The generator's own probabilities cannot judge its output (it likes what it writes), so candidates are
scored by an independent model: a modified Kneser-Ney character 4-gram LM built with KenLM's ``lmplz``
from ``../shared/data/chinese_prose`` (news titles, reviews, stories, abstracts, app descriptions; no
sentence of the STS sets the generator is evaluated on). A sentence's score is its log10 probability per
character, the end of sentence counted as one more token. It is calibrated on real sentences: a candidate
counts as fluent when it scores at least the 10th percentile of the distinct sentences of the four STS
test files, i.e. at least as well as nine in ten real sentences of the kind the generator paraphrases.

    python -m core.roformer_sim.fluency build [--kenlm-bin DIR]    # writes assets/roformer_sim/fluency/
    python -m core.roformer_sim.fluency score "今天天气怎么样" "问这天天天天怎么样"

Querying needs only the ``kenlm`` Python package (PyPI). Building needs KenLM's ``lmplz`` and
``build_binary``, which the pip package does not ship: compile them from the same source
(``pip download kenlm==0.3.0 --no-deps --no-binary :all:``, then ``cmake`` and ``make lmplz build_binary``;
Debian needs ``libboost-program-options-dev libboost-system-dev libboost-thread-dev libboost-test-dev``).
"""

from __future__ import annotations

import argparse
import json
import lzma
import re
import shutil
import subprocess
import tempfile
import unicodedata
from pathlib import Path
from typing import Iterable, Iterator, Sequence

import kenlm
import numpy as np

from core import checkpoints
from core.roformer_sim.data import DATASETS, STS_DIR, read_pairs, test_file

ASSET_DIR = checkpoints.ASSETS_DIR / "roformer_sim" / "fluency"
MODEL_FILE = "chars.klm"
CALIBRATION_FILE = "calibration.json"
DEFAULT_PROSE_DIR = checkpoints.SHARED_DATA / "chinese_prose"
ORDER = 4
# Highest count dropped per order (lmplz --prune): singleton bigrams, trigrams and 4-grams seen at most
# twice are dropped, which keeps the quantised model under the 9.5 MB bundle limit.
PRUNE = (0, 1, 2, 2)
PERCENTILE = 10
SENTENCE_END = re.compile(r"(?<=[。！？!?；;])")
BLANK = "_"  # idiom passages keep a blank (＿, NFKC "_") where no answer was given: not real text


# ---------------------------------------------------------------- pure pieces


def normalize(text: str) -> str:
    """NFKC (full-width Latin, digits and punctuation to half-width) and lower case, so "？" and "?" are one token."""
    return unicodedata.normalize("NFKC", text).lower()


def char_tokens(text: str) -> list[str]:
    """The LM's tokens: every non-space character of the normalised text."""
    return [ch for ch in normalize(text) if not ch.isspace()]


def prose_sentences(documents: Iterable[str], min_chars: int = 4) -> Iterator[list[str]]:
    """Tokens of the sentences of one-document-per-line prose: split after 。！？；, without blanks, at least
    ``min_chars`` long."""
    for document in documents:
        for sentence in SENTENCE_END.split(document):
            tokens = char_tokens(sentence)
            if len(tokens) >= min_chars and BLANK not in tokens:
                yield tokens


def per_char_log10(total_log10: float, n_chars: int) -> float:
    """Log10 probability per token of a sentence of ``n_chars`` characters plus the end-of-sentence token."""
    return total_log10 / (n_chars + 1)


def sentence_score(model: kenlm.Model, text: str) -> float:
    tokens = char_tokens(text)
    return per_char_log10(model.score(" ".join(tokens), bos=True, eos=True), len(tokens))


def threshold_at(scores: Sequence[float], percentile: float = PERCENTILE) -> float:
    return float(np.percentile(np.asarray(scores, dtype=np.float64), percentile))


# ---------------------------------------------------------------- the judge


class FluencyJudge:
    """The bundled (or a given) character LM and its calibrated threshold."""

    def __init__(self, directory: str | Path = ASSET_DIR):
        directory = Path(directory)
        if not (directory / MODEL_FILE).is_file():
            raise FileNotFoundError(f"no fluency model in {directory}: build it with `python -m core.roformer_sim.fluency build`")
        self.model = kenlm.Model(str(directory / MODEL_FILE))
        self.calibration = json.loads((directory / CALIBRATION_FILE).read_text(encoding="utf-8"))
        self.threshold = float(self.calibration["threshold"])

    def score(self, text: str) -> float:
        return sentence_score(self.model, text)

    def is_fluent(self, text: str) -> bool:
        return self.score(text) >= self.threshold


def judged_candidates(ranked: Sequence[tuple[str, float]], judge: FluencyJudge,
                      fluent_first: bool) -> list[tuple[str, float, float, bool]]:
    """(sentence, cosine, fluency score, fluent) for each (sentence, cosine) of ``ranked``, best cosine first; with
    ``fluent_first`` the candidates the judge finds fluent come first, each group still in cosine order.

    For showing candidates only: ``evaluate generate`` ranks by cosine alone, so that the judge stays a judge."""
    rows = []
    for text, cosine in ranked:
        score = judge.score(text)
        rows.append((text, cosine, score, score >= judge.threshold))
    return sorted(rows, key=lambda row: not row[3]) if fluent_first else rows


# ---------------------------------------------------------------- building


def read_documents(paths: Sequence[Path]) -> Iterator[str]:
    for path in paths:
        opener = lzma.open if path.suffix == ".xz" else open
        with opener(path, "rt", encoding="utf-8") as f:
            yield from (line.strip() for line in f)


def kenlm_tool(name: str, kenlm_bin: Path | None) -> str:
    found = shutil.which(name, path=str(kenlm_bin) if kenlm_bin else None)
    if not found:
        raise FileNotFoundError(f"KenLM's {name} not found{f' in {kenlm_bin}' if kenlm_bin else ' on PATH'}: see this module's docstring")
    return found


def train(corpus: Path, out_file: Path, kenlm_bin: Path | None, work_dir: Path, memory: str) -> None:
    """lmplz (modified Kneser-Ney, pruned) to ARPA, then build_binary to an 8-bit quantised trie."""
    arpa = work_dir / "chars.arpa"
    prune = [str(p) for p in PRUNE]
    with open(corpus, "rb") as src, open(arpa, "wb") as dst:
        # --discount_fallback only acts where the data are too small to estimate discounts (tests' toy corpora)
        subprocess.run([kenlm_tool("lmplz", kenlm_bin), "-o", str(ORDER), "--prune", *prune, "-S", memory,
                        "-T", str(work_dir), "--discount_fallback"], stdin=src, stdout=dst, check=True)
    subprocess.run([kenlm_tool("build_binary", kenlm_bin), "-q", "8", "-b", "8", "trie", str(arpa), str(out_file)], check=True)


def sts_test_sentences(sts_dir: Path) -> list[str]:
    """The distinct sentences of the four STS test files: what real inputs of the generator look like."""
    return list(dict.fromkeys(s for name in DATASETS for a, b, _ in read_pairs(test_file(sts_dir, name)) for s in (a, b)))


def build(prose_dir: Path, sts_dir: Path, out_dir: Path, kenlm_bin: Path | None, memory: str = "1G") -> dict:
    prose_files = sorted(prose_dir.glob("*.txt*"))
    if not prose_files:
        raise FileNotFoundError(f"no prose files (*.txt, *.txt.xz) in {prose_dir}")
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        corpus = Path(tmp) / "corpus.txt"
        n_sentences = n_chars = 0
        with open(corpus, "w", encoding="utf-8") as f:
            for tokens in prose_sentences(read_documents(prose_files)):
                f.write(" ".join(tokens) + "\n")
                n_sentences += 1
                n_chars += len(tokens)
        train(corpus, out_dir / MODEL_FILE, kenlm_bin, Path(tmp), memory)
    model = kenlm.Model(str(out_dir / MODEL_FILE))
    real = sts_test_sentences(sts_dir)
    scores = [sentence_score(model, text) for text in real]
    calibration = {
        "threshold": round(threshold_at(scores), 6),
        "percentile": PERCENTILE,
        "score": "log10 probability per character, the end of sentence counted as one more token",
        "calibrated_on": f"{len(real)} distinct sentences of the ATEC, BQ, LCQMC and STS-B test files",
        "real_sentence_percentiles": {str(p): round(threshold_at(scores, p), 4) for p in (1, 5, 10, 25, 50, 75, 90)},
        "order": ORDER,
        "prune": list(PRUNE),
        "trained_on": [p.name for p in prose_files],
        "training_sentences": n_sentences,
        "training_chars": n_chars,
        "command": "python -m core.roformer_sim.fluency build",
    }
    (out_dir / CALIBRATION_FILE).write_text(json.dumps(calibration, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return calibration


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build", help="train the character LM on prose and calibrate it on the STS test sentences")
    b.add_argument("--prose-dir", type=Path, default=DEFAULT_PROSE_DIR)
    b.add_argument("--sts-dir", type=Path, default=STS_DIR)
    b.add_argument("--out", type=Path, default=ASSET_DIR)
    b.add_argument("--kenlm-bin", type=Path, default=None, help="folder with lmplz and build_binary (default: PATH)")
    b.add_argument("--memory", default="1G", help="lmplz -S: memory for its sort buffers")
    s = sub.add_parser("score", help="score sentences with the bundled judge")
    s.add_argument("sentences", nargs="+")
    args = parser.parse_args(argv)
    if args.command == "build":
        result = build(args.prose_dir, args.sts_dir, args.out, args.kenlm_bin, args.memory)
    else:
        judge = FluencyJudge()
        result = {"threshold": judge.threshold,
                  "scores": [{"sentence": t, "score": round(judge.score(t), 4), "fluent": judge.is_fluent(t)} for t in args.sentences]}
    print(json.dumps(result, ensure_ascii=False))


if __name__ == "__main__":
    main()
