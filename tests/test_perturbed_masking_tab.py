"""The Segmentation & parse tab's handlers on a tiny model, and the bundled model end to end."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from core import checkpoints
from core.perturbed_masking import data, evaluate, figures, impact, model, segment, trees
from demos import perturbed_masking as tab
from tests.test_perturbed_masking import roformer_dir


def no_progress(*args, **kwargs) -> None:
    return None


@pytest.fixture(scope="module")
def tiny_source(tmp_path_factory) -> str:
    return str(roformer_dir(tmp_path_factory.mktemp("tab")))


def test_analyse_then_move_threshold_without_model(tiny_source, monkeypatch):
    sentence = tab.EXAMPLES[0]
    state, slider, info, words_html, bars, heat, constituency, dependency, brackets = tab.analyse(
        sentence, tiny_source, 2, 0.001, "absolute", tab.TREE_WORDS[1], progress=no_progress
    )
    assert state["text"] == sentence and state["gaps"].shape == (3, len(sentence) - 1)
    assert "jieba" in words_html and "<svg" in constituency and "<svg" in dependency
    assert brackets.replace("(", "").replace(")", "").replace(" ", "") == sentence
    assert f"{len(sentence)} characters" in info

    encoder = tab.encoder_for(tiny_source)

    def no_forward(*args, **kwargs):
        raise AssertionError("moving the threshold must not run the model")

    monkeypatch.setattr(encoder.model, "forward", no_forward)
    fine, _ = tab.resegment(state, tiny_source, 2, 1e9, "absolute")
    coarse, _ = tab.resegment(state, tiny_source, 2, -1e9, "absolute")
    assert fine.count('class="pm-word') > coarse.count('class="pm-word')
    # switching the rule loads its own threshold and redraws (new words need their word matrix for the trees)
    monkeypatch.undo()
    update, *views = tab.switch_rule(state, tiny_source, 2, "relative", tab.TREE_WORDS[0])
    assert update["value"] == impact.FALLBACK_THRESHOLDS["relative"]  # the tiny checkpoint has no tuned file
    relative = segment.Segmentation(sentence, state["gaps"]).scores(2, "relative")
    assert update["maximum"] >= np.nanmax(relative)
    assert views[1] == tab.resegment(state, tiny_source, 2, update["value"], "relative")[0]
    update, *views = tab.switch_rule(state, tiny_source, 2, "combined", tab.TREE_WORDS[0])
    combined = segment.Segmentation(sentence, state["gaps"], state["gains"]).scores(2, "combined")
    assert update["value"] == impact.FALLBACK_THRESHOLDS["combined"] and update["maximum"] >= np.nanmax(combined)
    assert views[1] == tab.resegment(state, tiny_source, 2, update["value"], "combined")[0]
    before_any_text = tab.switch_rule(None, tiny_source, 2, "absolute", tab.TREE_WORDS[0])
    assert before_any_text[0]["maximum"] == 2.5 * impact.FALLBACK_THRESHOLDS["absolute"] and len(before_any_text) == 8
    assert "jieba" in views[1] and "<svg" in views[4]


def test_info_line_follows_the_layer(tiny_source):
    state, *_ = tab.analyse(tab.EXAMPLES[1], tiny_source, 2, 0.001, "absolute", tab.TREE_WORDS[0], progress=no_progress)
    info, *_ = tab.redraw(state, tiny_source, 1, 0.001, "absolute", tab.TREE_WORDS[0])
    assert f"{len(tab.EXAMPLES[1])} characters · layer 1 of 2" in info


def test_typed_words_and_limits(tiny_source):
    out = tab.analyse("我们 在 野生 动物园 玩", tiny_source, 1, 0.01, "relative", tab.TREE_WORDS[2], progress=no_progress)
    assert out[-1].replace("(", "").replace(")", "").split() == ["我们", "在", "野生", "动物园", "玩"]
    with pytest.raises(ValueError, match="at most 64"):
        tab.analyse("我" * 65, tiny_source, 1, 0.01, "absolute", tab.TREE_WORDS[0], progress=no_progress)
    with pytest.raises(ValueError, match="separate them with spaces"):
        tab.analyse("我们在玩", tiny_source, 1, 0.01, "absolute", tab.TREE_WORDS[2], progress=no_progress)
    with pytest.raises(ValueError, match="layers 0–2"):
        tab.analyse("我们在玩", tiny_source, 7, 0.01, "absolute", tab.TREE_WORDS[0], progress=no_progress)
    with pytest.raises(ValueError, match="Type a Chinese sentence"):
        tab.analyse("   ", tiny_source, 1, 0.01, "absolute", tab.TREE_WORDS[0], progress=no_progress)
    with pytest.raises(ValueError, match="unknown join rule 'nearest'"):
        tab.analyse("我们在玩", tiny_source, 1, 0.01, "nearest", tab.TREE_WORDS[0], progress=no_progress)


def test_fitted_rule_needs_a_tuned_read_out(tiny_source, tmp_path):
    state, *_ = tab.analyse(tab.EXAMPLES[1], tiny_source, 2, 0.001, "absolute", tab.TREE_WORDS[0], progress=no_progress)
    with pytest.raises(ValueError, match="has no fitted read-out"):
        tab.switch_rule(state, tiny_source, 2, "fitted", tab.TREE_WORDS[0])
    tuned = roformer_dir(tmp_path)  # the same tiny model, with a read-out fitted on one segmented sentence
    gold = [["计算机", "的", "鼠标", "有", "什么", "比较", "特殊", "的", "用途", "呢"], ["我", "爱", "北京", "天安门"]]
    result = evaluate.tune(model.load(tuned, torch.device("cpu")), gold, fit_lines=1, thresholds=10)
    (tuned / impact.DEFAULTS_FILE).write_text(json.dumps({"layer": 2, "rule": "fitted", "thresholds": result["thresholds"],
                                                          "readout": result["readout"]}))
    source = str(tuned)
    state, slider, _, words_html, bars, *_ = tab.analyse(tab.EXAMPLES[1], source, 2, 0.5, "fitted", tab.TREE_WORDS[0], progress=no_progress)
    assert "fitted probability of one word" in bars and slider["maximum"] >= 0.5
    update, *views = tab.switch_rule(state, source, 2, "fitted", tab.TREE_WORDS[0])
    assert update["value"] == result["thresholds"]["fitted"] and views[1] == tab.resegment(state, source, 2, update["value"], "fitted")[0]


@pytest.mark.parametrize("text", ["我", "今天", "我爱你", "。"])
@pytest.mark.parametrize("mode", [tab.TREE_WORDS[0], tab.TREE_WORDS[1]])
def test_short_input_gives_words_and_a_trivial_tree(tiny_source, text, mode):
    """One character or one word is a sentence too: its words and a one-leaf tree, never an error."""
    *_, words_html, bars, heat, constituency, dependency, brackets = tab.analyse(
        text, tiny_source, 2, -1e9, "absolute", mode, progress=no_progress)  # -inf threshold: everything one word
    assert "pm-word" in words_html and "<svg" in constituency and "<svg" in dependency
    assert brackets.replace("(", "").replace(")", "").replace(" ", "") == text


def test_compare_html_marks_differences():
    html = figures.compare_html(["大肠杆菌", "是", "人和"], ["大肠杆菌", "是", "人", "和"])
    assert html.count("pm-diff") - html.count(".pm-diff") == 3  # 人和 vs 人 + 和
    assert "2 of 3 words agree" in html


# ----------------------------------------------------------------------------- bundled model


@pytest.fixture(scope="module")
def bundled() -> impact.Encoder:
    directory = checkpoints.spec("perturbed_masking").asset_dir
    assert (directory / "config.json").is_file(), "bundled checkpoint missing: python -m core.perturbed_masking.train"
    return model.load(directory, torch.device("cpu"))


def test_bundled_checkpoint_layout_and_defaults(bundled):
    directory = checkpoints.spec("perturbed_masking").asset_dir
    defaults = json.loads((directory / impact.DEFAULTS_FILE).read_text())
    assert (bundled.defaults.layer, bundled.defaults.rule, bundled.defaults.thresholds) == (defaults["layer"], defaults["rule"], defaults["thresholds"])
    assert set(defaults["thresholds"]) == set(segment.JOIN_RULES)
    assert bundled.model.config.type_vocab_size == 2  # the paraphrase model reuses these weights
    assert all(f.stat().st_size <= 9.5e6 for f in directory.iterdir())
    assert sum(f.stat().st_size for f in directory.iterdir()) <= 10e6


def test_bundled_model_segments_held_out_news_better_than_trivial(bundled):
    """On 40 held-out People's Daily lines the tuned model beats single characters and jieba's half."""
    _, dev = data.split_people_daily(data.people_daily_sentences(data.people_daily_path()))
    sentences = [words for words in dev if len("".join(words)) <= 40][:40]
    result = evaluate.evaluate_segmentation(bundled, sentences, bundled.defaults.layer, bundled.defaults.threshold, bundled.defaults.rule)
    singles = segment.SpanCounts()
    for words in sentences:
        singles.add(list("".join(words)), words)
    assert result["f1"] > singles.scores()["f1"] + 0.1
    assert result["f1"] > 0.5 * result["jieba_f1"]


def test_bundled_model_trees_are_valid(bundled):
    words = ["计算机", "的", "鼠标", "有", "什么", "比较", "特殊", "的", "用途", "呢"]
    matrix = impact.word_matrix(bundled, words)[bundled.defaults.layer]
    assert np.isfinite(matrix).all() and (matrix >= 0).all()
    heads = trees.dependency_heads(matrix)
    assert trees.is_tree(heads) and trees.is_projective(heads)
