"""Reading Ape210K / Math23K / HMWP / CM17K files and turning them into (source, target) training pairs.

Ape210K files and the full Math23K file are JSON Lines, the MWPToolkit Math23K files one JSON
array (any of them may be ``.xz``-compressed); all have the keys ``original_text``, ``equation``
and ``ans``. HMWP and CM17K (JSON arrays) write an equation in ``x``, or a system of two, and a list of
answers; they are read into the same keys: the text unsegmented (CM17K's ``raw_text``, HMWP's words
joined), the answer of a one-unknown problem as text. An item is kept for training only if its
equation (for HMWP / CM17K: the arithmetic that isolates ``x``, ``normalize.isolate_unknown``)
evaluates exactly to its answer; every dropped item is counted under the reason it was dropped.
"""

from __future__ import annotations

import hashlib
import json
import lzma
import random
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from core.checkpoints import SHARED_DATA
from core.math_solver import expression, normalize

DATA_DIR = SHARED_DATA
APE_TEST = DATA_DIR / "ape210k" / "test.ape.json"
APE_VALID = DATA_DIR / "ape210k" / "valid.ape.json"
MATH23K_FILES = (DATA_DIR / "math23k" / "testset.json", DATA_DIR / "math23k" / "validset.json")
# All of Math23K but its standard 1,000-problem test (kept back for independent evaluation).
MATH23K_FULL = DATA_DIR / "math23k" / "math23k_train_full.jsonl.xz"
DEFAULT_TRAIN = (APE_VALID, MATH23K_FULL)
DEV_SIZE = 1000
# CCF-BDCI 2020 contest problems with answers only (data README §17): weak labels, and an answer-only dev set.
CCF_ANSWERS = DATA_DIR / "math_extra" / "ccf_bdci2020_train_answers.jsonl.xz"
CCF_DEV_SIZE = 1000
FORMATS = ("ape210k", "math23k", "hmwp", "cm17k")
EQUATION_FORMATS = ("hmwp", "cm17k")  # equations in x: taught only where no similar problem was seen before
_NUMERALS = set("零一二两三四五六七八九十百千万亿半")
MAX_TARGET_TOKENS = 64


def read_problems(path: Path | str, data_format: str | None = None) -> list[dict]:
    """Items of an ``ape210k``, ``math23k``, ``hmwp`` or ``cm17k`` file (one JSON array or JSON Lines, plain or
    ``.xz``); the format is guessed from the content unless given. Every item has ``original_text``,
    ``equation``, ``ans`` and ``format``."""
    path = Path(path)
    opener = lzma.open if path.suffix == ".xz" else open
    with opener(path, "rt", encoding="utf-8") as handle:
        text = handle.read()
    if data_format is not None and data_format not in FORMATS:
        raise ValueError(f"unknown data format {data_format!r}: use one of {', '.join(FORMATS)}")
    is_array = text.lstrip().startswith("[")  # any format may come as one array or as JSON Lines
    items = json.loads(text) if is_array else [json.loads(line) for line in text.splitlines() if line.strip()]
    data_format = data_format or _guess_format(items, is_array)
    for item in items:
        missing = {"original_text", "equation", "ans", *(("raw_text",) if data_format == "cm17k" else ())} - set(item)
        if missing:
            raise ValueError(f"{path}: item {item.get('id', '?')} lacks {sorted(missing)} (is it {data_format}?)")
    if data_format in EQUATION_FORMATS:
        items = [_from_equation_format(item, data_format) for item in items]
    return [{**item, "format": data_format} for item in items]


def _guess_format(items: list[dict], is_array: bool) -> str:
    first = items[0] if items else {}
    if "raw_text" in first:
        return "cm17k"
    if isinstance(first.get("ans"), list):
        return "hmwp"
    return "math23k" if is_array else "ape210k"


def _from_equation_format(item: dict, data_format: str) -> dict:
    """An HMWP / CM17K item in the common keys; a system's answers are joined by ``;``, which no answer
    parses as, so it is neither trained on nor scored."""
    answers = item["ans"]
    return {**item,
            "original_text": item["raw_text"] if data_format == "cm17k" else "".join(item["original_text"].split()),
            "ans": str(answers[0]) if len(answers) == 1 else ";".join(map(str, answers))}


def fingerprint(text: str) -> str:
    """The Chinese characters of a problem less its numerals: HMWP and CM17K rewrite 两 as 2 and
    re-segment, so the same problem can differ from its Math23K copy in everything else."""
    return "".join(ch for ch in text if "\u4e00" <= ch <= "\u9fff" and ch not in _NUMERALS)


