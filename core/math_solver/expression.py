"""A safe, exact evaluator for the arithmetic the solver writes.

The model's output (and anything a user pastes) is text we do not trust, so it is never given to
``eval``: a whitelist tokenizer turns it into numbers, operators and parentheses, a small
recursive-descent parser builds a tree of tuples, and the tree is evaluated with
``fractions.Fraction`` so that ``(1+2)/4`` is exactly 3/4. Bounds on the text length, the nesting
depth, the exponent and the size of every intermediate result make hostile input such as
``9**9**9`` fail with a ``ValueError`` in microseconds instead of running for hours.

Grammar (the usual precedence; ``^`` and ``**`` are the same right-associative power, binding
tighter than a unary minus on its left, as in Python: ``-2^2 = -4``)::

    expr    := term (('+' | '-') term)*
    term    := factor (('*' | '/') factor)*
    factor  := ('+' | '-') factor | power
    power   := postfix ('^' factor)?
    postfix := atom '%'*
    atom    := NUMBER | '(' expr ')'

Tree nodes: ``("num", Fraction, text)``, ``("neg", node)``, ``("pct", node)``,
``("bin", op, left, right)`` with op in ``+ - * / ^``, and ``("ph", name)`` for a number
placeholder (``N0``, ``N1`` …) that :func:`substitute` replaces by a value.
"""

from __future__ import annotations

import re
from fractions import Fraction

MAX_LENGTH = 400  # characters of one expression
MAX_DEPTH = 60  # nested parentheses / unary signs
MAX_EXPONENT = 64  # |integer exponent|
MAX_BITS = 4096  # bits of a numerator or denominator of any intermediate result

# Unicode spellings users and datasets use, mapped to the ASCII operator the parser knows.
_SYMBOLS = {"×": "*", "÷": "/", "−": "-", "–": "-", "（": "(", "）": ")", "％": "%", "＋": "+", "＝": "="}
_TOKEN = re.compile(r"\s*(?:(\d+\.?\d*|\.\d+)|(N\d{1,2})|(\*\*|[-+*/^()%]))")


def tokenize(text: str) -> list[str]:
    """Split an expression into number, placeholder and operator tokens; anything else is refused."""
    if not isinstance(text, str):
        raise ValueError(f"expression must be text, not {type(text).__name__}")
    if len(text) > MAX_LENGTH:
        raise ValueError(f"expression too long: {len(text)} characters (limit {MAX_LENGTH})")
    text = "".join(_SYMBOLS.get(ch, ch) for ch in text).rstrip()
    tokens, pos = [], 0
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if not match:
            raise ValueError(f"unexpected character {text[pos:].lstrip()[:1]!r} at position {pos} in {text!r}")
        number, placeholder, op = match.groups()
        tokens.append("^" if op == "**" else (number or placeholder or op))
        pos = match.end()
    if not tokens:
        raise ValueError("empty expression")
    return tokens


class _Parser:
    def __init__(self, tokens: list[str]):
        self.tokens, self.pos, self.depth = tokens, 0, 0

    def peek(self) -> str | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self) -> str:
        token = self.peek()
        if token is None:
            raise ValueError("expression ends too early")
        self.pos += 1
        return token

    def nested(self):
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise ValueError(f"expression nested deeper than {MAX_DEPTH} levels")

    def left_associative(self, operators: tuple[str, ...], operand):
        node = operand()
        while self.peek() in operators:
            op = self.take()
            node = ("bin", op, node, operand())
        return node

    def expr(self):
        return self.left_associative(("+", "-"), self.term)

    def term(self):
        return self.left_associative(("*", "/"), self.factor)

    def factor(self):
        if self.peek() in ("+", "-"):
            sign = self.take()
            self.nested()
            operand = self.factor()
            self.depth -= 1
            return ("neg", operand) if sign == "-" else operand
        return self.power()

    def power(self):
        base = self.postfix()
        if self.peek() == "^":
            self.take()
            self.nested()
            exponent = self.factor()
            self.depth -= 1
            return ("bin", "^", base, exponent)
        return base

    def postfix(self):
        node = self.atom()
        while self.peek() == "%":
            self.take()
            node = ("pct", node)
        return node

    def atom(self):
        token = self.take()
        if token == "(":
            self.nested()
            node = self.expr()
            if self.take() != ")":
                raise ValueError("missing ')'")
            self.depth -= 1
            return node
        if token[0] == "N":
            return ("ph", token)
        if token[0].isdigit() or token[0] == ".":
            return ("num", Fraction(token), token)
        raise ValueError(f"unexpected {token!r}")


def parse(text: str):
    """Parse an expression into a tree; a ``ValueError`` says what is wrong with it."""
    parser = _Parser(tokenize(text))
    tree = parser.expr()
    if parser.peek() is not None:
        raise ValueError(f"unexpected {parser.peek()!r} after a complete expression")
    return tree


def _bounded(value: Fraction) -> Fraction:
    if value.numerator.bit_length() > MAX_BITS or value.denominator.bit_length() > MAX_BITS:
        raise ValueError(f"intermediate result larger than {MAX_BITS} bits")
    return value


