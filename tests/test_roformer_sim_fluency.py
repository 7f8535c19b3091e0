"""The fluency judge: the pure features and corruptions, the threshold rule, and the bundled judge on real and broken text."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.roformer_sim import fluency

BUNDLE_LIMIT = 9.5 * 1024 * 1024
JUDGE_FOLDER_LIMIT = 14 * 1000 * 1000  # the judge's share of assets/: 1.7 MB of word bigrams + at most 12 MB more
REAL = ["今天天气怎么样", "怎么开通花呗", "广州和深圳哪个好？", "我喜欢北京", "微信账号怎么注销", "这部电影好看吗",
        "明天早上我要早点出门", "这家饭馆的面条很好吃", "附近有没有便宜的停车场", "我的手机没电了"]


def test_repeats_and_runs():
    assert fluency.longest_run("小孩不再吃吃吃吃什么") == 4 and fluency.longest_run("今天天气") == 2
    assert fluency.longest_run("") == 0
    assert fluency.excess_repeats("今天天气") == 0.0 and fluency.excess_repeats("高高兴兴") == 0.0  # doubled characters are words
    assert fluency.excess_repeats("吃吃吃吃") == pytest.approx(2 / 4)  # the third and the fourth copy
    assert fluency.excess_repeats("讨论讨论") == pytest.approx(1 / 4)  # the pair repeated: its last character counts
    assert fluency.excess_repeats("看") == 0.0
    assert fluency.repeated_bigrams("快递什么时候会到什么时候到") == pytest.approx(3 / 12)  # 什么, 么时, 时候 again
    assert fluency.repeated_bigrams("吃吃吃") == 0.0 and fluency.repeated_bigrams("看") == 0.0  # overlapping pairs are runs
    assert fluency.repeated_bigrams("讨论讨论") == pytest.approx(1 / 3)


def test_summaries():
    mean, low, quarter = fluency.mlm_summary([-1.0, -2.0, -9.0, -0.5])
    assert (mean, low, quarter) == (pytest.approx(-3.125), -9.0, -9.0)
    assert all(np.isnan(fluency.mlm_summary([])))
    share, log_freq = fluency.word_summary(["今天", "天气", "怎么样", "？"], {"今天": 10, "天气": 5})
    assert share == pytest.approx(4 / 7) and log_freq == pytest.approx((np.log1p(10) + np.log1p(5) + 0) / 3)



def test_bigram_summary_from_hashed_counts():
    unigram, bigram = np.zeros(1 << 16, np.uint8), np.zeros(1 << 18, np.uint8)
    for table, key, count in ((unigram, "<s>", 3), (unigram, "今天", 3), (unigram, "天气", 1), (bigram, "<s> 今天", 3), (bigram, "今天 天气", 1)):
        table[fluency.bucket(key, len(table))] = fluency.quantised(np.array([count]))[0]
    mean, unseen, end, worst = fluency.bigram_summary(["今天", "天气"], unigram, bigram)
    expected = np.log([(3 + 0.5) / 4, (1 + 0.5) / 4, 0.5 / 2])  # P = (c(a b) + 0.5) / (c(a) + 1); 天气 </s> unseen
    assert (mean, unseen, end, worst) == (pytest.approx(expected.mean()), pytest.approx(1 / 3), pytest.approx(expected[2]),
                                          pytest.approx(expected.min()))
    assert all(np.isnan(fluency.bigram_summary([], unigram, bigram)))

@given(st.text(alphabet="今天气很好我们去公园吧的了是", min_size=4, max_size=30), st.integers(0, 2**32))
def test_corruptions_keep_what_they_promise(text, seed):
    rng = random.Random(seed)
    assert sorted(fluency.shuffled(text, rng)) == sorted(text)
    assert fluency.shuffled(text, rng) != text or len(set(text)) == 1
    substituted = fluency.substituted(text, rng, ["猫"], [1.0])
    changed = sum(a != b for a, b in zip(text, substituted))
    assert len(substituted) == len(text) and changed <= max(1, round(0.3 * len(text))) + 1
    assert substituted.count("猫") >= 1
    assert text.startswith(fluency.cut(text, rng)) and len(fluency.cut(text, rng)) < len(text)
    assert fluency.longest_run(fluency.repeated(text, rng)) >= 3


@given(st.text(alphabet="好，。…！", min_size=1, max_size=12), st.integers(0, 2**32))
def test_repeats_of_a_text_with_fewer_word_characters_than_repeats(text, seed):
    # 好…………… has one word character but is long enough for two repeats: the one it has is repeated
    assert len(fluency.repeated(text, random.Random(seed))) >= len(text) + 2


def test_balanced_threshold_separates_when_it_can():
    assert fluency.balanced_threshold([0.8, 0.9, 0.7], [0.1, 0.2, 0.3]) == pytest.approx(0.5)
    t = fluency.balanced_threshold([0.8, 0.9, 0.4], [0.1, 0.2, 0.5])
    rates = fluency.rates([0.8, 0.9, 0.4], [0.1, 0.2, 0.5], t)
    assert (rates["tpr"] + rates["tnr"]) / 2 == pytest.approx(5 / 6, abs=1e-4)


def test_fluent_candidates_first_keeps_the_order_within_each_group():
    ranked = [("今天天气很好啊", 0.9), ("天气好", 0.8), ("今天天天天天天", 0.7), ("好", 0.6)]
    scores = [-float(len(text)) for text, _ in ranked]  # short candidates read as fluent
    first = fluency.judged_candidates(ranked, scores, -3.0, fluent_first=True)
    assert [row[0] for row in first] == ["天气好", "好", "今天天气很好啊", "今天天天天天天"]
    assert [row[3] for row in first] == [True, True, False, False] and first[0][1:3] == (0.8, -3.0) and first[0][4] is None
    plain = fluency.judged_candidates(ranked, scores, -3.0, fluent_first=False)
    assert [row[0] for row in plain] == [text for text, _ in ranked]
    readers = [0.2, 0.1, 0.9, 0.5]  # the reader check's probabilities order them, best first
    by_reader = fluency.judged_candidates(ranked, scores, -3.0, fluent_first=False, readers=readers)
    assert [row[0] for row in by_reader] == ["今天天天天天天", "好", "今天天气很好啊", "天气好"] and by_reader[0][4] == 0.9
    grouped = fluency.judged_candidates(ranked, scores, -3.0, fluent_first=True, readers=readers)
    assert [row[0] for row in grouped] == ["好", "天气好", "今天天天天天天", "今天天气很好啊"]


# ---------------------------------------------------------------- the bundled judge


@pytest.fixture(scope="module")
def judge():
    return fluency.FluencyJudge()


def test_bundled_judge_is_small_and_records_its_checks(judge):
    assert {p.name for p in fluency.ASSET_DIR.iterdir()} == {fluency.JUDGE_FILE, fluency.NGRAM_FILE, fluency.CHAR_LM_DIR,
                                                            fluency.BACKWARD_LM_DIR}
    files = [p for p in fluency.ASSET_DIR.rglob("*") if p.is_file()]
    assert all(p.stat().st_size <= BUNDLE_LIMIT for p in files)
    assert sum(p.stat().st_size for p in files) <= JUDGE_FOLDER_LIMIT
    assert judge.names == fluency.FEATURE_SETS["both_ways"]  # both char LMs weighed (rule 42o, the roformer_sim card)
    assert judge.evidence.backward_lm[0].config.reverse and not judge.evidence.char_lm[0].config.reverse
    record = judge.record
    assert set(record["test"]["held_out_rejected"]) == set(fluency.HELD_OUT_KINDS)
    assert not set(fluency.HELD_OUT_KINDS) & set(record["fit"]["kinds"])  # held-out kinds were never fitted on
    assert record["test"]["held_out_rejected"]["shuffled"] >= 0.95  # never fitted on shuffles


def test_bundled_judge_rejects_shuffled_sentences(judge):
    rng = random.Random(0)
    shuffled = [fluency.shuffled(s, rng) for s in REAL for _ in range(3)]
    assert np.mean([judge.is_fluent(s) for s in REAL]) >= 0.8
    assert np.mean([judge.is_fluent(s) for s in shuffled]) <= 0.1
    assert judge.score("今天天气怎么样") > judge.score("样么天怎今气天")


def test_evidence_computes_only_the_groups_asked_and_the_same_values(judge):
    texts = ["今天天气怎么样", "明天晚上日早上出外一般", "我喜欢北京"]
    every = judge.evidence.all_features(texts)
    for names in (fluency.LM_FEATURES, fluency.WORD_FEATURES, fluency.MLM_FEATURES, fluency.CONTEXT_FEATURES, ("lm_mean", "mlm_min")):
        assert np.allclose(judge.evidence.features(texts, names), every[:, [fluency.FEATURES.index(n) for n in names]], equal_nan=True)


def test_bundled_char_lm_finds_the_joint_of_spliced_halves(judge):
    first, second = "这家饭馆的面条很好吃", "附近有没有便宜的停车场"
    lm = judge.evidence.features([first, second, first[:6] + second[6:]], fluency.LM_FEATURES)  # 这家饭馆的面|宜的停车场
    worst = fluency.LM_FEATURES.index("lm_worst_window")
    assert lm[2, worst] < min(lm[0, worst], lm[1, worst]) - 1


def test_bundled_judge_rejects_repeated_characters_and_blank_text(judge):
    assert not judge.is_fluent("小孩不再吃吃吃吃什么")
    assert judge.scores(["", "？！"]) == [0.0, 0.0]


def test_judge_command_prints_one_json_line_per_input_line(tmp_path, capsys):
    path = tmp_path / "texts.txt"
    path.write_text("今天天气怎么样\n样么天怎今气天\n", encoding="utf-8")
    fluency.main(["judge", str(path)])
    lines = [json.loads(line) for line in capsys.readouterr().out.strip().splitlines()]
    assert [line["text"] for line in lines] == ["今天天气怎么样", "样么天怎今气天"]
    assert lines[0]["fluent"] is True and lines[1]["fluent"] is False and lines[0]["score"] > lines[1]["score"]


def test_fit_judge_weighs_only_the_named_features():
    rng = np.random.default_rng(0)
    names = ["fit/positive", *(f"fit/{k}" for k in fluency.FIT_KINDS), "dev/positive", *(f"dev/{k}" for k in fluency.FIT_KINDS),
             "test/positive", *(f"test/{k}" for k in fluency.HELD_OUT_KINDS)]
    features = {}
    for name in names:  # lm_mean tells real sentences from every negative; the rest is noise
        rows = rng.normal(size=(200, len(fluency.FEATURES)))
        rows[:, fluency.FEATURES.index("lm_mean")] += 3 if name.endswith("positive") else -3
        features[name] = rows
    model, threshold, report = fluency.fit_judge(features, ("lm_mean", "mlm_mean"))
    assert len(model.weights) == 2 and abs(model.weights[0]) > 5 * abs(model.weights[1])
    assert report["test"]["positive_accepted"] >= 0.95 and min(report["test"]["held_out_rejected"].values()) >= 0.95
    _, _, noise = fluency.fit_judge(features, ("mlm_mean",))
    assert noise["test"]["positive_accepted"] + noise["test"]["held_out_rejected"]["spliced"] < 1.3
    _, strict, report = fluency.fit_judge(features, ("lm_mean", "mlm_mean"), accept_dev_real=0.6)
    assert strict > threshold and report["dev"]["positive_accepted"] == pytest.approx(0.6, abs=0.01)
    with pytest.raises(ValueError, match="accept_dev_real must be a share between 0 and 1, got 60"):
        fluency.fit_judge(features, ("lm_mean",), accept_dev_real=60)


def test_auc_counts_ordered_pairs():
    assert fluency.auc([3, 4], [1, 2]) == 1.0 and fluency.auc([1, 2], [3, 4]) == 0.0
    assert fluency.auc([1, 2], [2, 1]) == 0.5 and fluency.auc([np.nan], [0.0]) == 0.0


def test_positives_from_names_the_sources_of_each_choice():
    assert fluency.positives_from("all", 1500) == ("STS train/valid sentences (ATEC, BQ, LCQMC, STS-B), chinese_sts_extra/bq_train, "
                                                   "the first 30000 lines of modern_prose")
    assert fluency.positives_from("everyday", 1500) == "STS train/valid sentences (LCQMC, STS-B), the first 7500 lines of modern_prose"


def test_backward_features_come_from_a_right_to_left_lm_in_the_judge_folder(tmp_path):
    import shutil

    (tmp_path / fluency.NGRAM_FILE).write_bytes(b"not read")
    shutil.copytree(fluency.ASSET_DIR / fluency.CHAR_LM_DIR, tmp_path / fluency.CHAR_LM_DIR)
    without = fluency.Evidence.in_folder(tmp_path)
    assert set(fluency.LM_FEATURES) <= set(without.available()) and not set(fluency.BACKWARD_FEATURES) & set(without.available())
    with pytest.raises(ValueError, match="needs .*back_lm_mean.* a right-to-left one in char_lm_backward/"):
        fluency.build(tmp_path, tmp_path, tmp_path, tmp_path, tmp_path / "prose.txt.xz", 10, 2, 0, feature_set="both_ways")
    shutil.copytree(tmp_path / fluency.CHAR_LM_DIR, tmp_path / fluency.BACKWARD_LM_DIR)
    with pytest.raises(ValueError, match="left-to-right char LM; the backward features need one trained with --reverse"):
        fluency.Evidence.in_folder(tmp_path).features(["今天天气怎么样"], fluency.BACKWARD_LM_FEATURES)
    # The same weights marked right to left: the backward features are the forward ones of the reversed text.
    config = tmp_path / fluency.BACKWARD_LM_DIR / "config.json"
    config.write_text(json.dumps({**json.loads(config.read_text()), "reverse": True}))
    evidence, texts = fluency.Evidence.in_folder(tmp_path), ["今天天气怎么样", "我喜欢北京"]
    assert set(fluency.BACKWARD_FEATURES) <= set(evidence.available())
    assert np.allclose(evidence.features(texts, fluency.BACKWARD_LM_FEATURES + fluency.BACKWARD_CONTEXT_FEATURES),
                       evidence.features([t[::-1] for t in texts], fluency.LM_FEATURES + fluency.CONTEXT_FEATURES))
    both = evidence.features(texts, fluency.BOTH_WAYS_FEATURES)[:, 0]
    assert np.isfinite(both).all() and (both < evidence.features(texts, ("lm_worst_window",))[:, 0]).all()  # two log probs a character
