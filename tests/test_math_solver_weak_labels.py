"""Weak labels for answer-only problems: the held-out split, the beam that becomes the equation, and the file the
trainer reads."""

import json
import lzma
import random

import pytest

from hypothesis import given, settings
from hypothesis import strategies as st

from core.math_solver import data, evaluate, normalize, weak_labels
from core.math_solver.solution import Solution, read_candidate

PROBLEM = "他有5个苹果，又买了2个，一共有几个？"


def solution_of(text: str, written: list[str]) -> Solution:
    problem = normalize.encode_problem(text)
    return Solution(problem, tuple(read_candidate(w, -0.1 * k, -1.0 * k, problem) for k, w in enumerate(written)))


def test_the_best_ranked_beam_with_the_answer_becomes_a_trainable_equation():
    solution = solution_of(PROBLEM, ["N0-N1", "N0/(N1-N1)", "N0+N1", "N1+N0"])
    equation = weak_labels.matching_equation(solution, "7")
    assert equation == "x=5+2"
    example = data.make_example({"original_text": PROBLEM, "equation": equation, "ans": "7", "format": "ape210k"})
    assert example.target == "N0+N1"
    assert weak_labels.matching_equation(solution, "3") == "x=5-2"
    assert weak_labels.matching_equation(solution, "10") is None  # no beam has it: the problem stays unlabelled


def test_answers_match_as_numbers_and_percentages():
    solution = solution_of("一件上衣200元，降低了25%，降价了多少元？", ["N0*N1"])
    assert weak_labels.matching_equation(solution, "50") == "x=200*25%"
    assert weak_labels.matching_equation(solution, "50.0") == "x=200*25%"


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(0, 12))
def test_the_held_out_problems_do_not_depend_on_the_order(seed, size):
    items = [{"original_text": f"问题{k}：{k}加{k}是多少？", "ans": str(2 * k)} for k in range(12)]
    shuffled = random.Random(seed).sample(items, len(items))
    to_label, held = data.split_held_out(items, size)
    to_label_again, held_again = data.split_held_out(shuffled, size)
    assert len(held) == size and len(to_label) == 12 - size
    assert {i["original_text"] for i in held} == {i["original_text"] for i in held_again}
    assert not {i["original_text"] for i in held} & {i["original_text"] for i in to_label_again}


def test_answer_only_lines_become_items_the_evaluator_scores(tmp_path):
    path = tmp_path / "answers.jsonl.xz"
    with lzma.open(path, "wt", encoding="utf-8") as handle:
        handle.write(json.dumps({"id": "0", "question": f" {PROBLEM} ", "answer": "7"}, ensure_ascii=False) + "\n\n")
    items = data.read_answer_only(path)
    assert items == [{"id": "0", "original_text": PROBLEM, "equation": "", "ans": "7", "format": "ape210k"}]
    weak_labels.write_jsonl(items, tmp_path / "out" / "dev.jsonl")
    read_back = data.read_problems(tmp_path / "out" / "dev.jsonl")
    assert read_back[0]["format"] == "ape210k" and read_back[0]["ans"] == "7"


def test_evaluate_scores_the_held_out_ccf_problems_by_their_answers(capsys, one_torch_thread):
    evaluate.main(["--ccf-dev", "--limit", "4", "--beams", "1"])
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["data"] == "ccf_dev" and result["n"] == 4 and result["beams"] == 1
    with pytest.raises(SystemExit):  # one held-out set at a time
        evaluate.parse_args(["--ccf-dev", "--dev"])
