"""Word segmentation from adjacent-character impacts (Su, kexue.fm/archives/7476).

Characters k and k+1 stay in one word when the join score of their gap is at least the
threshold (a larger threshold gives finer words). The score is the gap's mean two-way impact
(Su's rule, "absolute"), that impact divided by the larger impact of the two neighbouring gaps
("relative"), or the relative score plus how much more the two characters help the masked LM
predict each other than the characters of the neighbouring gaps do ("combined"), or the
probability of a linear read-out of all of that evidence fitted on segmented sentences
("fitted", ``readout.py``). Punctuation always stands alone; numbers, runs of Latin letters and
a dash or ellipsis written twice always join (``script_run``), unless the text parts them with a space. Text longer than the model's limit
is cut at punctuation first and each piece is read on its own.
"""

from __future__ import annotations

import logging
import unicodedata
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from core.chinese import require_chinese
from core.perturbed_masking.impact import Encoder, Progress, adjacent_impacts, word_spans
from core.perturbed_masking.readout import NO_READOUT, Readout, stronger_neighbour
from core.perturbed_masking.text import is_punctuation, split_long

# Longest piece read at once: the length the bundled model was trained on, and context
# enough for word boundaries (longer text is cut at punctuation).
PIECE_CHARS = 62

# "relative" asks whether a gap stands out from the gaps beside it: the two characters of a word
# move each other more than either moves its other neighbour, whatever the scale of the sentence's
# impacts (one global threshold on the raw impact has to serve sentences whose impacts differ in
# scale). "combined" adds the same contrast for the LM's own predictions of the two characters.
# On the People's Daily dev slice each rule beats the one before it for the bundled LM (model card).
JOIN_RULES = ("absolute", "relative", "combined", "fitted")
MARKS_WRITTEN_TWICE = "—…"  # ——, …… are one punctuation mark each

# Nats of prediction contrast per unit of relative score in the combined rule: 0.1 and 0.2 both
# gave +0.02 F1 over the relative rule on two halves of the People's Daily dev slice, each
# threshold tuned on the other half (model card).
PREDICTION_WEIGHT = 0.15


def join_scores(gaps: Sequence[float], rule: str, gains: Sequence[float] | None = None) -> np.ndarray:
    """The score compared with the threshold for each gap (NaN, where the text was cut, stays NaN).

    ``gaps`` are the gaps' impacts on one layer; ``gains`` their prediction gains (only the
    combined rule reads them).
    """
    gaps = np.asarray(gaps, dtype=np.float64)
    if rule == "fitted":
        raise ValueError("the fitted rule reads every layer: use Segmentation.scores")
    if rule == "absolute":
        return gaps
    if rule not in JOIN_RULES:
        raise ValueError(f"unknown join rule {rule!r}: use one of {', '.join(JOIN_RULES)}")
    relative = gaps / np.maximum(stronger_neighbour(gaps), 1e-12)
    if rule == "relative":
        return relative
    if gains is None or len(gains) != len(gaps):
        raise ValueError("the combined rule needs the prediction gain of every gap")
    gains = np.asarray(gains, dtype=np.float64)
    return relative + PREDICTION_WEIGHT * (gains - stronger_neighbour(gains))


def script_run(text: str, k: int) -> bool:
    """True when characters k and k+1 belong to one number (digits, a decimal point between digits, a percent sign
    after one), one run of Latin letters or one mark written twice: whatever the scores, since the LM reads each
    digit and letter on its own and punctuation never joins by score."""
    def char(i: int) -> str:
        return unicodedata.normalize("NFKC", text[i]) if 0 <= i < len(text) else ""

    if text[k] == text[k + 1] and text[k] in MARKS_WRITTEN_TWICE:
        return True
    first, second = char(k), char(k + 1)
    if first.isascii() and second.isascii():
        if first.isdigit():
            return second.isdigit() or second == "%" or (second == "." and char(k + 2).isdigit())
        if first == ".":
            return second.isdigit() and char(k - 1).isdigit()
        return first.isalpha() and second.isalpha()
    return False


