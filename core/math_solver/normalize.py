"""From dataset text to what the model reads and writes, and from a value to a teacher's answer.

Problems: the numbers of a problem become placeholders ``N0, N1 …`` (so that a small model learns
templates such as ``N0/(1-N1)`` instead of digits; a percent stays visible as ``N1%``, its value is
the fraction) and their exact values are kept for substituting back. Equations and answers: the
dataset's notations (mixed numbers ``1(5/6)``, ``[ ]`` brackets, ratios ``:``, a leading ``x=``) are
rewritten into the evaluator's grammar; placeholders replace the problem's numbers, with the operands
of + and × in placeholder order; redundant brackets disappear by printing the tree with only the
brackets it needs.
Constants the equation writes itself (``1``, ``100``, ``3.14`` …) stay as digits.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from fractions import Fraction

from core.math_solver import expression

MAX_PLACEHOLDERS = 20  # N0 … N19; further numbers stay as digits in the text
MAX_PROBLEM_CHARS = 400

_FULL_WIDTH = str.maketrans("０１２３４５６７８９（）％．：＋－×÷／", "0123456789()%.:+-×÷/")
# Number literals of a problem: mixed number 1(5/6), fraction (2/5), decimal or integer, optional %.
_PROBLEM_NUMBER = re.compile(r"(\d+)\((\d+)/(\d+)\)|\((\d+)/(\d+)\)|(\d+(?:\.\d+)?)(%?)")
_WRAPPED_FRACTION = re.compile(r"\(\((\d+)\)/\((\d+)\)\)")  # Math23K writes ((2)/(5)) for (2/5)
_BARE_INTEGER_IN_PARENS = re.compile(r"\((\d+(?:\.\d+)?)\)")
_MIXED_NUMBER = re.compile(r"(\d+)\((\d+/\d+)\)")
_NUMBER_BEFORE_PAREN = re.compile(r"(\d)\(")


@dataclass(frozen=True)
class Number:
    """One number literal of a problem: its text, exact value and structural key."""

    text: str
    value: Fraction
    key: tuple  # ("f", a, b) for a fraction, ("m", w, a, b) for a mixed number, else ("v", value)


@dataclass(frozen=True)
class Problem:
    original: str  # the problem as given (stripped)
    text: str  # with full-width characters made ASCII
    source: str  # numbers replaced by placeholders: what the model reads
    numbers: tuple[Number, ...]  # numbers[i] is placeholder Ni

    @property
    def values(self) -> dict[str, Fraction]:
        return {f"N{i}": n.value for i, n in enumerate(self.numbers)}

    @property
    def texts(self) -> dict[str, str]:
        """How to print each number: as the problem wrote it, less the brackets Ape210K puts round a fraction."""
        return {f"N{i}": n.text[1:-1] if n.key[0] == "f" else n.text for i, n in enumerate(self.numbers)}


def encode_problem(text: str) -> Problem:
    """Replace the problem's numbers by placeholders; ``ValueError`` for unusable input."""
    if not isinstance(text, str) or not text.strip():
        raise ValueError("the problem is empty: paste a math word problem")
    original = text.strip()
    if len(original) > MAX_PROBLEM_CHARS:
        raise ValueError(f"the problem is too long: {len(original)} characters (limit {MAX_PROBLEM_CHARS})")
    plain = _WRAPPED_FRACTION.sub(r"(\1/\2)", original.translate(_FULL_WIDTH))
    numbers: list[Number] = []
    pieces, last = [], 0
    for match in _PROBLEM_NUMBER.finditer(plain):
        if len(numbers) == MAX_PLACEHOLDERS:
            break
        numbers.append(_problem_number(match))
        # a percent keeps its sign: "降低了20%" and "降低了20元" call for different equations
        pieces += [plain[last : match.start()], f"N{len(numbers) - 1}" + "%" * match.group().endswith("%")]
        last = match.end()
    if not numbers:
        raise ValueError("the problem contains no numbers: a word problem needs the numbers to compute with")
    return Problem(original, plain, "".join(pieces) + plain[last:], tuple(numbers))


