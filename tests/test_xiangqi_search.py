"""The strong mode's alpha-beta search: its own move generator against pyffish, and the tactics it must see."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.xiangqi.board import RED, Board
from core.xiangqi.search import MATE, Search, capture_gain, pseudo_legal_moves, square_index, square_name


def legal_by_search(board: Board) -> list[str]:
    """The search's pseudo-legal moves less those after which the king can be taken."""
    search = Search(board.pieces(), board.turn == RED)
    legal = []
    for move in pseudo_legal_moves(search.board, search.red):
        captured = search.make(move)
        search.red = not search.red  # ask whether the mover's own king is attacked
        safe = not search.in_check()
        search.red = not search.red
        search.unmake(move, captured)
        if safe:
            legal.append(square_name(move[0]) + square_name(move[1]))
    return sorted(legal)


def random_game(choices: list[int]) -> list[Board]:
    """Positions of a game whose moves are picked by ``choices``, captures twice as likely, so games thin out."""
    board, positions = Board(), []
    for choice in choices:
        if board.outcome() is not None:
            break
        positions.append(Board.from_moves(board.move_stack))
        moves = board.legal_moves
        captures = [m for m in moves if m[2:] in board.pieces()]
        pool = captures if captures and choice % 3 else moves
        board.push(pool[choice % len(pool)])
    return positions


@settings(max_examples=12, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=10_000), min_size=60, max_size=160))
def test_moves_and_check_agree_with_pyffish_in_random_games(choices):
    for board in random_game(choices):
        assert legal_by_search(board) == board.legal_moves
        assert Search(board.pieces(), board.turn == RED).in_check() == board.is_check()


def test_make_and_unmake_restore_the_board_score_and_hash():
    board = Board.from_moves("h2e2 h9g7 h0g2 i9h9 i0h0 g6g5 h0h6 b9c7")
    search = Search(board.pieces(), board.turn == RED)
    before = (list(search.board), search.score, search.hash, search.red, dict(search.kings))
    for move in pseudo_legal_moves(search.board, search.red):
        captured = search.make(move)
        search.unmake(move, captured)
        assert (list(search.board), search.score, search.hash, search.red, dict(search.kings)) == before
    after = Board.from_moves(board.move_stack + ["h6g6"])
    moved = Search(board.pieces(), board.turn == RED)
    moved.make((square_index("h6"), square_index("g6")))
    fresh = Search(after.pieces(), after.turn == RED)
    assert (moved.board, moved.score, moved.hash, moved.red) == (fresh.board, fresh.score, fresh.hash, fresh.red)


def best(fen: str, nodes: int = 20_000, bonus: dict[str, float] | None = None) -> tuple[str, float, int]:
    board = Board(fen)
    root = {m: (bonus or {}).get(m, 0.0) for m in board.legal_moves}
    return Search(board.pieces(), board.turn == RED).best_move(root, nodes)


def test_search_takes_a_free_piece_and_leaves_a_defended_one():
    free = "4k4/9/9/9/9/9/9/9/R2p5/5K3 w"  # a black pawn across the river (worth two) on d1
    move, value, _ = best(free)
    assert move == "a1d1" and value >= 900  # a rook and the king against a bare king may even mate
    defended = "4k4/9/9/9/3r5/9/9/9/R2p5/5K3 w"  # the black rook on d5 would take the red rook back
    move, value, _ = best(defended)
    assert move != "a1d1" and value > -900
    assert capture_gain(Board(free).pieces(), "a1d1") == 2.0


def test_search_finds_the_move_that_leaves_no_legal_reply():
    fen = "3k5/9/9/9/R3R4/9/9/9/9/5K3 w"  # a5d5 mates; a5a8 takes every square from the king (no move loses too)
    move, value, _ = best(fen)
    assert move in ("a5d5", "a5a8") and value == MATE - 2
    board = Board(fen)
    board.push(move)
    assert board.outcome().winner == "red"


def test_search_sees_a_lost_king_and_prefers_the_bonus_among_equals():
    move, value, _ = best("3k5/9/9/9/R3R4/9/9/9/9/5K3 b")  # black is mated in a few plies whatever it does
    assert value <= -(MATE - 20)
    start = Board()
    chosen, _, _ = best(start.fen(), nodes=5_000, bonus={m: (0.0 if m == "b2e2" else -80.0) for m in start.legal_moves})
    assert chosen == "b2e2"  # nothing is won or lost in the opening: the policy's favourite is played


def test_repeating_moves_take_their_fixed_value_and_an_empty_root_is_refused():
    board = Board()
    search = Search(board.pieces(), True)
    root = {m: -100.0 for m in board.legal_moves if m != "h2e2"}
    assert search.best_move(root, 5_000, fixed={"h2e2": 0.0})[0] == "h2e2"
    assert search.best_move(root, 5_000, fixed={"h2e2": -500.0})[0] != "h2e2"
    with pytest.raises(ValueError, match="no root moves"):
        search.best_move({}, 100)


def test_the_node_budget_bounds_the_search_and_a_tiny_one_still_answers():
    board = Board()
    search = Search(board.pieces(), True)
    move, _, depth = search.best_move({m: 0.0 for m in board.legal_moves}, 30_000)
    assert search.nodes <= 30_001 and depth >= 3 and move in board.legal_moves
    move, _, depth = search.best_move({m: 0.0 for m in board.legal_moves}, 3)
    assert move in board.legal_moves and depth == 0
