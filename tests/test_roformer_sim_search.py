"""Sentence search: list reading and checks, exact top-k with numpy and faiss, the per-process cache, the tab."""

from __future__ import annotations

import gradio as gr
import numpy as np
import pytest

from core import checkpoints
from core.roformer_sim import generate, search
from demos import roformer_sim as tab
from demos.common import guarded
from tests.test_roformer_sim import hub_dir, sim  # noqa: F401 - fixtures shared with the model tests

FAQ = ["我喜欢北京", "今天天气不错", "今天天气很好", "广州和深圳哪个好？", "我不喜欢北京"]


def unit_rows(n: int, dim: int = 16, seed: int = 0) -> np.ndarray:
    vectors = np.random.default_rng(seed).standard_normal((n, dim)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def test_lists_from_text_and_files(tmp_path):
    assert search.sentences_from_text(" 甲 \n\n乙\n甲\r\n丙") == ["甲", "乙", "丙"]
    csv_file = tmp_path / "faq.csv"
    csv_file.write_text('\ufeff"怎么还款，要多久",答案一\n花呗,答案二\n\n花呗,重复\n', encoding="utf-8")
    assert search.sentences_from_file(csv_file) == ["怎么还款，要多久", "花呗"]
    txt_file = tmp_path / "faq.txt"
    txt_file.write_text("a,b\nc\n", encoding="utf-8")
    assert search.sentences_from_file(txt_file) == ["a,b", "c"]
    (tmp_path / "gbk.txt").write_bytes("花呗".encode("gbk"))
    with pytest.raises(ValueError, match="not UTF-8"):
        search.sentences_from_file(tmp_path / "gbk.txt")


def test_checks_say_what_is_wrong(monkeypatch):
    with pytest.raises(ValueError, match="sentence list is empty"):
        search.check_sentences([])
    monkeypatch.setattr(search, "MAX_LINES", 3)
    with pytest.raises(ValueError, match="has 4 distinct lines; at most 3"):
        search.check_sentences(["a", "b", "c", "d"])
    with pytest.raises(ValueError, match="query is empty"):
        search.check_query("  ")
    with pytest.raises(ValueError, match="at least 1"):
        search.check_k(0)


def test_list_hash_depends_on_content_and_order():
    assert search.list_hash(["a", "b"]) == search.list_hash(["a", "b"])
    assert search.list_hash(["a", "b"]) != search.list_hash(["b", "a"])
    assert search.list_hash(["ab"]) != search.list_hash(["a", "b"])


def test_top_k_is_exact_and_ordered():
    vectors = unit_rows(50)
    rows, scores = search.top_k(vectors, vectors[7], 5)
    full = vectors @ vectors[7]
    assert rows[0] == 7 and np.isclose(scores[0], 1.0)
    assert list(rows) == list(np.argsort(-full)[:5]) and np.all(np.diff(scores) <= 0)
    assert len(search.top_k(vectors, vectors[0], 500)[0]) == 50


def test_faiss_and_numpy_give_the_same_ranking(monkeypatch):
    vectors = unit_rows(300, seed=1)
    sentences = [f"s{i}" for i in range(300)]
    monkeypatch.setattr(search, "FAISS_MIN_LINES", 10**9)
    small = search.SentenceIndex(sentences, vectors)
    monkeypatch.setattr(search, "FAISS_MIN_LINES", 1)
    large = search.SentenceIndex(sentences, vectors)
    assert (small.library, large.library) == ("numpy", "faiss")
    a, b = small.search(vectors[3], 10), large.search(vectors[3], 10)
    assert [s for s, _ in a] == [s for s, _ in b] and np.allclose([x for _, x in a], [x for _, x in b], atol=1e-5)
    assert len(large.search(vectors[3], 1000)) == 300


def test_cache_encodes_a_list_once_per_model(sim):  # noqa: F811
    cache = search.IndexCache(size=2)
    progress = []
    index, cached = cache.get(sim, FAQ, progress.append)
    assert not cached and progress[-1] == len(FAQ)
    again, cached = cache.get(sim, list(FAQ), progress.append)
    assert cached and again is index and progress[-1] == len(FAQ) and len(progress) == 1
    cache.get(sim, FAQ[:2])
    cache.get(sim, FAQ[:3])  # the oldest list (FAQ) leaves the cache
    assert not cache.get(sim, FAQ)[1]


def test_search_finds_a_listed_sentence_first(sim):  # noqa: F811
    index = search.build_index(sim, FAQ)
    results = index.search(search.query_vector(sim, "今天天气很好"), 3)
    assert results[0][0] == "今天天气很好" and results[0][1] == pytest.approx(1.0, abs=1e-5)
    expected = generate.encode(sim, FAQ) @ generate.encode(sim, ["今天天气很好"])[0]
    assert [s for s, _ in results] == [FAQ[i] for i in np.argsort(-expected)[:3]]
    with pytest.raises(ValueError, match="query is too long"):
        search.query_vector(sim, "我" * 80)


@pytest.fixture
def tiny_model(hub_dir, monkeypatch):  # noqa: F811
    monkeypatch.setenv("ROFORMER_SIM_CHECKPOINT", str(hub_dir))
    checkpoints.clear_cache()
    yield
    checkpoints.clear_cache()


def test_tab_search_pasted_and_uploaded(tiny_model, tmp_path):
    rows, note = tab.sentence_search("\n".join(FAQ), None, "我喜欢北京", 3, checkpoints.BUNDLED)
    assert [r[0] for r in rows] == [1, 2, 3] and rows[0][1] == "我喜欢北京"
    assert "top 3 of 5 sentences from the pasted list" in note and "encoded in" in note and "numpy" in note
    upload = tmp_path / "faq.csv"
    upload.write_text("\n".join(f"{s},answer" for s in FAQ), encoding="utf-8")
    rows, note = tab.sentence_search("ignored", str(upload), "我喜欢北京", 10, checkpoints.BUNDLED)
    assert len(rows) == 5 and "from faq.csv (vectors reused" in note  # same list, same model: not encoded again


@pytest.mark.parametrize(
    "pasted, query, message",
    [("", "花呗", "sentence list is empty"), ("花呗\n借呗", " ", "query is empty")],
)
def test_tab_search_errors(tiny_model, pasted, query, message):
    with pytest.raises(gr.Error, match=message):
        guarded(tab.sentence_search)(pasted, None, query, 5, checkpoints.BUNDLED)


@pytest.mark.parametrize(
    "query, expected",
    [("花呗用不了是什么原因", "为什么我的花呗不能用了"), ("支付密码忘了", "忘记支付密码怎么办"), ("退货怎么退钱", "如何申请退款")],
)
def test_bundled_model_finds_the_faq_entry(query, expected):
    """The tab's example list with the bundled model: a reworded question finds its entry first."""
    rows, note = tab.sentence_search(tab.SEARCH_EXAMPLE, None, query, 3, checkpoints.BUNDLED)
    assert rows[0][1] == expected and rows[0][2] > rows[1][2]
    assert "of 12 sentences from the pasted list" in note