def _problem_number(match: re.Match) -> Number:
    whole, mixed_a, mixed_b, frac_a, frac_b, plain, percent = match.groups()
    if whole is not None:
        a, b = int(mixed_a), int(mixed_b)
        if b == 0:
            return Number(match.group(), Fraction(int(whole)), ("v", Fraction(int(whole))))
        return Number(match.group(), int(whole) + Fraction(a, b), ("m", int(whole), a, b))
    if frac_a is not None:
        a, b = int(frac_a), int(frac_b)
        if b == 0:
            return Number(match.group(), Fraction(a), ("v", Fraction(a)))
        return Number(match.group(), Fraction(a, b), ("f", a, b))
    value = Fraction(plain) / (100 if percent else 1)
    return Number(match.group(), value, ("v", value))


def clean_formula(text: str) -> str:
    """Rewrite a dataset equation or answer into the evaluator's grammar.

    ``x=1(5/6)+[2:3]`` → ``(1+5/6)+(2/3)``; ``13((1)/(3))`` → ``(13+1/3)``.
    """
    text = text.strip().translate(_FULL_WIDTH).replace("[", "(").replace("]", ")").replace(" ", "")
    if text.lower().startswith("x="):
        text = text[2:]
    previous = None
    while previous != text:  # ((8)/(15)) → (8/15): the answers wrap single numbers in brackets
        previous, text = text, _BARE_INTEGER_IN_PARENS.sub(r"\1", text)
    text = _MIXED_NUMBER.sub(r"(\1+\2)", text)
    text = _NUMBER_BEFORE_PAREN.sub(r"\1+(", text)  # what is left of a mixed number: 2(3/4+…) means 2+(…)
    return text.replace(":", "/")


UNKNOWN = "N99"  # the x of an equation, parsed as a placeholder no problem has


def _count_unknown(node) -> int:
    if node[0] == "ph":
        return node[1] == UNKNOWN
    if node[0] == "num":
        return 0
    return sum(_count_unknown(child) for child in node[1 if node[0] in ("neg", "pct") else 2 :])


def isolate_unknown(equation: str) -> str:
    """The arithmetic that an equation in one unknown ``x`` asks for, found by undoing its operations.

    ``x/24+8*(1/18+1/24)=1`` → ``(1-8*(1/18+1/24))*24``; ``x=3*4`` → ``3*4``. That is how a primary-school
    teacher writes the working, and what the model learns to write. ``ValueError`` for a system of
    equations, an unknown that occurs more than once (that needs algebra, not a reversal) or under a power.
    """
    text = equation.strip().translate(_FULL_WIDTH).replace(" ", "").replace("X", "x")
    if ";" in text:
        raise ValueError("a system of equations")
    if text.count("=") != 1:
        raise ValueError("not one equation")
    left, right = (expression.parse(clean_formula(side).replace("x", UNKNOWN)) for side in text.split("="))
    occurrences = _count_unknown(left) + _count_unknown(right)
    if occurrences != 1:
        raise ValueError("no unknown" if occurrences == 0 else "the unknown occurs more than once")
    side, other = (left, right) if _count_unknown(left) else (right, left)
    while side != ("ph", UNKNOWN):
        if side[0] == "neg":
            side, other = side[1], ("neg", other)
            continue
        if side[0] != "bin" or side[1] == "^":
            raise ValueError("the unknown is under a power or a percent sign")
        _, op, a, b = side
        if _count_unknown(a):  # a op b = other
            side, other = a, ("bin", {"+": "-", "-": "+", "*": "/", "/": "*"}[op], other, b)
        elif op in "+*":  # a + side = other, a * side = other
            side, other = b, ("bin", "-" if op == "+" else "/", other, a)
        else:  # a - side = other, a / side = other
            side, other = b, ("bin", op, a, other)
    return expression.to_infix(other)


