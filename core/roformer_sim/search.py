"""Sentence search: the FAQ-bot use of SimBERT / RoFormer-Sim (ZhuiyiTechnology/roformer-sim test/retrieval.py).

A list of sentences (a FAQ, up to ``MAX_LINES``) is encoded once into unit vectors; a query is encoded
the same way and the list's sentences are ranked by cosine (= inner product of unit vectors). Encoded
lists are kept per process, keyed by the model and a hash of the list, so every later query on the same
list costs one sentence encoding plus the look-up. The look-up is a numpy matrix-vector product for small
lists and a faiss ``IndexFlatIP`` (exact, same scores) from ``FAISS_MIN_LINES`` on, where it is faster
(benchmarks/sentence_search.py prints both).
"""

from __future__ import annotations

import csv
import hashlib
import io
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Callable, Sequence

import faiss
import numpy as np

from core.roformer_sim import generate
from core.roformer_sim.model import Sim

MAX_LINES = 50_000
# Measured with one thread on this CPU (256- and 768-dim vectors): at 1,000 lines numpy and faiss both take
# about a millisecond, at 10,000 faiss is 2-3x faster (3.5 vs 10.7 ms at 256 dims).
FAISS_MIN_LINES = 5_000
CACHED_LISTS = 4  # encoded lists kept per process; a 50,000-line list of 768-dim vectors is 154 MB
ENCODE_BATCH = 128


# ---------------------------------------------------------------- reading and checking a list


def sentences_from_text(text: str) -> list[str]:
    """Non-empty stripped lines, duplicates dropped (first kept), in order."""
    return list(dict.fromkeys(line.strip() for line in (text or "").splitlines() if line.strip()))


def sentences_from_csv(text: str) -> list[str]:
    """The first column of every row (quoted cells may hold commas), duplicates dropped."""
    return sentences_from_text("\n".join(row[0] for row in csv.reader(io.StringIO(text)) if row))


def sentences_from_file(path: str | Path) -> list[str]:
    """A .txt (one sentence per line) or .csv (first column) file; a UTF-8 byte-order mark is ignored."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise ValueError(f"{path.name} is not UTF-8 text: save it as UTF-8 (one sentence per line, or a CSV)") from None
    return sentences_from_csv(text) if path.suffix.lower() == ".csv" else sentences_from_text(text)


def check_sentences(sentences: Sequence[str]) -> None:
    if not sentences:
        raise ValueError("The sentence list is empty: paste sentences, one per line, or upload a .txt or .csv file.")
    if len(sentences) > MAX_LINES:
        raise ValueError(f"The sentence list has {len(sentences):,} distinct lines; at most {MAX_LINES:,} can be searched.")


def check_query(query: str) -> str:
    query = (query or "").strip()
    if not query:
        raise ValueError("Type a query: the query is empty.")
    return query


def check_k(k: int) -> int:
    if k < 1:
        raise ValueError(f"k (results to show) must be at least 1, got {k}")
    return k


def list_hash(sentences: Sequence[str]) -> str:
    """A digest of the list's content and order (the row numbers the index returns depend on the order)."""
    digest = hashlib.sha256()
    for sentence in sentences:
        digest.update(sentence.encode("utf-8") + b"\n")
    return digest.hexdigest()


def top_k(vectors: np.ndarray, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Rows of the k largest inner products with ``query``, best first (ties: lower row first), and the scores."""
    scores = vectors @ query
    k = min(k, len(scores))
    best = np.argpartition(-scores, k - 1)[:k]
    best = best[np.lexsort((best, -scores[best]))]
    return best, scores[best]


# ---------------------------------------------------------------- index


class SentenceIndex:
    """Unit vectors of a list of sentences and an exact inner-product look-up over them."""

    def __init__(self, sentences: Sequence[str], vectors: np.ndarray):
        self.sentences = list(sentences)
        self.vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        self.faiss = None
        if len(self.sentences) >= FAISS_MIN_LINES:
            self.faiss = faiss.IndexFlatIP(self.vectors.shape[1])
            self.faiss.add(self.vectors)

    @property
    def library(self) -> str:
        return "faiss" if self.faiss is not None else "numpy"

    def search(self, query_vector: np.ndarray, k: int) -> list[tuple[str, float]]:
        """The k (sentence, cosine) pairs closest to a unit query vector, best first."""
        query_vector = np.asarray(query_vector, dtype=np.float32)
        if self.faiss is None:
            rows, scores = top_k(self.vectors, query_vector, k)
        else:
            scores, rows = self.faiss.search(query_vector[None], min(k, len(self.sentences)))
            rows, scores = rows[0], scores[0]
        return [(self.sentences[r], float(s)) for r, s in zip(rows, scores)]


def build_index(sim: Sim, sentences: Sequence[str], report: Callable[[int], None] | None = None) -> SentenceIndex:
    """Encode the list (length-sorted batches; ``report(done)`` after each) into a SentenceIndex."""
    check_sentences(sentences)
    return SentenceIndex(sentences, generate.encode(sim, sentences, batch_size=ENCODE_BATCH, report=report))


class IndexCache:
    """The last ``size`` encoded lists, keyed by (model, list hash); thread-safe, built once per key.

    An entry holds its model, so the model's id() cannot be reused by another model while the entry lives.
    """

    def __init__(self, size: int = CACHED_LISTS):
        self.size = size
        self.entries: OrderedDict[tuple[int, str], tuple[Sim, SentenceIndex]] = OrderedDict()
        self.guard = threading.Lock()

    def get(self, sim: Sim, sentences: Sequence[str], report: Callable[[int], None] | None = None) -> tuple[SentenceIndex, bool]:
        """The list's index and whether it came from the cache (False: it was encoded now)."""
        key = (id(sim), list_hash(sentences))
        with self.guard:
            if key in self.entries:
                self.entries.move_to_end(key)
                return self.entries[key][1], True
        # Encoding runs outside the lock so other lists and queries are not held up by a long list.
        index = build_index(sim, sentences, report)
        with self.guard:
            self.entries[key] = (sim, index)
            self.entries.move_to_end(key)
            while len(self.entries) > self.size:
                self.entries.popitem(last=False)
        return index, False


def query_vector(sim: Sim, query: str) -> np.ndarray:
    return generate.encode(sim, [generate.check_text(check_query(query), sim, "the query")])[0]
