"""A linear read-out of the Perturbed Masking evidence of each gap, fitted on segmented dev sentences.

The unsupervised rules of ``segment.py`` compare one number per gap with a threshold: one layer's
impact, its ratio to the neighbouring gaps', plus a prediction contrast with a hand-set weight. The
read-out weighs all of the evidence at once: for every layer the gap's log impact and its log ratio
to the stronger neighbouring gap, and the prediction gain and its contrast, for the gap itself and
the two gaps on either side. A logistic regression turns that into the probability that the two
characters belong to one word. Its weights are fitted on segmented sentences (the People's Daily
dev slice, never the evaluation sets), so the rule that uses it is no longer unsupervised; the
masked LM that produces the evidence still never sees a word boundary.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Sequence

import numpy as np

from core import logistic
from core.logistic import Logistic

# Gaps on each side whose evidence joins a gap's own, and the L2 weight of the fit (on standardised
# features): window 2 beat windows 0 and 1, and 1e-4 beat 1e-3, on People's Daily dev lines 701–1000
# with the read-out fitted on lines 1–700 (`evaluate tune --window/--l2`, model card).
WINDOW = 2
L2 = 1e-4
NO_READOUT = ("this model has no fitted read-out (run `python -m core.perturbed_masking.evaluate tune --write` on it): "
           "choose another rule")


def stronger_neighbour(values: np.ndarray) -> np.ndarray:
    """The larger of the two neighbouring gaps' values; a lone gap (text edge or cut, NaN) is its own neighbour."""
    padded = np.concatenate([[np.nan], values, [np.nan]])
    neighbours = np.fmax(padded[:-2], padded[2:])  # fmax skips a NaN side
    return np.where(np.isnan(neighbours), values, neighbours)


def gap_features(gaps: np.ndarray, gains: np.ndarray) -> np.ndarray:
    """(n − 1, 2 × layers + 2) evidence of each gap: per layer log impact and log ratio to the stronger neighbour;
    then the prediction gain and its contrast (NaN where the text was cut)."""
    columns = []
    for layer_gaps in np.asarray(gaps, dtype=np.float64):
        log_gaps = np.log(np.maximum(layer_gaps, 1e-6))
        columns += [log_gaps, log_gaps - np.log(np.maximum(stronger_neighbour(layer_gaps), 1e-6))]
    gains = np.asarray(gains, dtype=np.float64)
    columns += [gains, gains - stronger_neighbour(gains)]
    return np.stack(columns, axis=1)


def windowed(features: np.ndarray, window: int) -> np.ndarray:
    """Each gap's features followed by those of the gaps 1, 2, … ``window`` places before and after (NaN past the ends)."""
    n, width = features.shape
    padded = np.concatenate([np.full((window, width), np.nan), features, np.full((window, width), np.nan)])
    shifted = [padded[window : window + n]]
    for offset in range(1, window + 1):
        shifted += [padded[window - offset : window - offset + n], padded[window + offset : window + offset + n]]
    return np.concatenate(shifted, axis=1)


@dataclass(frozen=True)
class Readout(Logistic):
    """Standardisation and logistic-regression weights over the windowed gap features."""

    window: int = WINDOW

    def scores(self, gaps: np.ndarray, gains: np.ndarray) -> np.ndarray:
        """Probability that each gap lies inside a word; NaN where the text was cut."""
        features = windowed(gap_features(gaps, gains), self.window)
        if features.shape[1] != len(self.weights):
            raise ValueError(f"the read-out was fitted on {len(self.weights)} features per gap, this model gives "
                             f"{features.shape[1]}: it belongs to a model with another number of layers")
        # A missing neighbour (text edge, cut) counts as an average gap.
        return np.where(np.isnan(np.asarray(gaps, dtype=np.float64)[0]), np.nan, self.probabilities(features))

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> "Readout":
        return cls(**logistic.fields(data), window=int(data["window"]))


def inside_word(words: Sequence[str]) -> np.ndarray:
    """1 for each gap between two characters of one word, 0 at word boundaries."""
    labels = []
    for index, word in enumerate(words):
        if index:
            labels.append(0)
        labels += [1] * (len(word) - 1)
    return np.array(labels, dtype=np.float64)


def fit(examples: Sequence[tuple[np.ndarray, np.ndarray, Sequence[str]]], window: int = WINDOW, l2: float = L2) -> Readout:
    """Fit on (gaps, gains, gold words) of segmented sentences; gaps where the text was cut are left out."""
    features, labels = [], []
    for gaps, gains, words in examples:
        sentence_features = windowed(gap_features(gaps, gains), window)
        sentence_labels = inside_word(words)
        if len(sentence_labels) != len(sentence_features):
            raise ValueError(f"{len(sentence_features)} gaps but {len(sentence_labels)} gold gaps: the words are not this text")
        kept = ~np.isnan(np.asarray(gaps, dtype=np.float64)[0])
        features.append(sentence_features[kept])
        labels.append(sentence_labels[kept])
    if not features:
        raise ValueError("the read-out needs segmented sentences to fit on")
    fitted = logistic.fit(np.concatenate(features), np.concatenate(labels), l2)
    return Readout(**asdict(fitted), window=window)
