"""Rules: perft, conversions, FEN validation and outcomes of core.xiangqi.board."""

from __future__ import annotations

import pyffish
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.xiangqi.board import (
    RED,
    START_FEN,
    VARIANT,
    Board,
    engine_to_iccs,
    iccs_to_engine,
    mirror_move,
    normalize_fen,
    placement_fen,
)


def perft(board: Board, depth: int) -> int:
    if depth == 1:
        return len(board.legal_moves)
    total = 0
    for move in board.legal_moves:
        board.push(move)
        total += perft(board, depth - 1)
        board.pop()
    return total


@pytest.mark.parametrize("depth,nodes", [(1, 44), (2, 1_920), (3, 79_666)])
def test_perft_from_the_start(depth, nodes):
    assert perft(Board(), depth) == nodes


@pytest.mark.slow
def test_perft_depth_4():
    assert perft(Board(), 4) == 3_290_240


def test_move_conversion_round_trip_and_rank_ten():
    assert iccs_to_engine("h2e2") == "h3e3"
    assert iccs_to_engine("b9c7") == "b10c8"
    assert engine_to_iccs("b10c8") == "b9c7"
    assert mirror_move("h2e2") == "b2e2"
    for bad in ["h2e", "j2e2", "h2e2 ", "", "H2E2"]:
        with pytest.raises(ValueError, match="malformed move"):
            iccs_to_engine(bad)
    with pytest.raises(ValueError, match="malformed engine move"):
        engine_to_iccs("h0e0")


@given(st.sampled_from(Board().legal_moves))
def test_every_start_move_round_trips(move):
    assert engine_to_iccs(iccs_to_engine(move)) == move


def test_red_to_move_may_be_written_r_and_fields_are_filled_in():
    placement = START_FEN.split()[0]
    assert normalize_fen(f"{placement} r") == START_FEN
    assert Board(f"{placement} b").turn == "black"


@pytest.mark.parametrize(
    "fen,problem",
    [
        ("", "empty FEN"),
        ("rnbakabnr/9/1c5c1 w", "10 ranks"),
        ("not a fen", "'not a fen' is not a FEN: it must start with the board's 10 ranks"),
        ("rnbakabnr/9/1c5c1/p1p1p1p1p/9/9/P1P1P1P1P/1C5C1/9/RNBAKABNX w", "unknown piece letter 'X'"),
        ("rnbakabnr/9/1c5c1/p1p1p1p1p/9/9/P1P1P1P1P/1C5C1/9/RNBAKABN w", "covers 8 files"),
        ("rnbakabnr/9/1c5c1/p1p1p1p1p/9/9/P1P1P1P1P/1C5C1/9/RNBAKABNR x", "side to move"),
        ("rnbaaabnr/9/1c5c1/p1p1p1p1p/9/9/P1P1P1P1P/1C5C1/9/RNBAKABNR w", "one black king"),
        ("4k4/9/9/9/9/9/9/9/9/4K4 w", "kings face each other"),
        ("3k5/9/9/9/9/9/9/9/9/3RK4 w", "not to move is in check"),
    ],
)
def test_bad_fens_name_the_problem(fen, problem):
    with pytest.raises(ValueError, match=problem):
        Board(fen)


def test_illegal_and_malformed_moves_leave_the_board_unchanged():
    board = Board()
    board.push("h2e2")
    before = (board.fen(), list(board.move_stack))
    with pytest.raises(ValueError, match="illegal move a0a5"):
        board.push("a0a5")
    with pytest.raises(ValueError, match="malformed move"):
        board.push("zz")
    assert (board.fen(), board.move_stack) == before
    assert board.pop() == "h2e2" and board.fen() == START_FEN
    with pytest.raises(ValueError, match="no move to take back"):
        board.pop()


def test_from_moves_names_the_first_illegal_move():
    with pytest.raises(ValueError, match="illegal move h9g7 at ply 4"):
        Board.from_moves("h2e2 h9g7 h0g2 h9g7 b0c2")
    assert Board.from_moves("h2e2 h9g7").turn == "red"


def test_checkmate_and_check():
    # The rook on e5 guards the e-file; the other rook checks on the d-file and covers d8.
    board = Board("3k5/9/9/9/R3R4/9/9/9/9/5K3 w")
    assert board.outcome() is None
    board.push("a5d5")
    assert board.is_check()
    outcome = board.outcome()
    assert (outcome.reason, outcome.winner, outcome.result()) == ("checkmate", "red", "1-0")


def test_no_legal_move_loses_even_without_check():
    # Black king on d9 is not attacked, but d8, e8 and e9 are: stalemate, which loses in xiangqi.
    board = Board("3k5/R8/9/9/9/4R4/9/9/9/5K3 b")
    assert not board.is_check() and board.legal_moves == []
    assert board.outcome().reason == "no legal move" and board.outcome().winner == "red"


def test_repetition_is_a_draw_and_ply_limit_is_a_move_limit():
    board = Board()
    for move in ["h0g2", "h9g7", "g2h0", "g7h9"] * 2:
        board.push(move)
    assert board.outcome().reason == "repetition" and board.outcome().winner is None
    assert board.is_repetition(3) and not board.is_repetition(4)
    board.pop()
    assert board.is_repetition() and not board.is_repetition(3)  # the position after g7h9 was seen at ply 4
    assert not Board().is_repetition()
    limited = Board(max_plies=2)
    limited.push("h2e2")
    limited.push("h9g7")
    assert limited.outcome().reason == "move limit"


def test_sixty_moves_without_capture_is_a_move_limit():
    board = Board("3k5/9/9/9/9/9/9/9/9/4K4 w - - 119 80")
    board.push("e0e1")
    assert board.outcome().reason == "move limit"


def test_perpetual_check_loses_for_the_checker():
    board = Board("3k5/9/9/9/9/9/9/9/R8/5K3 w")
    board.push("a1d1")
    for move in ["d9e9", "d1e1", "e9d9", "e1d1"] * 2:
        board.push(move)
    outcome = board.outcome()
    assert outcome.reason == "perpetual check" and outcome.winner == "black"


@settings(max_examples=15, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=10_000), min_size=1, max_size=12))
def test_random_games_push_pop(choices):
    board = Board()
    fens = [board.fen()]
    for choice in choices:
        if board.outcome() is not None:
            break
        move = board.legal_moves[choice % len(board.legal_moves)]
        board.push(move)
        fens.append(board.fen())
    assert Board.from_moves(board.move_stack).fen() == board.fen()
    while board.move_stack:
        board.pop()
        fens.pop()
        assert board.fen() == fens[-1]


@settings(max_examples=10, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=10_000), min_size=40, max_size=80))
def test_moves_and_check_from_the_placement_equal_a_replay_from_the_root(choices):
    board = Board()
    for choice in choices:
        if board.outcome() is not None:
            break
        replayed = pyffish.legal_moves(VARIANT, board.root_fen, [iccs_to_engine(m) for m in board.move_stack])
        assert board.legal_moves == sorted(engine_to_iccs(m) for m in replayed)
        assert board.is_check() == pyffish.gives_check(VARIANT, board.root_fen, [iccs_to_engine(m) for m in board.move_stack])
        assert placement_fen(board.pieces(), board.turn == RED).split()[0] == board.fen().split()[0]
        board.push(board.legal_moves[choice % len(board.legal_moves)])
