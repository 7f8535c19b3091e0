"""How sure the solver is of its answer, so that a parent or teacher knows which answers to check.

The measure is the model's own probability of the answer: the summed sequence probabilities of the beams
whose equation gives the chosen value (two beams that write one answer two ways agree, and their
probabilities add up). It is a lower bound, as equations outside the beams may give that value too.

Why this measure (an earlier bundle of the same shape, 3 beams, 599 new Math23K problems it never trained on, outside the
trainer's dev slice): as a predictor of a right answer it scores an AUROC of 0.75, against 0.68 for
the same agreement with the beams' probabilities renormalised among themselves, 0.67 for the margin
between the two best beams and 0.52 for the share of beams that agree. Below ``UNSURE_BELOW`` = 0.3, 51% of
those problems are flagged, and 21% of the flagged ones are right against 56% of the others.
A retrained model has other probabilities: re-choose the threshold on the dev set (``evaluate`` prints
the accuracy of the sure and the unsure answers).
"""

from __future__ import annotations

import math
from collections import defaultdict
from fractions import Fraction

from core.math_solver import normalize
from core.math_solver.solution import Solution

UNSURE_BELOW = 0.3


def agreeing_beams(solution: Solution) -> list[int]:
    """Positions (0-based) of the beams whose value equals the answer's; empty when there is no answer."""
    best = solution.best
    if best is None:
        return []
    return [k for k, c in enumerate(solution.candidates) if c.value is not None and c.value == best.value]


def answer_probability(solution: Solution) -> float | None:
    """The model's probability of the chosen answer (see the module docstring); ``None`` without an answer."""
    agreeing = agreeing_beams(solution)
    if not agreeing:
        return None
    return sum(math.exp(solution.candidates[k].log_prob) for k in agreeing)


def is_unsure(solution: Solution) -> bool:
    """Whether to tell the reader to check the answer (there being no answer at all counts as unsure)."""
    probability = answer_probability(solution)
    return probability is None or probability < UNSURE_BELOW


def most_probable_value(solution: Solution) -> Fraction | None:
    """The answer-level vote (self-consistency): the value whose beams' summed probabilities are largest, among the
    plausible values (among all that evaluate when none is plausible). ``evaluate`` scores it beside the solver's
    rule, the best plausible beam, as a ranker that needs no training."""
    evaluated = [c for c in solution.candidates if c.value is not None]
    voters = [c for c in evaluated if normalize.plausible_answer(c.value, solution.problem)] or evaluated
    totals: dict[Fraction, float] = defaultdict(float)
    for candidate in voters:
        totals[candidate.value] += math.exp(candidate.log_prob)
    return max(totals, key=totals.get) if totals else None