def parse_answer(text: str) -> Fraction:
    """Exact value of a dataset answer such as ``45``, ``(11/20)``, ``13((1)/(3))``, ``60%``."""
    return expression.evaluate(clean_formula(text))


def _literal_keys(node) -> list[tuple]:
    """Keys under which a literal of an equation may stand for a number of the problem."""
    kind = node[0]
    if kind == "num":
        return [("v", node[1])]
    if kind == "pct" and node[1][0] == "num":
        return [("v", node[1][1] / 100)]
    if kind == "bin" and node[1] == "/" and _is_integer_leaf(node[2]) and _is_integer_leaf(node[3]):
        a, b = int(node[2][1]), int(node[3][1])
        return [("f", a, b)] if b else []
    if kind == "bin" and node[1] == "+" and _is_integer_leaf(node[2]) and node[3][0] == "bin":
        fraction = _literal_keys(node[3])
        if fraction and fraction[0][0] == "f":
            return [("m", int(node[2][1]), *fraction[0][1:])]
    return []


def _is_integer_leaf(node) -> bool:
    return node[0] == "num" and node[1].denominator == 1 and "." not in node[2]


def to_placeholders(tree, problem: Problem):
    """Replace every literal of an equation tree that is a number of the problem by its placeholder.

    Structural keys (a fraction ``(2/5)``, a mixed number) are tried before values; among equal
    numbers the first occurrence in the problem wins.
    """
    index: dict[tuple, str] = {}
    for i, number in enumerate(problem.numbers):
        index.setdefault(number.key, f"N{i}")
        index.setdefault(("v", number.value), f"N{i}")

    def walk(node):
        for key in _literal_keys(node):
            if key in index:
                return ("ph", index[key])
        if node[0] in ("num", "ph"):
            return node
        if node[0] in ("neg", "pct"):
            return (node[0], walk(node[1]))
        return ("bin", node[1], walk(node[2]), walk(node[3]))

    return walk(tree)


def _first_placeholder(node) -> int:
    """The smallest placeholder index in a tree; constants sort after every placeholder."""
    if node[0] == "ph":
        return int(node[1][1:])
    if node[0] == "num":
        return MAX_PLACEHOLDERS
    if node[0] in ("neg", "pct"):
        return _first_placeholder(node[1])
    return min(_first_placeholder(node[2]), _first_placeholder(node[3]))


def canonical_order(tree):
    """Swap the operands of + and × so that the one holding the earlier placeholder comes first.

    The datasets write the same relation both ways (``N1*N0`` beside ``N0*N1``); one spelling per
    relation is less for a small model to learn, and the value is unchanged.
    """
    if tree[0] in ("num", "ph"):
        return tree
    if tree[0] in ("neg", "pct"):
        return (tree[0], canonical_order(tree[1]))
    _, op, left, right = tree
    left, right = canonical_order(left), canonical_order(right)
    if op in "+*" and _first_placeholder(right) < _first_placeholder(left):
        left, right = right, left
    return ("bin", op, left, right)


def encode_equation(equation: str, problem: Problem) -> str:
    """The model's target for a dataset equation: placeholders in canonical order, ASCII operators, needed brackets only."""
    return expression.to_infix(canonical_order(to_placeholders(expression.parse(clean_formula(equation)), problem)))


def answers_match(predicted: Fraction, gold: Fraction, gold_text: str = "") -> bool:
    """Exact equality, or 1e-4 relative when the gold answer is a rounded decimal."""
    if predicted == gold:
        return True
    if "." not in gold_text:
        return False
    return abs(predicted - gold) <= Fraction(1, 10_000) * max(1, abs(gold))


