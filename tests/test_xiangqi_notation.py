"""Chinese notation, WXF and ICCS: writing moves, reading them back against the legal moves."""

from __future__ import annotations

import pyffish
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from core.xiangqi.board import RED, VARIANT, Board, iccs_to_engine, placement_fen
from core.xiangqi.notation import chinese_history, chinese_move, move_shape, parse_move, wxf_move

DOUBLED_CANNONS = "3k5/9/9/9/4C4/9/9/4C4/9/4K4 w"  # red cannons on e5 and e2
OPENING = "h2e2 h9g7 h0g2 b9c7 c3c4 i9h9 i0h0 c6c5 b2d2 a9a8 e3e4 c9e7"


def test_chinese_notation_of_an_opening():
    assert chinese_history(Board.from_moves(OPENING)) == [
        "炮二平五", "马８进７", "马二进三", "马２进３", "兵七进一", "车９平８",
        "车一平二", "卒３进１", "炮八平六", "车１进１", "兵五进一", "象３进５",
    ]


def test_wxf_notation_of_an_opening():
    board = Board.from_moves(OPENING)
    written = [wxf_move(pieces, move) for (pieces, _), move in zip(board.positions(), board.move_stack)]
    assert written == ["C2.5", "H8+7", "H2+3", "H2+3", "P7+1", "R9.8", "R1.2", "P3+1", "C8.6", "R1+1", "P5+1", "E3+5"]


def test_doubled_pieces_are_told_apart_front_to_back():
    pieces = {"e0": "K", "e9": "k", "e2": "C", "e5": "C", "a3": "R", "a6": "R"}
    assert [chinese_move(pieces, m) for m in ("e5d5", "e2e1", "a3a5")] == ["前炮平六", "后炮退一", "后车进二"]
    assert [wxf_move(pieces, m) for m in ("e5d5", "e2e1", "a3a5")] == ["C+.6", "C--1", "R-+2"]
    black = {"e9": "k", "e0": "K", "c6": "p", "c5": "p", "c4": "p"}
    assert [chinese_move(black, m) for m in ("c4c3", "c5d5")] == ["前卒进１", "中卒平４"]
    assert [wxf_move(black, m) for m in ("c4c3", "c5d5", "c6b6")] == ["P++1", "P3.4", "P-.2"]


def test_wxf_rules_for_many_pawns_on_one_file_and_pawns_doubled_on_two_files():
    five = {"e0": "K", "e9": "k", **{f"c{rank}": "P" for rank in range(5, 10)}}
    assert [wxf_move(five, f"c{rank}b{rank}") for rank in range(9, 4, -1)] == ["++.8", "P+.8", "P7.8", "P-.8", "--.8"]
    assert [chinese_move(five, f"c{rank}b{rank}") for rank in range(9, 4, -1)] == [
        "一兵平八", "二兵平八", "三兵平八", "四兵平八", "五兵平八"]
    two_files = {"e0": "K", "e9": "k", "c5": "P", "c6": "P", "c7": "P", "g5": "P", "g6": "P"}
    assert [wxf_move(two_files, m) for m in ("c7b7", "c6b6", "c5b5", "g6h6")] == ["7+.8", "77.8", "7-.8", "3+.2"]
    assert [chinese_move(two_files, m) for m in ("c7b7", "c6b6", "g5h5")] == ["前七平八", "中七平八", "后三平二"]


@pytest.mark.parametrize("text", ["炮二平五", "炮2平5", "砲二平五", "C2.5", "c2=5", "C2＝5", "h2e2", "H2-E2", " 炮 二 平 五 "])
def test_the_central_cannon_in_every_spelling(text):
    assert parse_move(Board(), text) == "h2e2"


@pytest.mark.parametrize("text", ["马８进７", "马8进7", "馬8進7", "H8+7", "N8+7", "h9g7"])
def test_blacks_reply_with_full_width_or_ascii_digits(text):
    assert parse_move(Board.from_moves("h2e2"), text) == "h9g7"


def test_front_and_rear_in_chinese_and_both_wxf_orders():
    board = Board(DOUBLED_CANNONS)
    for text in ("前炮平六", "C+.6", "+C.6", "+c=6"):
        assert parse_move(board, text) == "e5d5"
    for text in ("后炮退一", "C--1", "-C-1"):
        assert parse_move(board, text) == "e2e1"


def test_a_doubled_piece_may_be_named_by_its_file_when_only_one_can_move_so():
    board = Board(DOUBLED_CANNONS)
    assert parse_move(board, "炮五进三") == "e5e8"  # the rear cannon is blocked by the front one
    with pytest.raises(ValueError, match=r"ambiguous: it could be 后炮平六 \(e2d2\) or 前炮平六 \(e5d5\)"):
        parse_move(board, "炮五平六")


@pytest.mark.parametrize("text,message", [
    ("", "type a move"),
    ("hello", "cannot read 'hello' as a move"),
    ("炮二平十", "cannot read"),
    ("炮二进九", "not a legal move for Red"),
    ("h2h9x", "cannot read"),
    ("h2e3", "h2e3 is not a legal move for Red"),
    ("车一进三", "not a legal move for Red"),  # its own pawn stands in the way
])
def test_unreadable_and_illegal_moves_say_why(text, message):
    with pytest.raises(ValueError, match=message):
        parse_move(Board(), text)


def _random_game(choices: list[int]) -> Board:
    board = Board()
    for choice in choices:
        if board.outcome() is not None:
            break
        board.push(board.legal_moves[choice % len(board.legal_moves)])
    return board


@settings(max_examples=12, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=10_000), min_size=10, max_size=120))
def test_every_legal_move_reads_back_from_its_chinese_and_wxf(choices):
    board = _random_game(choices)
    pieces = board.pieces()
    fen = placement_fen(pieces, board.turn == RED)
    for move in board.legal_moves:
        assert parse_move(board, chinese_move(pieces, move)) == move
        assert parse_move(board, wxf_move(pieces, move)) == move
        if move_shape(pieces, move).like_on_file == 1:  # pyffish's WXF (with = for .) is an independent check; it garbles doubled pieces
            engine_wxf = pyffish.get_san(VARIANT, fen, iccs_to_engine(move), False, pyffish.NOTATION_XIANGQI_WXF)
            assert wxf_move(pieces, move) == engine_wxf.replace("=", ".")


PAWN_SQUARES = {"P": [f"{f}{r}" for f in "abcdefghi" for r in range(5, 10)],
                "p": [f"{f}{r}" for f in "abcdefghi" for r in range(0, 5)]}


@st.composite
def pawn_endings(draw) -> Board:
    """Kings and up to five crossed pawns a side, often several on one file: every rule for doubled pawns."""
    pieces = {"e0": "K", "d9": "k"}
    for pawn, squares in PAWN_SQUARES.items():
        files = draw(st.lists(st.sampled_from("abcdefghi"), min_size=1, max_size=2))  # crowd them on one or two files
        crowded = [sq for sq in squares if sq[0] in files and sq not in pieces]
        for square in draw(st.lists(st.sampled_from(crowded), max_size=5, unique=True)):
            pieces[square] = pawn
    fen = placement_fen(pieces, draw(st.booleans()))
    try:
        return Board(fen)
    except ValueError:  # a pawn gives check to the side that is not to move
        assume(False)


@settings(max_examples=40, deadline=None)
@given(pawn_endings())
def test_doubled_pawns_read_back_from_their_chinese_and_wxf(board):
    pieces = board.pieces()
    for move in board.legal_moves:
        assert parse_move(board, chinese_move(pieces, move)) == move
        assert parse_move(board, wxf_move(pieces, move)) == move