def without_spaces(typed: str) -> tuple[str, frozenset[int]]:
    """The text the model reads (whitespace dropped: spaces between Chinese words are the reader's, not the
    model's) and the gaps where a space parted two characters that ``script_run`` would join: two Latin words
    or two numbers stay two words ("New York" is not "NewYork")."""
    pieces = typed.split()
    text = "".join(pieces)
    ends = np.cumsum([len(p) for p in pieces])[:-1] - 1  # gap k lies between characters k and k + 1
    return text, frozenset(int(k) for k in ends if script_run(text, int(k)))


def join_decisions(text: str, adjacent: Sequence[float], threshold: float, breaks: frozenset[int] = frozenset()) -> list[bool]:
    """For each gap k (between chars k and k+1): True = same word; a gap in ``breaks`` never joins."""
    if len(adjacent) != max(len(text) - 1, 0):
        raise ValueError(f"{len(adjacent)} gap scores for a text of {len(text)} characters")
    return [
        k not in breaks and (script_run(text, k) or (
            bool(score >= threshold) and not is_punctuation(text[k]) and not is_punctuation(text[k + 1])))
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
    """Words of a text plus the evidence: per-gap impacts of every layer and prediction gains (NaN where the text
    was cut), and the checkpoint's fitted read-out when it has one."""

    text: str
    gaps: np.ndarray  # (layers + 1, len(text) − 1)
    gains: np.ndarray | None = None  # (len(text) − 1,), for the combined and fitted rules
    readout: Readout | None = None  # for the fitted rule
    breaks: frozenset[int] = frozenset()  # gaps typed as spaces between Latin words or numbers (``without_spaces``)

    def scores(self, layer: int, rule: str) -> np.ndarray:
        """Join score of each gap; ``layer`` is ignored by the fitted rule, which reads every layer."""
        if not 0 <= layer < self.gaps.shape[0]:
            raise ValueError(f"layer must be between 0 and {self.gaps.shape[0] - 1}, got {layer}")
        if rule != "fitted":
            return join_scores(self.gaps[layer], rule, self.gains)
        if self.readout is None:
            raise ValueError(NO_READOUT)
        if self.gains is None:
            raise ValueError("the fitted rule needs the prediction gain of every gap")
        return self.readout.scores(self.gaps, self.gains)

    def words(self, layer: int, threshold: float, rule: str = "absolute") -> list[str]:
        scores = np.nan_to_num(self.scores(layer, rule), nan=-np.inf)
        return words_from_decisions(self.text, join_decisions(self.text, scores, threshold, self.breaks))


def analyse(encoder: Encoder, text: str, progress: Progress | None = None) -> Segmentation:
    """Gap impacts of a text of any length, read in pieces of at most ``PIECE_CHARS`` characters."""
    text, breaks = without_spaces(text)
    if not text:
        raise ValueError("the text is empty: type a Chinese sentence")
    require_chinese(text)
    pieces = split_long(text, min(PIECE_CHARS, encoder.max_chars))
    gaps, gains = [], []
    for index, piece in enumerate(pieces):
        piece_gaps, piece_gains = adjacent_impacts(encoder, piece, progress) if len(piece) > 1 else (np.zeros((encoder.num_layers + 1, 0)), np.zeros(0))
        gaps.append(piece_gaps)
        gains.append(piece_gains)
        if index < len(pieces) - 1:  # pieces never join
            gaps.append(np.full((encoder.num_layers + 1, 1), np.nan))
            gains.append(np.full(1, np.nan))
    return Segmentation(text, np.concatenate(gaps, axis=1).astype(np.float32), np.concatenate(gains).astype(np.float32),
                        encoder.defaults.readout, breaks)


def jieba_words(text: str) -> list[str]:
    """The dictionary-based reference the tab and the evaluation compare with."""
    import jieba

    jieba.setLogLevel(logging.WARNING)
    return jieba.lcut(text)


def segment(encoder: Encoder, text: str, layer: int | None = None, threshold: float | None = None, rule: str | None = None) -> list[str]:
    """Words with the checkpoint's tuned defaults; a threshold given without a rule belongs to the default rule."""
    defaults = encoder.defaults
    layer = defaults.layer if layer is None else layer
    rule = defaults.rule if rule is None else rule
    threshold = defaults.threshold_of(rule) if threshold is None else threshold
    return analyse(encoder, text).words(layer, threshold, rule)


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