def plausible_answer(value: Fraction, problem: Problem) -> bool:
    """Whether a primary-school problem can have this answer: positive, and a whole number, a decimal with at
    most 3 places or a fraction with a denominator up to 12 (any fraction when the problem itself has fractions).

    The model's top beam is often the wrong template; its value then tends to be negative or a long fraction,
    while the right equation waits one beam lower. Under 1% of the training problems' answers fail this test
    (tests/test_math_solver_normalize.py).
    """
    if value <= 0:
        return False
    if (value * 1000).denominator == 1 or value.denominator <= 12:
        return True
    return any(number.key[0] in ("f", "m") for number in problem.numbers)


# ---------------------------------------------------------------------------------------------
# Answers the way a teacher writes them.

_PERCENT_QUESTION = re.compile(r"百分之几|百分之多少|百分数|百分比|百分率|(?:出勤|合格|成活|发芽|及格|正确|优秀)率")
_COUNT_QUESTION = re.compile(r"(?:多少|几)[辆人个只箱包本束头盒张条次趟台棵块套件瓶袋筐桶]")
_AT_MOST = re.compile(r"至多|最多")
_AT_LEAST = re.compile(r"至少|最少")


def question_of(text: str) -> str:
    """The problem's last clause: where it says what it asks for."""
    clauses = [c for c in re.split(r"[，,。？?！!；;]|\.(?!\d)", text) if c.strip()]
    return clauses[-1] if clauses else text


@dataclass(frozen=True)
class Answer:
    value: Fraction
    answer: str  # what a teacher writes under the problem
    exact: str  # integer, fraction or mixed number
    decimal: str  # the value to 4 decimals (≈ when rounded)
    note: str  # why the answer differs from the exact value, if it does


def fraction_text(value: Fraction) -> str:
    """``7/4`` → ``7/4 = 1又3/4``; integers stay integers."""
    if value.denominator == 1:
        return str(value.numerator)
    sign = "-" if value < 0 else ""
    whole, rest = divmod(abs(value.numerator), value.denominator)
    improper = f"{sign}{abs(value.numerator)}/{value.denominator}"
    return f"{improper} = {sign}{whole}又{rest}/{value.denominator}" if whole else improper


def decimal_text(value: Fraction, places: int = 4) -> str:
    exact = expression.format_number(value)
    if not exact.startswith("(") and len(exact.split(".")[-1]) <= places:
        return exact
    rounded = round(value, places)
    return "≈ " + (f"{float(rounded):.{places}f}".rstrip("0").rstrip("."))


def format_answer(value: Fraction, question: str) -> Answer:
    """Percent for 百分之几 questions, whole numbers for counting questions, else exact + decimal."""
    exact, decimal = fraction_text(value), decimal_text(value)
    if _PERCENT_QUESTION.search(question):
        percent = value * 100
        text = expression.format_number(round(percent, 2)) if percent.denominator != 1 else str(percent.numerator)
        approx = "" if round(percent, 2) == percent else "≈ "
        return Answer(value, f"{approx}{text}%", exact, decimal, "a 百分之几 question: the answer is a percentage")
    if value.denominator != 1 and _COUNT_QUESTION.search(question):
        # the question's own 至少 / 最多 decides ("每条船最多坐6人，至少需要多少条船" asks for at least)
        asked = question_of(question)
        clause = asked if _AT_MOST.search(asked) or _AT_LEAST.search(asked) else question
        if _AT_MOST.search(clause) and not _AT_LEAST.search(clause):
            whole, how = math.floor(value), "rounded down: only complete ones count (最多)"
        else:
            whole, how = math.ceil(value), "rounded up: a part still needs a whole one (至少)"
        return Answer(value, str(whole), exact, decimal, f"a counting question, {how}")
    if value.denominator == 1 or not decimal.startswith("≈"):
        return Answer(value, expression.format_number(value).strip("()"), exact, decimal, "")
    return Answer(value, exact.split(" = ")[-1], exact, decimal, "")
