"""A reader check for the paraphrase tab's candidates: a logistic model, fitted on one reader's verdicts, of how likely
a reader accepts a candidate (fluent, and keeping the input's meaning), over evidence the tab already has. Beam search
writes mostly fluent light edits of the input, and the fluency judge cannot tell a faithful edit (这个苹果挺甜) from
one that swaps the word carrying the meaning (这个苹果很酸); the verdicts can, a little.

Features: the cosine to the input, the generator's round trip (mean log probability of the input given the candidate)
and forward probability (of the candidate given the input), the fluency judge's probability, and the size of the edit
(characters inserted, deleted and replaced, and the change in length; punctuation ignored). The cosine and the two
probabilities are the bundled generator's own numbers, so the check is used only with the generator it was fitted
with (``check_for``): a Hub checkpoint keeps the cosine order. Fitted by ``fit_reader_check``.
"""

from __future__ import annotations

import difflib
import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from core import checkpoints, logistic
from core.roformer_sim import generate
from core.roformer_sim.model import Sim

FEATURES = ("cosine", "round_trip", "forward", "judge", "inserted", "deleted", "replaced", "length_change")
L2 = 1e-3
ASSET_FILE = checkpoints.ASSETS_DIR / "roformer_sim" / "reader_check.json"


def edit_sizes(source: str, candidate: str) -> tuple[int, int, int, int]:
    """(characters inserted, deleted, replaced, candidate length − input length), punctuation ignored; a replaced span
    counts its longer side."""
    a, b = generate.without_punctuation(source), generate.without_punctuation(candidate)
    inserted = deleted = replaced = 0
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if op == "insert":
            inserted += j2 - j1
        elif op == "delete":
            deleted += i2 - i1
        elif op == "replace":
            replaced += max(i2 - i1, j2 - j1)
    return inserted, deleted, replaced, len(b) - len(a)


def features(sim: Sim, source: str, ranked: Sequence[tuple[str, float]], judge_scores: Sequence[float]) -> np.ndarray:
    """(candidates, len(FEATURES)) rows for the (candidate, cosine) pairs of one input and the judge's scores of them."""
    if not ranked:
        return np.zeros((0, len(FEATURES)))
    texts = [text for text, _ in ranked]
    round_trip = generate.pair_log_probs(sim, [(text, source) for text in texts])
    forward = generate.pair_log_probs(sim, [(source, text) for text in texts])
    return np.array([[cosine, back, forth, judged, *edit_sizes(source, text)]
                     for (text, cosine), back, forth, judged in zip(ranked, round_trip, forward, judge_scores)], dtype=np.float64)


def fingerprint(sim: Sim) -> str:
    """A short hash of the generator's word embeddings: tells the generator a check was fitted with from any other."""
    weights = sim.model.roformer.embeddings.word_embeddings.weight.detach().float().cpu().numpy()
    return hashlib.sha256(weights.tobytes()).hexdigest()[:16]


@dataclass(frozen=True)
class ReaderCheck:
    """The fitted check: ``probabilities(rows)`` of a reader accepting each candidate."""

    model: logistic.Logistic
    generator: str  # the fingerprint of the generator whose numbers it was fitted on
    about: dict

    def probabilities(self, rows: np.ndarray) -> np.ndarray:
        return self.model.probabilities(rows) if len(rows) else np.zeros(0)

    def to_json(self) -> dict:
        return {"features": list(FEATURES), "logistic": asdict(self.model), "generator": self.generator, "about": self.about}


def from_json(saved: dict) -> ReaderCheck:
    if saved.get("features") != list(FEATURES):
        raise ValueError(f"the reader check was fitted on features {saved.get('features')}, this code computes {list(FEATURES)}")
    return ReaderCheck(logistic.Logistic(**logistic.fields(saved["logistic"])), saved["generator"], saved.get("about", {}))


def fit(rows: np.ndarray, verdicts: Sequence[int], generator: str = "", about: dict | None = None) -> ReaderCheck:
    return ReaderCheck(logistic.fit(rows, verdicts, L2), generator, about or {})


def load(path: Path = ASSET_FILE) -> ReaderCheck:
    return from_json(json.loads(Path(path).read_text(encoding="utf-8")))


def check_for(sim: Sim) -> ReaderCheck | None:
    """The bundled check if ``sim`` is the generator it was fitted with, else None (order by cosine)."""
    check = checkpoints.cached("roformer_sim_reader_check", load) if ASSET_FILE.is_file() else None
    return check if check is not None and check.generator == fingerprint(sim) else None