def _power(base: Fraction, exponent: Fraction) -> Fraction:
    if exponent.denominator != 1:
        raise ValueError(f"only whole-number exponents are supported, got {exponent}")
    if abs(exponent) > MAX_EXPONENT:
        raise ValueError(f"exponent {exponent} is larger than {MAX_EXPONENT}")
    size = max(base.numerator.bit_length(), base.denominator.bit_length())
    if size * abs(int(exponent)) > MAX_BITS:
        raise ValueError(f"power result larger than {MAX_BITS} bits")
    if base == 0 and exponent < 0:
        raise ValueError("division by zero (0 to a negative power)")
    return base ** int(exponent)


def evaluate_tree(node) -> Fraction:
    kind = node[0]
    if kind == "num":
        return node[1]
    if kind == "ph":
        raise ValueError(f"placeholder {node[1]} has no value (substitute the problem's numbers first)")
    if kind == "neg":
        return -evaluate_tree(node[1])
    if kind == "pct":
        return evaluate_tree(node[1]) / 100
    _, op, left, right = node
    return apply_operator(op, evaluate_tree(left), evaluate_tree(right))


def apply_operator(op: str, a: Fraction, b: Fraction) -> Fraction:
    """``a op b`` for op in ``+ - * / ^``, exactly and within the size bounds (shared by the evaluator and the working)."""
    if op == "+":
        return _bounded(a + b)
    if op == "-":
        return _bounded(a - b)
    if op == "*":
        return _bounded(a * b)
    if op == "/":
        if b == 0:
            raise ValueError("division by zero")
        return _bounded(a / b)
    return _power(a, b)


def evaluate(text: str) -> Fraction:
    """The exact value of an arithmetic expression, e.g. ``evaluate("(1+2)/4") == Fraction(3, 4)``."""
    return evaluate_tree(parse(text))


def substitute(node, values: dict[str, Fraction], texts: dict[str, str] | None = None):
    """Replace placeholders ``N0``, ``N1`` … by the problem's numbers (as number leaves).

    ``texts`` spells each number as the problem did (``20%`` rather than ``0.2``, which a reader would not
    recognise); without it a number is printed by :func:`format_number`.
    """
    kind = node[0]
    if kind == "ph":
        if node[1] not in values:
            raise ValueError(f"{node[1]} does not refer to a number of the problem")
        value = values[node[1]]
        return ("num", value, texts[node[1]] if texts else format_number(value))
    if kind in ("num",):
        return node
    if kind in ("neg", "pct"):
        return (kind, substitute(node[1], values, texts))
    return ("bin", node[1], substitute(node[2], values, texts), substitute(node[3], values, texts))


def format_number(value: Fraction) -> str:
    """Plain text of a number leaf: integer, finite decimal, or a parenthesised fraction."""
    if value.denominator == 1:
        return str(value.numerator)
    denominator = value.denominator
    for prime in (2, 5):
        while denominator % prime == 0:
            denominator //= prime
    if denominator == 1:  # terminates in decimal
        sign = "-" if value < 0 else ""
        whole, rest = divmod(abs(value.numerator), value.denominator)
        digits = ""
        while rest:
            rest *= 10
            digit, rest = divmod(rest, value.denominator)
            digits += str(digit)
        return f"{sign}{whole}.{digits}"
    return f"({value.numerator}/{value.denominator})"


# Precedence for printing: higher binds tighter.
_PREC = {"+": 1, "-": 1, "*": 2, "/": 2, "neg": 3, "^": 4, "pct": 5, "num": 6, "ph": 6}
_PRETTY = {"+": " + ", "-": " − ", "*": " × ", "/": " ÷ ", "^": "^"}
_ASCII = {"+": "+", "-": "-", "*": "*", "/": "/", "^": "^"}


def _prec(node) -> int:
    if node[0] == "num" and node[2].startswith("-"):
        return _PREC["neg"]
    if node[0] == "num" and "/" in node[2] and not node[2].startswith("("):
        return _PREC["/"]  # a value written 4/5 (as the working writes them) is a division to a reader
    return _PREC[node[1] if node[0] == "bin" else node[0]]


def to_infix(node, pretty: bool = False) -> str:
    """Print a tree with only the parentheses it needs (``pretty`` uses × ÷ − and spaces).

    This is also how redundant brackets in the data are removed: ``parse`` then ``to_infix``.
    """
    symbols = _PRETTY if pretty else _ASCII

    def wrap(child, needs: bool) -> str:
        text = to_infix(child, pretty)
        return f"({text})" if needs else text

    kind = node[0]
    if kind == "num":
        return node[2]
    if kind == "ph":
        return node[1]
    if kind == "neg":
        return "-" + wrap(node[1], _prec(node[1]) < _PREC["^"])
    if kind == "pct":
        return wrap(node[1], _prec(node[1]) < _PREC["num"]) + "%"
    _, op, left, right = node
    prec = _PREC[op]
    if op == "^":  # right-associative: (a^b)^c and (-a)^b need brackets on the left
        left_needs, right_needs = _prec(left) <= prec, _prec(right) < prec
    else:  # left-associative: a-(b+c), a/(b*c) keep theirs; a -(-b) keeps the sign readable
        left_needs = _prec(left) < prec
        right_needs = _prec(right) < prec or (_prec(right) == prec and op in "-/") or _prec(right) == _PREC["neg"]
    return wrap(left, left_needs) + symbols[op] + wrap(right, right_needs)
