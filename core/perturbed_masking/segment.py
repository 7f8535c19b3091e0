"""Word segmentation from adjacent-character impacts (Su, kexue.fm/archives/7476).

Characters k and k+1 stay in one word when their mean two-way impact is at least the
threshold (a larger threshold gives finer words). Punctuation always stands alone. Text
longer than the model's limit is cut at punctuation first and each piece is read on its own.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from core.perturbed_masking.impact import Encoder, Progress, adjacent_impacts, word_spans
from core.perturbed_masking.text import is_punctuation, split_long

# Longest piece read at once: the length the bundled model was trained on, and context
# enough for word boundaries (longer text is cut at punctuation).
PIECE_CHARS = 62


def join_decisions(text: str, adjacent: Sequence[float], threshold: float) -> list[bool]:
    """For each gap k (between chars k and k+1): True = same word."""
    if len(adjacent) != max(len(text) - 1, 0):
        raise ValueError(f"{len(adjacent)} gap scores for a text of {len(text)} characters")
    return [
        bool(score >= threshold) and not is_punctuation(text[k]) and not is_punctuation(text[k + 1])
        for k, score in enumerate(adjacent)
    ]


def words_from_decisions(text: str, joined: Sequence[bool]) -> list[str]:
    words, start = [], 0
    for k, join in enumerate(joined):
        if not join:
            words.append(text[start : k + 1])
            start = k + 1
    if text:
        words.append(text[start:])
    return words


@dataclass
class Segmentation:
    """Words of a text plus the evidence: per-gap impacts of every layer (NaN where the text was cut)."""

    text: str
    gaps: np.ndarray  # (layers + 1, len(text) − 1)

    def words(self, layer: int, threshold: float) -> list[str]:
        if not 0 <= layer < self.gaps.shape[0]:
            raise ValueError(f"layer must be between 0 and {self.gaps.shape[0] - 1}, got {layer}")
        return words_from_decisions(self.text, join_decisions(self.text, np.nan_to_num(self.gaps[layer], nan=-np.inf), threshold))


def analyse(encoder: Encoder, text: str, progress: Progress | None = None) -> Segmentation:
    """Gap impacts of a text of any length, read in pieces of at most ``PIECE_CHARS`` characters."""
    text = "".join(text.split())
    if not text:
        raise ValueError("the text is empty: type a Chinese sentence")
    pieces = split_long(text, min(PIECE_CHARS, encoder.max_chars))
    parts = []
    for index, piece in enumerate(pieces):
        parts.append(adjacent_impacts(encoder, piece, progress) if len(piece) > 1 else np.zeros((encoder.num_layers + 1, 0)))
        if index < len(pieces) - 1:
            parts.append(np.full((encoder.num_layers + 1, 1), np.nan))  # pieces never join
    return Segmentation(text, np.concatenate(parts, axis=1).astype(np.float32))


def jieba_words(text: str) -> list[str]:
    """The dictionary-based reference the tab and the evaluation compare with."""
    import jieba

    jieba.setLogLevel(logging.WARNING)
    return jieba.lcut(text)


def segment(encoder: Encoder, text: str, layer: int | None = None, threshold: float | None = None) -> list[str]:
    layer = encoder.default_layer if layer is None else layer
    threshold = encoder.default_threshold if threshold is None else threshold
    return analyse(encoder, text).words(layer, threshold)


# ----------------------------------------------------------------------------- scoring


@dataclass
class SpanCounts:
    """Running totals for word precision/recall/F1 by character spans (SIGHAN scoring)."""

    correct: int = 0
    predicted: int = 0
    gold: int = 0

    def add(self, predicted: Sequence[str], gold: Sequence[str]) -> None:
        if "".join(predicted) != "".join(gold):
            raise ValueError(f"segmentations of different texts: {''.join(predicted)!r} vs {''.join(gold)!r}")
        p, g = set(word_spans(predicted)), set(word_spans(gold))
        self.correct += len(p & g)
        self.predicted += len(p)
        self.gold += len(g)

    def scores(self) -> dict[str, float]:
        precision = self.correct / self.predicted if self.predicted else 0.0
        recall = self.correct / self.gold if self.gold else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        return {"precision": precision, "recall": recall, "f1": f1}
