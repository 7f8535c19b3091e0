"""The paraphrase tab's reader check: edit sizes, the saved check's contract, and that the bundled check belongs to the
bundled generator and to the verdicts it was fitted on."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from core import checkpoints
from core.roformer_sim import generate, reader_check
from core.roformer_sim.fit_reader_check import EVERYDAY, VERDICTS, candidates, read_verdicts
from core.roformer_sim.model import load
from tests.test_roformer_sim import hub_dir, sim  # noqa: F401 - fixtures shared with the model tests


def test_edit_sizes():
    assert reader_check.edit_sizes("这个苹果很甜", "这个苹果很甜啊！") == (1, 0, 0, 1)  # punctuation is not an edit
    assert reader_check.edit_sizes("这个苹果很甜", "这个苹果很酸") == (0, 0, 1, 0)
    assert reader_check.edit_sizes("明天早上我要早点出门", "明天早上早点出门") == (0, 2, 0, -2)
    assert reader_check.edit_sizes("我的手机没电了", "为什么我的手机没有电了") == (4, 0, 0, 4)


@given(st.text(alphabet="我你他的了吗很好天，。", max_size=12), st.text(alphabet="我你他的了吗很好天，。", max_size=12))
def test_edit_sizes_account_for_every_character(source, candidate):
    inserted, deleted, replaced, change = reader_check.edit_sizes(source, candidate)
    a, b = generate.without_punctuation(source), generate.without_punctuation(candidate)
    assert min(inserted, deleted, replaced) >= 0 and change == len(b) - len(a)
    assert abs(change) <= inserted + deleted + replaced <= len(a) + len(b)  # the edits explain the change in length
    assert (inserted, deleted, replaced) == (0, 0, 0) or a != b


def test_a_check_round_trips_and_refuses_other_features(tmp_path):
    rng = np.random.default_rng(0)
    rows = rng.normal(size=(40, len(reader_check.FEATURES)))
    check = reader_check.fit(rows, (rows[:, 0] > 0).astype(int), "abc", {"candidates": 40})
    path = tmp_path / "check.json"
    path.write_text(json.dumps(check.to_json()), encoding="utf-8")
    again = reader_check.load(path)
    assert again.generator == "abc" and np.allclose(again.probabilities(rows), check.probabilities(rows))
    assert check.probabilities(np.zeros((0, len(reader_check.FEATURES)))).shape == (0,)
    saved = check.to_json()
    saved["features"] = saved["features"][:-1]
    with pytest.raises(ValueError, match="fitted on features"):
        reader_check.from_json(saved)


def test_the_check_is_off_for_another_generator(sim):  # noqa: F811
    assert reader_check.check_for(sim) is None
    features = reader_check.features(sim, "我喜欢北京", [("我很喜欢北京", 0.9), ("北京", 0.5)], [0.6, 0.1])
    assert features.shape == (2, len(reader_check.FEATURES)) and features[0, 0] == 0.9 and features[1, 3] == 0.1
    assert reader_check.features(sim, "我喜欢北京", [], []).shape == (0, len(reader_check.FEATURES))


def test_the_bundled_check_belongs_to_the_bundled_generator_and_its_verdicts():
    bundled = load(checkpoints.locate("roformer_sim", checkpoints.BUNDLED))
    check = reader_check.check_for(bundled)
    assert check is not None and check.about["candidates"] == 1211
    verdicts = read_verdicts(VERDICTS)
    everyday = [line.strip() for line in EVERYDAY.read_text(encoding="utf-8").splitlines() if line.strip()]
    for i, text in enumerate(everyday[:10]):  # the candidates read are the ones the generator writes today
        assert all(("everyday", i, candidate) in verdicts for candidate, _ in candidates(bundled, text))
