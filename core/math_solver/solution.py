"""What a solver returns: the beams it wrote, each read and evaluated exactly, and the answer chosen among them.

Both solvers (the T5 of :mod:`core.math_solver.model`, the tree decoder of :mod:`core.math_solver.tree`) write equations
over placeholders; each beam becomes a :class:`Candidate` (substituted with the problem's numbers and evaluated by
:mod:`core.math_solver.expression`), and a :class:`Solution` answers from the beam a learned ranker prefers
(:mod:`core.math_solver.ranker`, when the checkpoint has one), else from the best beam whose value is a plausible
primary-school answer (``normalize.plausible_answer``), else from the best beam that evaluates.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

from core.math_solver import expression, normalize, ranker


@dataclass(frozen=True)
class Candidate:
    written: str  # what the model wrote (placeholders)
    score: float  # mean log-probability per token of the beam (what beam search ranks by)
    log_prob: float  # log-probability of the whole sequence: how likely the model finds this equation
    equation: str  # readable infix with the problem's numbers, "" when it does not parse
    value: Fraction | None  # None when it does not evaluate
    error: str  # why not, when value is None


@dataclass(frozen=True)
class Solution:
    problem: normalize.Problem
    candidates: tuple[Candidate, ...]  # best first
    ranker_probabilities: tuple[float, ...] | None = None  # per candidate, when the checkpoint has a ranker

    @property
    def best(self) -> Candidate | None:
        """The candidate the learned ranker prefers when there is one, else :attr:`best_by_rule`."""
        if self.ranker_probabilities is None:
            return self.best_by_rule
        chosen = ranker.choose([c.value is not None for c in self.candidates], list(self.ranker_probabilities))
        return None if chosen is None else self.candidates[chosen]

    @property
    def best_by_rule(self) -> Candidate | None:
        """The best beam whose value is a plausible answer, else the best beam that evaluates."""
        evaluated = [c for c in self.candidates if c.value is not None]
        plausible = (c for c in evaluated if normalize.plausible_answer(c.value, self.problem))
        return next(plausible, evaluated[0] if evaluated else None)

    @property
    def answer(self) -> normalize.Answer | None:
        best = self.best
        return normalize.format_answer(best.value, self.problem.text) if best else None


def equation_tree(written: str, problem: normalize.Problem):
    """The tree of what the model wrote with the problem's numbers in place, spelt as the problem spells them."""
    return expression.substitute(expression.parse(written), problem.values, problem.texts)


def read_candidate(written: str, score: float, log_prob: float, problem: normalize.Problem) -> Candidate:
    """Parse, substitute and evaluate one beam; failures become a reason, never an exception."""
    try:
        tree = equation_tree(written, problem)
    except ValueError as exc:
        return Candidate(written, score, log_prob, "", None, str(exc))
    equation = expression.to_infix(tree, pretty=True)
    try:
        return Candidate(written, score, log_prob, equation, expression.evaluate_tree(tree), "")
    except ValueError as exc:
        return Candidate(written, score, log_prob, equation, None, str(exc))
