"""The paraphrase tab's handlers on the tiny Hub replica: outputs, latency, clear errors."""

from __future__ import annotations

import gradio as gr
import pytest

from core import checkpoints
from core.roformer_sim import generate
from demos import roformer_sim as tab
from demos.common import guarded
from tests.test_roformer_sim import hub_dir  # noqa: F401 - fixture shared with the model tests


@pytest.fixture
def tiny_model(hub_dir, monkeypatch):  # noqa: F811
    monkeypatch.setenv("ROFORMER_SIM_CHECKPOINT", str(hub_dir))
    checkpoints.clear_cache()
    yield
    checkpoints.clear_cache()


def test_paraphrase_table_and_latency(tiny_model):
    rows, note = tab.paraphrases("我喜欢北京", 8, 3, 0.95, 0, "", True, "sampling (top-p)", checkpoints.BUNDLED)
    assert 0 < len(rows) <= 3 and [r[0] for r in rows] == list(range(1, len(rows) + 1))
    assert note.startswith("我喜欢北京 → ") and "of 8 sampled" in note and " ms" in note
    fluent = [row[6] == "✓" for row in rows]
    assert fluent == sorted(fluent, reverse=True) and f"{sum(fluent)} pass the fluency judge" in note  # fluent ones first
    judge = tab.fluency_judge()
    assert all(row[5] == round(judge.score(row[1]), 2) and (row[6] == "✓") == judge.is_fluent(row[1]) for row in rows)
    assert all(row[2] == generate.changes("我喜欢北京", row[1]) for row in rows)
    # the reader check is fitted to the bundled generator: a random replica is ordered by cosine, and says so
    by_cosine, note = tab.paraphrases("我喜欢北京", 8, 8, 0.95, 0, "", False, "sampling (top-p)", checkpoints.BUNDLED)
    assert [row[4] for row in by_cosine] == sorted((row[4] for row in by_cosine), reverse=True)
    assert all(row[3] is None for row in by_cosine) and "ordered by cosine" in note


def test_the_bundled_generator_is_ordered_by_the_reader_check():
    checkpoints.clear_cache()
    rows, note = tab.paraphrases("这个苹果很甜", 20, 10, 0.8, 0, "", False, "beam search", checkpoints.BUNDLED)
    readers = [row[3] for row in rows]
    assert len(rows) >= 5 and all(0 <= r <= 1 for r in readers) and readers == sorted(readers, reverse=True)
    assert "ordered by the reader check" in note
    # the reader's verdicts taught it that swapping the word that carries the meaning is worse than a particle
    by_text = {row[1]: row[3] for row in rows}
    assert by_text["这个苹果很甜啊"] > by_text["这个苹果很凉"]


def test_the_bundled_tab_does_not_append_questions_to_the_input():
    """Rule 42u's tail penalty: without it the first example showed 今天天气不错什么意思 and 今天天气不错怎么回事."""
    checkpoints.clear_cache()
    rows, _ = tab.paraphrases("今天天气不错", 20, 10, 0.8, 0, "", False, "beam search", checkpoints.BUNDLED)
    tails = [row[1][len("今天天气不错"):] for row in rows if row[1].startswith("今天天气不错")]
    assert tails and all(ch in generate.FINAL_PARTICLES for tail in tails for ch in tail.strip("。！？"))


def test_beam_search_in_the_tab(tiny_model):
    rows, note = tab.paraphrases("我喜欢北京", 6, 3, 0.95, 0, "", True, "beam search", checkpoints.BUNDLED)
    assert 0 < len(rows) <= 3 and "of 6 beams" in note
    again, again_note = tab.paraphrases("我喜欢北京", 6, 3, 0.3, 9, "", True, "beam search", checkpoints.BUNDLED)
    assert again == rows and again_note.split(" · **")[0] == note.split(" · **")[0]  # top-p and seed unused


def test_compare_and_heatmap(tiny_model):
    assert "cosine = " in tab.compare("今天天气不错", "今天天气很好", checkpoints.BUNDLED)
    page = tab.heatmap("我喜欢北京\n\n<b>今天</b>\n", checkpoints.BUNDLED)
    assert page.count("<tr>") == 3 and "&lt;b&gt;" in page and "2 sentences" in page


@pytest.mark.parametrize(
    "handler, args, message",
    [
        (tab.paraphrases, ("", 8, 3, 0.95, 0, "", True, "sampling (top-p)", "bundled"), "empty"),
        (tab.paraphrases, ("我" * 80, 8, 3, 0.95, 0, "", True, "sampling (top-p)", "bundled"), "too long"),
        (tab.paraphrases, ("我喜欢北京", 8, 3, 0.95, 0, "2,x", True, "sampling (top-p)", "bundled"), "mask positions"),
        (tab.paraphrases, ("我喜欢北京", 8, 3, 0.95, 10**30, "", True, "sampling (top-p)", "bundled"), "seed must be a whole number from 0 to"),
        (tab.paraphrases, ("我喜欢北京", 8, 3, 0.95, None, "", True, "sampling (top-p)", "bundled"), "seed must be a whole number"),
        (tab.paraphrases, ("我喜欢北京", 8, 3, 0.95, 0, "", True, "greedy", "bundled"), "decoding must be one of"),
        (tab.compare, ("我喜欢北京", " ", "bundled"), "second sentence is empty"),
        (tab.heatmap, ("只有一句", "bundled"), "at least two"),
        (tab.heatmap, ("\n".join("我喜欢北京" for _ in range(13)), "bundled"), "At most 12"),
    ],
)
def test_bad_input_becomes_a_readable_message(tiny_model, handler, args, message):
    with pytest.raises(gr.Error, match=message):
        guarded(handler)(*args)
