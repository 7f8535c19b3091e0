"""The working under an answer: the equation evaluated one operation at a time, as a teacher writes it.

``480 ÷ (1 − 20%)`` becomes ``1 − 20% = 80%`` then ``480 ÷ 80% = 600``: operations in evaluation order
(left operand before right, innermost first), each with its exact result. A result is written the way its
operands are, so that the working reads like the problem: fractions stay fractions (``1 − 2/5 = 3/5``),
percents added or taken away stay percents, decimals stay decimals when they terminate; a result no notation
writes exactly is a fraction. The numbers come from :func:`core.math_solver.expression.apply_operator`, the
evaluator's own arithmetic, so the last step's value is the equation's value.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

from core.math_solver import expression

MAX_DECIMAL_PLACES = 6  # a longer terminating decimal (1/1024 = 0.0009765625) reads better as a fraction


@dataclass(frozen=True)
class Step:
    operation: str  # e.g. "480 ÷ 80%": the operands as numbers, the innermost results already worked out
    value: Fraction
    result: str  # the value as the working writes it, e.g. "80%"

    def __str__(self) -> str:
        return f"{self.operation} = {self.result}"


def steps(tree) -> list[Step]:
    """The operations of an evaluated equation tree (placeholders substituted), in evaluation order.

    A number literal (``20%``, ``-3``) is not an operation: an equation that is only a number has no steps.
    ``ValueError`` exactly when :func:`expression.evaluate_tree` raises one (division by zero …).
    """
    found: list[Step] = []
    _work_out(tree, found)
    return found


def _is_literal(node) -> bool:
    """A number as written (placeholders included: the evaluator refuses them with its own message)."""
    return node[0] in ("num", "ph") or (node[0] in ("neg", "pct") and _is_literal(node[1]))


def _work_out(node, found: list[Step]):
    """A number leaf standing for ``node``'s value; the operations it took are appended to ``found``."""
    if _is_literal(node):
        return ("num", expression.evaluate_tree(node), expression.to_infix(node, pretty=True))
    if node[0] in ("neg", "pct"):
        operand = _work_out(node[1], found)
        value = -operand[1] if node[0] == "neg" else operand[1] / 100
        # a percent of a result is a plain number again (3% = 0.03); a sign keeps its operand's notation
        notations = {_notation(operand[2])} if node[0] == "neg" else set()
        shown = (node[0], operand)
    else:
        _, op, left, right = node
        left, right = _work_out(left, found), _work_out(right, found)
        value = expression.apply_operator(op, left[1], right[1])
        notations = {_notation(left[2]), _notation(right[2])}
        if op not in "+-":  # 480 × 20% is an amount, not a percentage: only sums and differences of rates stay percents
            notations = {"decimal" if n == "percent" else n for n in notations}
        shown = ("bin", op, left, right)
    step = Step(expression.to_infix(shown, pretty=True), value, number_text(value, notations))
    found.append(step)
    return ("num", value, step.result)


def _notation(text: str) -> str | None:
    if text.endswith("%"):
        return "percent"
    if "/" in text:
        return "fraction"
    return "decimal" if "." in text else None


def number_text(value: Fraction, notations: set[str | None]) -> str:
    """``value`` written in the notation of the numbers it came from (see the module docstring)."""
    if value.denominator == 1:
        return str(value.numerator)
    if "fraction" not in notations:
        if "percent" in notations and _terminates(value * 100):
            return expression.format_number(value * 100) + "%"
        if _terminates(value):
            return expression.format_number(value)
    return f"{value.numerator}/{value.denominator}"


def _terminates(value: Fraction) -> bool:
    text = expression.format_number(value)
    return not text.startswith("(") and len(text.partition(".")[2]) <= MAX_DECIMAL_PLACES
