"""A learned ranker over the beams: which equation to answer with.

After Shen et al. 2021, "Generate & Rank", with a logistic regression over a dozen features of each beam instead of
a second network: what the beam search knows (sequence and per-token log-probability, position), what the answer
is (it evaluates; a plausible primary-school value; a whole number), how the beams agree (the summed probability
and the count of the beams that give the same value) and how the equation uses the problem (the share of the
problem's numbers it uses, all of them or not, its length), and a few cues of what the problem asks for (a count asks
for a whole number, "平均" for a division, "一共" for a sum, …: :data:`CUES`). The solver's fixed rule, the best beam
with a plausible value, ignores most of that.

Fitting on the dev set's beams: ``python -m core.math_solver.fit_ranker``.

The ranker is fitted on the beams of the held-out development set (``data.dev_problems``; the model never trained on
it), which is where rules are chosen; its accuracy there is reported 2-fold cross-validated (fitted on one half,
measured on the other), since the dev problems are its training data. Test sets stay independent.
"""

from __future__ import annotations

import json
import math
import random
import re
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path

from core import logistic
from core.logistic import Logistic
from core.math_solver import normalize

RANKER_FILE = "ranker.json"
# Words of the problem paired with what they suggest of the equation (written with placeholders) or its value: a
# feature is 1 when the problem has the words and the beam has the property. All eight together raised the ranker's
# 2-fold cross-validated dev accuracy from 44.7% to 45.9% on the checkpoint they were written for (`python -m
# core.math_solver.fit_ranker`, model card).
COUNTED = "个人名辆只本棵条块张次天台位支箱盒间套件头匹朵瓶包袋根颗级组页场道"
CUES = {
    "count_asked_whole": ("question", rf"(多少|几)[{COUNTED}]", lambda written, value: value.denominator == 1),
    "count_asked_fraction": ("question", rf"(多少|几)[{COUNTED}]", lambda written, value: value.denominator != 1),
    "share_asked_at_most_one": ("question", r"百分之|%|几成", lambda written, value: 0 < value <= 1),
    "times_asked_divides": ("question", r"倍", lambda written, value: "/" in written),
    "total_adds_or_multiplies": ("problem", r"一共|总共|共|合计|和是", lambda written, value: "+" in written or "*" in written),
    "remainder_subtracts": ("problem", r"剩|还有|少|差|比.*多", lambda written, value: "-" in written),
    "average_divides": ("problem", r"平均|每", lambda written, value: "/" in written),
    "negative_answer": ("problem", r"", lambda written, value: value < 0),
}
FEATURES = ("log_prob", "mean_log_prob", "first_beam", "beam_position", "evaluates", "plausible", "answer_mass",
            "agreeing_beams", "number_coverage", "uses_every_number", "length", "whole_number", "beam_share", *CUES)
L2 = 1e-3  # weight decay of the fit: a dozen weights from thousands of beams need little


def asked(problem: normalize.Problem) -> list[bool]:
    """For each :data:`CUES` entry, whether the problem (or its question) has the cue's words."""
    places = {"problem": problem.text, "question": normalize.question_of(problem.text)}
    return [re.search(pattern, places[place]) is not None for place, pattern, _ in CUES.values()]


def beam_features(candidates, problem: normalize.Problem) -> list[list[float]]:
    """One row of :data:`FEATURES` per candidate (``model.Candidate``) of one problem."""
    probabilities = [math.exp(c.log_prob) for c in candidates]
    total = sum(probabilities) or 1.0
    mass, count = defaultdict(float), defaultdict(int)
    for candidate, probability in zip(candidates, probabilities):
        if candidate.value is not None:
            mass[candidate.value] += probability
            count[candidate.value] += 1
    numbers = len(problem.values)
    cues_asked = asked(problem)
    rows = []
    for position, (candidate, probability) in enumerate(zip(candidates, probabilities)):
        evaluates = candidate.value is not None
        used = set(re.findall(r"N\d+", candidate.written))
        rows.append([
            candidate.log_prob, candidate.score, float(position == 0), float(position), float(evaluates),
            float(evaluates and normalize.plausible_answer(candidate.value, problem)),
            mass[candidate.value] / total if evaluates else 0.0, float(count[candidate.value]) if evaluates else 0.0,
            len(used) / max(1, numbers), float(len(used) == numbers), len(candidate.written) / 20,
            float(evaluates and candidate.value.denominator == 1), probability / total,
            *(float(evaluates and here and holds(candidate.written, candidate.value))
              for here, (_, _, holds) in zip(cues_asked, CUES.values())),
        ])
    return rows


@dataclass(frozen=True)
class Ranker(Logistic):
    """Standardised features → logistic regression: the probability that a beam gives the right answer."""

    about: dict = field(default_factory=dict)  # how it was fitted and what it scored (the JSON file's record)

    def save(self, path: Path | str) -> None:
        Path(path).write_text(json.dumps({"features": FEATURES, **asdict(self)}, ensure_ascii=False, indent=1) + "\n",
                              encoding="utf-8")

    @classmethod
    def load(cls, path: Path | str) -> "Ranker":
        saved = json.loads(Path(path).read_text(encoding="utf-8"))
        if tuple(saved.pop("features")) != FEATURES:
            raise ValueError(f"{path}: the ranker was fitted on other features than {FEATURES}")
        return cls(**logistic.fields(saved), about=saved["about"])


def fit(rows: list[list[float]], labels: list[float], about: dict | None = None) -> Ranker:
    """Logistic regression (L2 :data:`L2`) of ``labels`` (1: the beam's answer is right) on ``rows``."""
    return Ranker(**asdict(logistic.fit(rows, labels, L2)), about=about or {})


def choose(evaluates: list[bool], probabilities: list[float]) -> int | None:
    """Position of the evaluating beam the ranker likes best; None when no beam evaluates."""
    evaluating = [(p, k) for k, (ok, p) in enumerate(zip(evaluates, probabilities)) if ok]
    return max(evaluating)[1] if evaluating else None


# ----------------------------------------------------------------------------- fitting on the dev set


def labelled_beams(solutions, items) -> list[tuple[list[list[float]], list[float]]]:
    """(feature rows, right or not per beam) of each solved problem (refused problems are left out)."""
    problems = []
    for solution, item in zip(solutions, items):
        if solution is None:
            continue
        gold = normalize.parse_answer(item["ans"])
        right = [float(c.value is not None and normalize.answers_match(c.value, gold, item["ans"])) for c in solution.candidates]
        problems.append((beam_features(solution.candidates, solution.problem), right))
    return problems


def accuracy(ranker: Ranker, problems, n: int) -> float:
    """Share of ``n`` problems whose chosen beam is right (problems not in ``problems`` count as wrong)."""
    right = 0
    for rows, labels in problems:
        chosen = choose([bool(row[FEATURES.index("evaluates")]) for row in rows], ranker.probabilities(rows))
        right += chosen is not None and labels[chosen] == 1.0
    return right / n


def cross_validated_accuracy(problems, n: int, seed: int = 0) -> float:
    """2-fold: fit on one half of the problems, measure on the other, and the other way round."""
    order = list(range(len(problems)))
    random.Random(seed).shuffle(order)
    halves = [[problems[i] for i in order[::2]], [problems[i] for i in order[1::2]]]
    right = 0.0
    for train, held_out in (halves, halves[::-1]):
        rows = [row for beams, _ in train for row in beams]
        labels = [label for _, beam_labels in train for label in beam_labels]
        right += accuracy(fit(rows, labels), held_out, len(held_out)) * len(held_out)
    return right / n
