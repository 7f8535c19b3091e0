"""Text handling shared by training, inference and evaluation: one character = one token.

The model sees normalised characters: full-width digits and Latin letters become their
half-width forms and letters are lower-cased (People's Daily writes ｌ９９８, PKU test 1998),
so every character keeps its position and spans computed on the normalised text are spans
of the original text.
"""

from __future__ import annotations

import re

FULLWIDTH_ALNUM = {c: chr(c - 0xFEE0) for c in range(0xFF10, 0xFF5B) if chr(c - 0xFEE0).isalnum()}

# Clause ends, longest first in priority: sentence ends, then pauses.
SENTENCE_END = "。！？!?；;…"
PAUSE = "，,、：:"
PUNCTUATION = set(SENTENCE_END + PAUSE + "“”‘’「」『』（）()《》〈〉【】[]——-·.\"'/～~")


def normalize(text: str) -> str:
    """Same-length normalisation: half-width digits/letters, lower case, spaces dropped elsewhere."""
    return text.translate(FULLWIDTH_ALNUM).lower()


def is_punctuation(char: str) -> bool:
    return char in PUNCTUATION or not char.isalnum()


def split_long(text: str, max_chars: int) -> list[str]:
    """Cut ``text`` into pieces of at most ``max_chars`` characters, preferring punctuation.

    Pieces end right after a sentence end when one fits, else after a pause mark, else at the
    limit. Joining the pieces gives back ``text`` exactly.
    """
    if max_chars < 1:
        raise ValueError(f"max_chars must be positive, got {max_chars}")
    pieces = []
    while len(text) > max_chars:
        window = text[:max_chars]
        cut = max((window.rfind(c) for c in SENTENCE_END), default=-1)
        if cut < 0:
            cut = max((window.rfind(c) for c in PAUSE), default=-1)
        cut = cut + 1 if cut >= 0 else max_chars
        pieces.append(text[:cut])
        text = text[cut:]
    if text:
        pieces.append(text)
    return pieces


CLAUSE = re.compile(rf"[^{re.escape(SENTENCE_END + PAUSE)}]*[{re.escape(SENTENCE_END + PAUSE)}]*")


def clauses(text: str) -> list[str]:
    """Clauses of ``text`` each with its trailing punctuation (used to match overlapping text)."""
    return [c for c in CLAUSE.findall(text) if c]
