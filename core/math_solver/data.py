"""Reading Ape210K / Math23K files and turning them into (source, target) training pairs.

Ape210K files are JSON Lines, Math23K files one JSON array; both have the keys
``original_text``, ``equation`` and ``ans``. An item is kept for training only if its equation
evaluates exactly to its answer; every dropped item is counted under the reason it was dropped.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from core.checkpoints import SHARED_DATA
from core.math_solver import expression, normalize

DATA_DIR = SHARED_DATA
APE_TEST = DATA_DIR / "ape210k" / "test.ape.json"
APE_VALID = DATA_DIR / "ape210k" / "valid.ape.json"
MATH23K_FILES = (DATA_DIR / "math23k" / "testset.json", DATA_DIR / "math23k" / "validset.json")
MAX_TARGET_TOKENS = 64


def read_problems(path: Path | str, data_format: str | None = None) -> list[dict]:
    """Items of an Ape210K (JSON Lines) or Math23K (JSON array) file; format guessed from the content."""
    path = Path(path)
    text = path.read_text(encoding="utf-8")
    if data_format is None:
        data_format = "math23k" if text.lstrip().startswith("[") else "ape210k"
    if data_format == "math23k":
        items = json.loads(text)
    elif data_format == "ape210k":
        items = [json.loads(line) for line in text.splitlines() if line.strip()]
    else:
        raise ValueError(f"unknown data format {data_format!r}: use ape210k or math23k")
    for item in items:
        missing = {"original_text", "equation", "ans"} - set(item)
        if missing:
            raise ValueError(f"{path}: item {item.get('id', '?')} lacks {sorted(missing)}")
    return items


@dataclass(frozen=True)
class Example:
    source: str  # problem with placeholders
    target: str  # equation with placeholders
    text: str  # original problem, for deduplication and display


def make_example(item: dict) -> Example:
    """The training pair of one item, or ``ValueError`` naming why it cannot be used."""
    try:
        problem = normalize.encode_problem(item["original_text"])
    except ValueError as exc:
        raise ValueError(f"problem: {exc}") from exc
    try:
        gold = normalize.parse_answer(item["ans"])
    except ValueError as exc:
        raise ValueError("answer does not parse") from exc
    try:
        value = expression.evaluate(normalize.clean_formula(item["equation"]))
    except ValueError as exc:
        raise ValueError(f"equation does not evaluate ({exc.args[0].split(':')[0].split(' in ')[0]})") from exc
    if not normalize.answers_match(value, gold, item["ans"]):
        raise ValueError("equation value differs from the answer")
    target = normalize.encode_equation(item["equation"], problem)
    if len(expression.tokenize(target)) > MAX_TARGET_TOKENS:
        raise ValueError(f"equation longer than {MAX_TARGET_TOKENS} tokens")
    return Example(problem.source, target, problem.original)


def build_training_set(paths: list[Path], exclude_texts: set[str]) -> tuple[list[Example], Counter]:
    """Clean, deduplicated examples from ``paths``, never any problem whose text is in ``exclude_texts``.

    Returns the examples and a Counter of how many items were dropped for which reason.
    """
    examples, dropped, seen = [], Counter(), set(exclude_texts)
    for path in paths:
        for item in read_problems(path):
            text = item["original_text"].strip()
            if text in exclude_texts:
                dropped["also in the test set"] += 1
                continue
            if text in seen:
                dropped["duplicate problem text"] += 1
                continue
            seen.add(text)
            try:
                examples.append(make_example(item))
            except ValueError as exc:
                dropped[str(exc)] += 1
    return examples, dropped
