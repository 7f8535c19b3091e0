"""The fluency judge: tokenising and splitting prose, the calibration rule, the bundled KenLM model, the build."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest

from core.roformer_sim import fluency

BUNDLE_LIMIT = 9.5 * 2**20  # bytes per bundled file (Hugging Face Spaces without LFS)


def test_tokens_are_normalised_characters():
    assert fluency.char_tokens("Ｗi-Fi 怎么用？") == list("wi-fi怎么用?")
    assert fluency.normalize("ＡＢＣ１２３，") == "abc123,"


def test_prose_is_split_into_sentences_without_blanks():
    documents = ["今天天气很好。我们去公园吧！好", "成语填空＿＿很难。这一句可以用；短", ""]
    assert ["".join(t) for t in fluency.prose_sentences(documents)] == ["今天天气很好。", "我们去公园吧!", "这一句可以用;"]


def test_score_is_per_character_with_the_end_counted():
    assert fluency.per_char_log10(-12.0, 5) == -2.0
    scores = list(range(1, 101))
    assert fluency.threshold_at(scores, 10) == pytest.approx(np.percentile(scores, 10))


@pytest.fixture(scope="module")
def judge():
    return fluency.FluencyJudge()


def test_fluent_candidates_first_keeps_cosine_order_within_each_group():
    class LengthJudge:  # short candidates read as fluent
        threshold = -3.0

        def score(self, text: str) -> float:
            return -float(len(text))

    ranked = [("今天天气很好啊", 0.9), ("天气好", 0.8), ("今天天天天天天", 0.7), ("好", 0.6)]
    first = fluency.judged_candidates(ranked, LengthJudge(), fluent_first=True)
    assert [row[0] for row in first] == ["天气好", "好", "今天天气很好啊", "今天天天天天天"]
    assert [row[3] for row in first] == [True, True, False, False] and first[0][1:3] == (0.8, -3.0)
    plain = fluency.judged_candidates(ranked, LengthJudge(), fluent_first=False)
    assert [row[0] for row in plain] == [text for text, _ in ranked]


def test_bundled_judge_fits_and_records_its_calibration(judge):
    files = list(fluency.ASSET_DIR.iterdir())
    assert {p.name for p in files} == {fluency.MODEL_FILE, fluency.CALIBRATION_FILE}
    assert all(p.stat().st_size <= BUNDLE_LIMIT for p in files)
    calibration = judge.calibration
    assert calibration["percentile"] == fluency.PERCENTILE and calibration["order"] == fluency.ORDER
    assert judge.threshold == calibration["threshold"] == pytest.approx(calibration["real_sentence_percentiles"]["10"], abs=1e-4)
    assert not any("sts" in name.lower() for name in calibration["trained_on"])  # never trained on what it judges


def test_bundled_judge_separates_sentences_from_character_salad(judge):
    real = ["今天天气怎么样", "怎么开通花呗", "广州和深圳哪个好？", "我喜欢北京", "微信账号怎么注销", "这部电影好看吗"]
    rng = random.Random(0)
    salad = ["".join(rng.sample(s, len(s))) for s in real for _ in range(3)]
    assert all(judge.is_fluent(s) for s in real)
    assert np.mean([judge.is_fluent(s) for s in salad]) < 0.2
    assert judge.score("今天天气怎么样") > judge.score("样么天怎今气天")


def test_score_command_prints_json(capsys):
    fluency.main(["score", "今天天气怎么样"])
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["scores"][0]["fluent"] is True and result["threshold"] < 0


@pytest.mark.kenlm_tools  # needs KenLM's lmplz/build_binary, built by hand (fluency.py's docstring): `pytest -m kenlm_tools`
def test_build_trains_and_calibrates(tmp_path):
    prose = tmp_path / "prose"
    prose.mkdir()
    (prose / "a.txt").write_text("今天天气很好。我们去公园吧！我喜欢北京。北京天气不错。\n" * 50, encoding="utf-8")
    sts = tmp_path / "sts"
    for name in ("ATEC", "BQ", "LCQMC", "STS-B"):
        (sts / name).mkdir(parents=True)
        (sts / name / f"{name}.test.data").write_text("今天天气很好\t北京天气不错\t1\n我喜欢北京\t我们去公园\t0\n", encoding="utf-8")
    calibration = fluency.build(prose, sts, tmp_path / "out", None)
    assert calibration["training_sentences"] == 200 and calibration["calibrated_on"].startswith("4 distinct")
    assert fluency.FluencyJudge(tmp_path / "out").is_fluent("今天天气很好")
