"""What a solver returns: the beams it wrote, each read and evaluated exactly, and the answer chosen among them.

Both solvers (the T5 of :mod:`core.math_solver.model`, the tree decoder of :mod:`core.math_solver.tree`) write equations
over placeholders; each beam becomes a :class:`Candidate` (substituted with the problem's numbers and evaluated by
:mod:`core.math_solver.expression`), and a :class:`Solution` answers from the beam a learned ranker prefers
(:mod:`core.math_solver.ranker`, when the checkpoint has one), else from the best beam whose value is a plausible
primary-school answer (``normalize.plausible_answer``), else from the best beam that evaluates.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import torch

from core import training
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


class BeamSolver:
    """What both solvers share: the problem's beams (each solver's ``generate``) read into ``Solution``s, ranked by the
    checkpoint's ranker when it has one. Subclasses set ``default_beams`` and write ``generate``."""

    default_beams: int  # the tab's and evaluate's beam count for this solver

    def __init__(self, model: torch.nn.Module, tokenizer, device: torch.device | str = "cpu",
                 beam_ranker: ranker.Ranker | None = None, directory: Path | None = None):
        self.directory = directory  # where it was loaded from (its ranker is fitted into it)
        self.model = model.to(device).eval()
        self.tokenizer = tokenizer
        self.ranker = beam_ranker
        self.device = torch.device(device)

    def generate(self, sources: list[str], beams: int) -> list[list[tuple[str, float, float]]]:
        """The ``beams`` best equations (placeholders, mean log-prob per symbol, sequence log-prob) per source."""
        raise NotImplementedError

    def solve_many(self, problems: list[normalize.Problem], beams: int | None = None) -> list[Solution]:
        beams = self.default_beams if beams is None else beams
        if not 1 <= beams <= 10:
            raise ValueError(f"beams must be between 1 and 10, got {beams}")
        solutions = []
        for problem, found in zip(problems, self.generate([p.source for p in problems], beams)):
            candidates = tuple(read_candidate(text, score, log_prob, problem) for text, score, log_prob in found)
            probabilities = (tuple(self.ranker.probabilities(ranker.beam_features(candidates, problem)).tolist())
                             if self.ranker else None)
            solutions.append(Solution(problem, candidates, probabilities))
        return solutions

    def solve(self, text: str, beams: int | None = None) -> Solution:
        """Solve one problem text; ``ValueError`` for empty, over-long or number-free input."""
        return self.solve_many([normalize.encode_problem(text)], beams)[0]


def fitted_ranker(directory: Path | str, model: torch.nn.Module) -> ranker.Ranker | None:
    """The directory's ``ranker.json`` when it was fitted to this model's beams (its weights fingerprint matches);
    else ``None``, and the solver answers by the rule."""
    ranker_file = Path(directory) / ranker.RANKER_FILE
    if not ranker_file.is_file():
        return None
    beam_ranker = ranker.Ranker.load(ranker_file)
    if beam_ranker.about.get("model_fingerprint") != training.weights_fingerprint(model):
        logging.getLogger(__name__).warning("%s was fitted to another model's beams: answering by the rule "
                                            "(refit: python -m core.math_solver.fit_ranker)", ranker_file)
        return None
    return beam_ranker
