"""The search's evaluation: piece-square values fitted to game results, and the bundled table."""

from __future__ import annotations

import json
import random

import torch

from core.xiangqi import piece_square
from core.xiangqi.board import Board
from core.xiangqi.search import MATERIAL, Search, square_index
from core.xiangqi.vocab import PIECE_LETTERS, RED_TO_MOVE, board_tokens


def test_features_fold_files_and_read_ranks_from_the_owners_side():
    assert piece_square.feature("R", square_index("a0")) == piece_square.feature("R", square_index("i0"))
    assert piece_square.feature("R", square_index("a0")) == piece_square.feature("r", square_index("a9"))
    assert piece_square.feature("N", square_index("c2")) != piece_square.feature("N", square_index("c3"))
    ids, signs = piece_square.token_features()
    red_rook_a0 = square_index("a0") * len(PIECE_LETTERS) + PIECE_LETTERS.index("R")
    black_rook_a9 = square_index("a9") * len(PIECE_LETTERS) + PIECE_LETTERS.index("r")
    assert ids[red_rook_a0] == ids[black_rook_a9] and signs[red_rook_a0] == 1 == -signs[black_rook_a9]
    assert ids[RED_TO_MOVE] == piece_square.TEMPO


def test_the_bundled_table_is_symmetric_and_values_a_rook_near_nine_pawns():
    values = piece_square.load_table()
    for piece in "RNBAKCP":
        for square in range(90):
            rank, file = divmod(square, 9)
            mirrored = (9 - rank) * 9 + (8 - file)
            assert values[piece][square] == -values[piece.lower()][mirrored]
    assert 700 < sum(values["R"]) / 90 < 1100
    start = Board()
    assert Search(start.pieces(), True).score == 0  # the start position is balanced, whatever the table


def write_material_games(path, n_games: int = 80) -> None:
    """Random games whose result is who has more material at the end (so a fitted rook must be worth something)."""
    rng, rows = random.Random(1), []
    for _ in range(n_games):
        board = Board()
        for _ in range(30):
            moves = board.legal_moves
            if not moves:
                break
            captures = [m for m in moves if m[2:] in board.pieces()]
            board.push(rng.choice(captures or moves))
        balance = sum(MATERIAL[p][square_index(sq)] for sq, p in board.pieces().items())
        rows.append({"moves_iccs": " ".join(board.move_stack), "result": "1-0" if balance > 0 else "0-1" if balance < 0 else "1/2-1/2"})
    path.write_text("\n".join(json.dumps(r) for r in rows))


def test_fitting_learns_that_material_wins(tmp_path, capsys):
    write_material_games(tmp_path / "games.jsonl")
    out = tmp_path / "table.json"
    piece_square.main(["--games", str(tmp_path / "games.jsonl"), "--work-dir", str(tmp_path), "--skip-plies", "0",
                       "--every", "1", "--epochs", "40", "--threads", "1", "--out", str(out)])
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    table = json.loads(out.read_text())
    assert summary["validation_positions"] >= 0 and table["kinds"] == "RNBAKCP"
    values = piece_square.load_table(out)
    assert sum(values["R"]) / 90 > 0 and sum(values["r"]) / 90 < 0


def test_fit_moves_the_weights_towards_the_winning_side():
    board = Board.from_moves("h2e2 h9g7 e2e6")  # Red's cannon has taken the central pawn
    tokens = torch.tensor([board_tokens(*board.positions()[-1])] * 64)
    weights = piece_square.fit(tokens, torch.ones(64), epochs=20, batch=64)
    start = piece_square.fit(tokens, torch.ones(64), epochs=0)
    assert piece_square.position_logits(weights, tokens[:1]) > piece_square.position_logits(start, tokens[:1])
