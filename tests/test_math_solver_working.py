"""The working under an answer (steps in evaluation order, exact results) and the unsure flag, without a model."""

import math
from fractions import Fraction

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.math_solver import confidence, expression, normalize, working
from core.math_solver.solution import Solution, equation_tree, read_candidate

PRICE = "一件上衣的售价是480元，比原价降低了20%，原价多少元？"


def working_of(equation: str, problem_text: str) -> list[str]:
    problem = normalize.encode_problem(problem_text)
    return [str(step) for step in working.steps(equation_tree(equation, problem))]


@pytest.mark.parametrize(
    "equation, problem, expected",
    [
        ("N0/(1-N1)", PRICE, ["1 − 20% = 80%", "480 ÷ 80% = 600"]),  # percents added or taken away stay percents
        ("N0*N1", "一件上衣480元，降低了20%，降价了多少元？", ["480 × 20% = 96"]),
        ("N0*N1", "一本书50元，打了12.5%的折扣，便宜了多少元？", ["50 × 12.5% = 6.25"]),  # an amount, not a rate
        ("N0*(1-N1)", "一段布长6米，用去了它的(2/5)，还剩多少米？", ["1 − 2/5 = 3/5", "6 × 3/5 = 18/5"]),
        ("N0/N1", "学校把135本练习本平均分给4个班，每班多少本？", ["135 ÷ 4 = 33.75"]),
        ("N0/N1", "2个饼分给3个人，每人几个？", ["2 ÷ 3 = 2/3"]),
        ("(N0-N1)/N2", "一根绳子长3.5米，剪去0.5米，剩下的平均分成3段，每段多少米？", ["3.5 − 0.5 = 3", "3 ÷ 3 = 1"]),
        ("N0/N1/(N2-N3)", "一批货物120吨，4辆车运，7天减去2天", ["120 ÷ 4 = 30", "7 − 2 = 5", "30 ÷ 5 = 6"]),
        ("N0-(N1+N2)", "1 2 3", ["2 + 3 = 5", "1 − 5 = -4"]),
        ("N1-N0*N0", "2 1", ["2 × 2 = 4", "1 − 4 = -3"]),
        ("N0/(N1-N0)", "1 3", ["3 − 1 = 2", "1 ÷ 2 = 0.5"]),
        ("N0/(N0/N1)", "2 3", ["2 ÷ 3 = 2/3", "2 ÷ (2/3) = 3"]),  # a fraction divided by keeps its brackets
        ("(N0-N1)^2", "1 3", ["1 − 3 = -2", "(-2)^2 = 4"]),
        ("N0", "有12个", []),  # a number is not an operation
    ],
)
def test_steps_as_a_teacher_writes_them(equation, problem, expected):
    assert working_of(equation, problem) == expected


def test_errors_are_the_evaluators():
    problem = normalize.encode_problem("1 2")
    with pytest.raises(ValueError, match="division by zero"):
        working.steps(equation_tree("N0/(N1-N1-N1+N1)", problem))
    with pytest.raises(ValueError, match="placeholder N0 has no value"):
        working.steps(expression.parse("N0+1"))


# Random equations over integers, decimals, fractions and percents, as the problems write them.
literals = st.one_of(
    st.integers(0, 10**4).map(lambda n: ("num", Fraction(n), str(n))),
    st.decimals(0, 100, places=2, allow_nan=False, allow_infinity=False).map(lambda d: ("num", Fraction(d), str(d))),
    st.tuples(st.integers(1, 12), st.integers(2, 12)).map(lambda t: ("num", Fraction(*t), f"{t[0]}/{t[1]}")),
    st.integers(1, 100).map(lambda n: ("num", Fraction(n, 100), f"{n}%")),
)
trees = st.recursive(
    literals,
    lambda child: st.one_of(
        st.tuples(st.sampled_from("+-*/^"), child, child).map(lambda t: ("bin", *t)),
        child.map(lambda c: ("neg", c)),
        child.map(lambda c: ("pct", c)),
    ),
    max_leaves=10,
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(trees)
def test_working_agrees_with_the_evaluator(tree):
    """The last step's value is the equation's; every step is a true equation as written; same refusals."""
    try:
        value = expression.evaluate_tree(tree)
    except ValueError as exc:
        with pytest.raises(ValueError) as refused:
            working.steps(tree)
        assert str(refused.value) == str(exc)
        return
    found = working.steps(tree)
    if found:
        assert found[-1].value == value
    else:
        assert tree[0] in ("num", "neg", "pct")  # a literal: nothing to work out
    for step in found:  # brackets placed so that the text means what it says
        for text in (step.operation, step.result):
            if len(text) <= expression.MAX_LENGTH:
                assert expression.evaluate(text) == step.value, str(step)


# ---------------------------------------------------------------------------------------------
# How sure the solver is


def solution(problem_text: str, beams: list[tuple[str, float]]) -> Solution:
    """A solution from (equation, sequence probability) beams, best first."""
    problem = normalize.encode_problem(problem_text)
    return Solution(problem, tuple(read_candidate(text, math.log(p) / 8, math.log(p), problem) for text, p in beams))


def test_agreeing_beams_add_up():
    # beams 1 and 3 write 600 two ways; beam 2 gives 384
    sure = solution(PRICE, [("N0/(1-N1)", 0.5), ("N0*(1-N1)", 0.2), ("N0/(100-N1*100)*100", 0.1)])
    assert confidence.agreeing_beams(sure) == [0, 2]
    assert confidence.answer_probability(sure) == pytest.approx(0.6)
    assert not confidence.is_unsure(sure)


def test_low_probability_is_unsure():
    split = solution(PRICE, [("N0/(1-N1)", 0.2), ("N0*(1-N1)", 0.19), ("N0+N1", 0.1)])
    assert confidence.answer_probability(split) == pytest.approx(0.2) and confidence.is_unsure(split)


def test_the_answer_from_a_lower_beam_is_measured():
    # beam 1 is negative (implausible), so the answer is beam 2's, and beam 2's probability is what counts
    lower = solution(PRICE, [("N1-N0", 0.6), ("N0/(1-N1)", 0.35)])
    assert lower.best is lower.candidates[1]
    assert confidence.answer_probability(lower) == pytest.approx(0.35) and not confidence.is_unsure(lower)


def test_no_answer_is_unsure():
    nothing = solution(PRICE, [("N0/(N1-N1)", 0.9)])
    assert confidence.agreeing_beams(nothing) == [] and confidence.answer_probability(nothing) is None
    assert confidence.is_unsure(nothing)
