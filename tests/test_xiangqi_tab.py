"""The xiangqi tab's handlers: typed moves in any notation, the evaluation bar, the measured strengths."""

from __future__ import annotations

import re

import pytest

from core.xiangqi.svg import HEIGHT, odds_bar_svg
from demos import xiangqi as tab

LADDER = {
    "ladder_search_depth2": {"raw": {"mode": "search", "depth": 2, "score": 0.1}},
    "ladder_search_depth1": {"raw": {"mode": "search", "depth": 1, "score": 0.45}},
    "ladder_greedy_depth1": {"raw": {"mode": "greedy", "depth": 1, "score": 0.2}},
    "predict_top1": {"raw": {"top1": 0.35}},
}


def test_ladder_scores_read_each_modes_rows_in_depth_order():
    assert tab.ladder_scores(LADDER, "search") == "45% vs fairy-stockfish depth 1, 10% at depth 2"
    assert tab.ladder_scores(LADDER, "greedy") == "20% vs fairy-stockfish depth 1"
    assert tab.ladder_scores(LADDER, "sample") == "" and tab.ladder_scores({}, "search") == ""


def test_strength_labels_carry_the_recorded_scores_and_keep_their_values(monkeypatch):
    monkeypatch.setattr(tab.metrics, "load", lambda model: LADDER)
    labels = dict((value, label) for label, value in tab.strength_choices())
    assert list(labels) == list(tab.STRENGTHS)
    assert labels[tab.DEFAULT_STRENGTH].endswith("· 45% vs fairy-stockfish depth 1, 10% at depth 2")
    assert labels["Casual: sampled policy (temperature 1.0)"] == "Casual: sampled policy (temperature 1.0)"


def _segment_heights(svg: str) -> list[float]:
    return [float(h) for h in re.findall(r'<rect x="0" y="[\d.]+" width="\d+" height="([\d.]+)"', svg)]


def test_odds_bar_splits_the_boards_height_black_on_top_unless_flipped():
    svg = odds_bar_svg(0.5, 0.3, 0.2)
    heights = _segment_heights(svg)
    assert heights == pytest.approx([0.2 * HEIGHT, 0.3 * HEIGHT, 0.5 * HEIGHT], abs=0.1)  # black, draw, red
    assert "Red wins 50%, draw 30%, Black wins 20%" in svg
    assert _segment_heights(odds_bar_svg(0.5, 0.3, 0.2, flipped=True)) == heights[::-1]
    with pytest.raises(ValueError, match="non-negative"):
        odds_bar_svg(0.0, 0.0, 0.0)


def test_a_move_typed_in_chinese_is_played_and_the_bar_follows():
    game, board, bar, status, moves, fen = tab.on_play(None, "炮二平五", "Policy: the model's first choice that does not repeat (greedy)")
    assert game.board.move_stack[0] == "h2e2" and "炮二平五" in moves and len(game.board.move_stack) == 2
    assert 'class="xq-odds"' in bar and "Red wins" in bar
    with pytest.raises(tab.gr.Error, match="cannot read '炮二平十' as a move"):  # the toast; nothing changes
        tab.on_play(game, "炮二平十", tab.DEFAULT_STRENGTH)
    assert len(game.board.move_stack) == 2


def test_the_strong_mode_answers_with_a_legal_move_and_says_how_deep_it_searched():
    game, board, bar, status, moves, fen = tab.on_play(None, "h2e2", tab.DEFAULT_STRENGTH)
    assert len(game.board.move_stack) == 2 and game.last_choice.depth >= 3
    assert re.search(r"searching \d plies deep; its policy liked", status)
    game, *_ = tab.on_play(game, "h0g2", "Policy: the model's first choice that does not repeat (greedy)")
    assert game.last_choice.depth is None and len(game.board.move_stack) == 4