@dataclass(frozen=True)
class Example:
    source: str  # problem with placeholders
    target: str  # equation with placeholders
    text: str  # original problem, for deduplication and display
    origin: str = ""  # the file it came from (its name without suffixes), for per-source scores
    dev_eligible: bool = False  # may be held out as dev: a problem no earlier bundle trained on


def source_name(path: Path | str) -> str:
    """``math23k/math23k_train_full`` for ``.../math23k/math23k_train_full.jsonl.xz``: the label of a file's scores."""
    path = Path(path)
    return f"{path.parent.name}/{path.name.split('.')[0]}"


def is_new_math23k(item: dict) -> bool:
    """A problem of the full Math23K file that no earlier bundle saw (not in the MWPToolkit files
    nor in Ape210K valid): the pool the dev set is drawn from."""
    return item.get("in_shared_math23k") is False and item.get("in_ape210k_valid") is False


def make_example(item: dict, origin: str = "") -> Example:
    """The training pair of one item, or ``ValueError`` naming why it cannot be used."""
    try:
        problem = normalize.encode_problem(item["original_text"])
    except ValueError as exc:
        raise ValueError(f"problem: {str(exc).split(':')[0]}") from exc  # one count per reason, not per length
    equation = item["equation"]
    if item.get("format") in EQUATION_FORMATS:
        try:
            equation = normalize.isolate_unknown(equation)
        except ValueError as exc:
            raise ValueError(f"equation in x: {str(exc).split(' at position')[0]}") from exc
    try:
        gold = normalize.parse_answer(item["ans"])
    except ValueError as exc:
        raise ValueError("answer does not parse") from exc
    try:
        value = expression.evaluate(normalize.clean_formula(equation))
    except ValueError as exc:
        raise ValueError(f"equation does not evaluate ({exc.args[0].split(':')[0].split(' in ')[0]})") from exc
    if not normalize.answers_match(value, gold, item["ans"]):
        raise ValueError("equation value differs from the answer")
    target = normalize.encode_equation(equation, problem)
    if len(expression.tokenize(target)) > MAX_TARGET_TOKENS:
        raise ValueError(f"equation longer than {MAX_TARGET_TOKENS} tokens")
    return Example(problem.source, target, problem.original, origin, is_new_math23k(item))


def build_training_set(paths: list[Path], exclude_texts: set[str]) -> tuple[list[Example], Counter]:
    """Clean, deduplicated examples from ``paths``, never any problem whose text is in ``exclude_texts``.

    An HMWP / CM17K problem is also dropped when its :func:`fingerprint` is that of a test problem or of
    a problem of an earlier file (list them last: the dev set is drawn from Math23K and must not leak).
    Returns the examples and a Counter of how many items were dropped for which reason.
    """
    examples, dropped, seen = [], Counter(), set(exclude_texts)
    seen_prints = {fingerprint(text) for text in exclude_texts}
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
            words = fingerprint(text)
            if item["format"] in EQUATION_FORMATS and words in seen_prints:
                dropped["same words as a test or earlier problem"] += 1
                continue
            seen_prints.add(words)
            try:
                examples.append(make_example(item, source_name(path)))
            except ValueError as exc:
                dropped[str(exc)] += 1
    return examples, dropped


def split_dev(examples: list[Example], dev_size: int) -> tuple[list[Example], list[Example]]:
    """(train, dev): dev is the ``dev_size`` dev-eligible problems (any problem when none is flagged)
    with the smallest text hash.

    A hash, not a shuffle, so the split does not depend on the seed or on which other files are
    trained on, and ``evaluate --dev`` can rebuild it from the data alone."""

    def key(example: Example) -> str:
        return hashlib.sha1(example.text.encode("utf-8")).hexdigest()

    flagged = [e for e in examples if e.dev_eligible]
    eligible = sorted(flagged or examples, key=key)  # files without the Math23K flags: any problem
    dev_texts = {e.text for e in eligible[:dev_size]}
    return [e for e in examples if e.text not in dev_texts], [e for e in examples if e.text in dev_texts]


def test_texts(test_path: Path) -> set[str]:
    """The problem texts of the test file (none when it is not here): never trained on."""
    return {item["original_text"].strip() for item in read_problems(test_path)} if Path(test_path).is_file() else set()


