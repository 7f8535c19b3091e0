"""The strength ladder: each mode against fairy-stockfish at several depths, recorded for the tab."""

from __future__ import annotations

import pytest
import torch

from core import metrics
from core.xiangqi import evaluate
from core.xiangqi.data import DEFAULT_GAMES
from core.xiangqi.model import GPTConfig, MoveGPT
from core.xiangqi.opponents import find_engine
from core.xiangqi.vocab import MoveVocab
from demos.xiangqi import ladder_scores

VOCAB = MoveVocab.build()


@pytest.mark.skipif(not DEFAULT_GAMES.is_file(), reason="the master games are not in ../shared/data")
def test_book_openings_are_different_validation_openings():
    openings = evaluate.book_openings(6, 4)
    assert len(openings) == 6 and all(len(o) == 4 for o in openings)
    assert len({tuple(o) for o in openings}) == 6  # repeats would replay the same game against the engine
    assert evaluate.book_openings(6, 0) == []


@pytest.mark.skipif(find_engine() is None, reason="fairy-stockfish is not installed")
def test_ladder_rows_are_recorded_and_read_back_by_the_tab(tmp_path, monkeypatch):
    torch.manual_seed(0)
    tiny = MoveGPT(GPTConfig(len(VOCAB), block_size=16, n_layer=1, n_head=2, n_embd=16)).eval()
    rows = evaluate.ladder(tiny, VOCAB, ["greedy", "search"], [1, 2], n_games=2, max_plies=12,
                           openings=[["h2e2", "h9g7"]], search_nodes=300)
    assert [(r["mode"], r["depth"]) for r in rows] == [("greedy", 1), ("search", 1), ("greedy", 2), ("search", 2)]
    assert all(r["wins"] + r["draws"] + r["losses"] == r["games"] == 2 for r in rows)
    monkeypatch.setattr(metrics, "metrics_path", lambda model: tmp_path / "metrics.json")
    evaluate.record_ladder(rows, book_plies=2, command="python -m core.xiangqi.evaluate ladder")
    entries = metrics.load("xiangqi")
    assert set(entries) == {"ladder_greedy_depth1", "ladder_search_depth1", "ladder_greedy_depth2", "ladder_search_depth2"}
    assert entries["ladder_search_depth2"]["label"] == "search mode vs fairy-stockfish depth 2, 2 games from validation openings (2 plies)"
    expected = ", ".join(f"{r['score']:.0%} {'vs fairy-stockfish depth' if r['depth'] == 1 else 'at depth'} {r['depth']}"
                         for r in rows if r["mode"] == "search")
    assert ladder_scores(entries, "search") == expected
