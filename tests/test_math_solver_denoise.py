"""Self-supervised pretraining of the solver: span corruption, the unlabeled texts, and `train --denoise` → `--init`."""

import json
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.math_solver import data, train
from core.math_solver import model as m
from tests.test_math_solver_model import PROBLEMS, problem_files  # noqa: F401 (a fixture)

SENTINELS = [1000 + i for i in range(16)]


def fill_in(source: list[int], target: list[int]) -> list[int]:
    """Undo span corruption: each sentinel of the input becomes the tokens that follow it in the target."""
    hidden, current = {}, None
    for token in target:
        if token in SENTINELS:
            current = hidden.setdefault(token, [])
        else:
            current.append(token)
    return [t for token in source for t in (hidden[token] if token in SENTINELS else [token])]


@settings(max_examples=200, deadline=None)
@given(ids=st.lists(st.integers(3, 999), min_size=2, max_size=200), seed=st.integers(0, 10**6))
def test_span_corruption_hides_spans_that_the_target_restores(ids, seed):
    source, target = data.span_corrupt(ids, SENTINELS, random.Random(seed))
    assert fill_in(source, target) == ids
    used = [t for t in source if t in SENTINELS]
    assert used == SENTINELS[: len(used)] == [t for t in target if t in SENTINELS]  # in order, each once
    hidden = len(target) - len(used)
    assert 1 <= hidden < len(ids) and hidden <= max(1, round(len(ids) * 0.15))


def test_span_corruption_needs_two_tokens():
    with pytest.raises(ValueError, match="at least 2 tokens, got 1"):
        data.span_corrupt([5], SENTINELS, random.Random(0))


def test_unlabeled_texts_leave_out_excluded_problems_even_reworded(tmp_path):
    items = [{"original_text": "小明有12颗糖，分给4个人，每人几颗？", "equation": "x=12/4", "ans": "3"},  # excluded text
             {"original_text": "小明有12颗糖,分给两个人,每人几颗?", "equation": "x=12/2", "ans": "6"},  # same words
             {"original_text": "一共有几个苹果？", "equation": "x=1", "ans": "1"},  # no numbers: cannot be encoded
             {"original_text": "他有5个苹果，又买了2个，一共有几个？", "equation": "x=5+2", "ans": "7"},
             {"original_text": "他有5个苹果，又买了2个，一共有几个？", "equation": "x=5+2", "ans": "7"}]  # a duplicate
    path = tmp_path / "more.ape.json"
    path.write_text("\n".join(json.dumps(item, ensure_ascii=False) for item in items), encoding="utf-8")
    sources, dropped = data.unlabeled_sources([path], {items[0]["original_text"]})
    assert sources == ["他有N0个苹果，又买了N1个，一共有几个？"]
    assert dropped["excluded or seen"] == 3 and sum(dropped.values()) == 4


def test_denoise_then_learn_equations_from_it(problem_files, tmp_path):  # noqa: F811 (the fixture)
    train_file, test_file = problem_files
    more = tmp_path / "more.ape.json"
    more.write_text(json.dumps({"original_text": "一辆车每小时行60千米，3小时行多少千米？", "equation": "x=60*3", "ans": "180"},
                               ensure_ascii=False), encoding="utf-8")
    small = ["--train", str(train_file), "--test", str(test_file), "--batch-size", "2", "--dev-size", "1", "--epochs", "2",
             "--d-model", "32", "--d-ff", "64", "--heads", "2", "--warmup", "1"]
    denoiser = tmp_path / "denoiser"
    train.main(small + ["--denoise", "--texts", str(more), "--out", str(denoiser), "--state-dir", str(tmp_path / "s1")])
    stats = json.loads((denoiser / "training_stats.json").read_text())
    assert stats["denoise_texts"] == 4 and stats["steps"] == 4  # 3 training problems + 1 more text, 2 batches x 2 epochs
    assert stats["dev_denoising_loss"] > 0
    assert m.CharTokenizer.from_pretrained(denoiser).sentinel_ids()

    solver_dir = tmp_path / "solver"
    train.main(small + ["--init", str(denoiser), "--out", str(solver_dir), "--state-dir", str(tmp_path / "s2")])
    assert "all" in json.loads((solver_dir / "training_stats.json").read_text())["dev_accuracy_greedy"]
    for candidate in m.load(solver_dir).solve(PROBLEMS[0]["original_text"], beams=2).candidates:
        assert set(m.CharTokenizer._PIECE.findall(candidate.written)) <= set(m.EQUATION_TOKENS)  # never a sentinel

    with pytest.raises(ValueError, match="has none"):  # the bundle learnt equations from scratch: no sentinels
        train.main(small + ["--denoise", "--init", "assets/math_solver", "--out", str(tmp_path / "x"), "--state-dir", str(tmp_path / "s3")])


@pytest.mark.parametrize("wrong, message", [(["--texts", "more.json"], "only with --denoise"),
                                            (["--denoise", "--keep-best"], "no dev accuracy"),
                                            (["--denoise", "--dev-every", "100"], "no dev accuracy")])
def test_denoise_options_that_do_not_fit_are_refused(wrong, message, capsys):
    with pytest.raises(SystemExit):
        train.parse_args(wrong)
    assert message in capsys.readouterr().err