def training_and_dev(train_paths: list[Path], test_path: Path, dev_size: int) -> tuple[list[Example], list[Example], Counter]:
    """What every math trainer trains and chooses on: the training problems without any whose text is in the test
    file, split into train and the held-out dev set; and why problems were dropped."""
    examples, dropped = build_training_set(train_paths, test_texts(test_path))
    train, dev = split_dev(examples, dev_size)
    return train, dev, dropped


def dev_problems(paths=DEFAULT_TRAIN, dev_size: int = DEV_SIZE, test: Path = APE_TEST) -> list[dict]:
    """The dataset items of the dev set that ``train`` holds out with the same files and size."""
    _, dev, _ = training_and_dev(list(paths), test, dev_size)
    dev_texts = {e.text for e in dev}
    items, seen = [], set()
    for path in paths:
        for item in read_problems(path):
            text = item["original_text"].strip()
            if text in dev_texts and text not in seen:
                seen.add(text)
                items.append(item)
    return items


def read_answer_only(path: Path | str) -> list[dict]:
    """The ``{"id", "question", "answer"}`` lines of an answers-only file as ape210k items with an empty equation."""
    opener = lzma.open if Path(path).suffix == ".xz" else open
    with opener(path, "rt", encoding="utf-8") as handle:
        rows = [json.loads(line) for line in handle if line.strip()]
    return [{"id": row["id"], "original_text": row["question"].strip(), "equation": "", "ans": str(row["answer"]),
             "format": "ape210k"} for row in rows]


def split_held_out(items: list[dict], size: int) -> tuple[list[dict], list[dict]]:
    """(the rest, held out): the ``size`` items with the smallest sha1 of their text are held out, whatever the order."""
    ranked = sorted(items, key=lambda item: hashlib.sha1(item["original_text"].encode("utf-8")).hexdigest())
    held = {item["original_text"] for item in ranked[:size]}
    return [item for item in items if item["original_text"] not in held], [item for item in items if item["original_text"] in held]


def ccf_dev_problems(path: Path | str = CCF_ANSWERS, size: int = CCF_DEV_SIZE) -> list[dict]:
    """The CCF-BDCI problems held out from weak labelling (``weak_labels``): scored by their answers alone."""
    return split_held_out(read_answer_only(path), size)[1]


def unlabeled_sources(paths: list[Path], exclude_texts: set[str]) -> tuple[list[str], Counter]:
    """Placeholder texts of every problem in ``paths`` (any format, whether or not its equation can be taught), each
    once, never one whose text or :func:`fingerprint` is that of an excluded problem: the dev and test problems.
    For self-supervised pretraining; returns the texts and a Counter of the dropped items by reason."""
    sources, dropped = [], Counter()
    seen, seen_prints = set(exclude_texts), {fingerprint(text) for text in exclude_texts}
    for path in paths:
        for item in read_problems(path):
            text = item["original_text"].strip()
            if text in seen or fingerprint(text) in seen_prints:
                dropped["excluded or seen"] += 1
                continue
            seen.add(text)
            seen_prints.add(fingerprint(text))
            try:
                sources.append(normalize.encode_problem(text).source)
            except ValueError as exc:
                dropped[f"problem: {str(exc).split(':')[0]}"] += 1
    return sources, dropped


def span_corrupt(ids: list[int], sentinels: list[int], rng: random.Random, noise: float = 0.15,
                 mean_span: float = 3.0) -> tuple[list[int], list[int]]:
    """T5's span corruption (Raffel et al. 2020, sec. 3.1.4) of a token sequence without its eos.

    About ``noise`` of the tokens, in spans of ``mean_span`` on average, are cut out of the input, each span
    replaced by the next sentinel; the target lists the sentinels, each followed by the tokens it hid.
    Returns (input ids, target ids), neither with eos."""
    length = len(ids)
    if length < 2:
        raise ValueError(f"span corruption needs at least 2 tokens, got {length}")
    noisy = min(max(1, round(length * noise)), length - 1)
    spans = min(max(1, round(noisy / mean_span)), len(sentinels), noisy, length - noisy)

    def split(total: int) -> list[int]:  # ``spans`` positive parts summing to ``total``
        cuts = sorted(rng.sample(range(1, total), spans - 1))
        return [b - a for a, b in zip([0, *cuts], [*cuts, total])]

    source, target, position = [], [], 0
    for sentinel, kept, hidden in zip(sentinels, split(length - noisy), split(noisy)):
        source += ids[position : position + kept] + [sentinel]
        target += [sentinel] + ids[position + kept : position + kept + hidden]
        position += kept + hidden
    return source, target
