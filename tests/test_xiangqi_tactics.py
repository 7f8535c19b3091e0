"""The moves' material features (core.xiangqi.tactics): hand-made positions, pyffish as a check, the fit, the player."""

from __future__ import annotations

import json

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from core.xiangqi import evaluate, tactics
from core.xiangqi.board import RED, Board
from core.xiangqi.model import GPTConfig, MoveGPT, load
from core.xiangqi.player import Decoder, Player
from core.xiangqi.search import capture_gain
from core.xiangqi.tactics import FEATURES, choice_loss, fit_weights, move_features
from core.xiangqi.vocab import MoveVocab
from tests.test_xiangqi_model import write_games
from tests.test_xiangqi_search import random_game

VOCAB = MoveVocab.build()
KINGS = {"e0": "K", "d9": "k"}  # not facing each other


def features(pieces: dict[str, str], move: str, red: bool = True) -> dict[str, float]:
    return dict(zip(FEATURES, move_features({**KINGS, **pieces}, red, [move])[0].tolist()))


def test_a_free_capture_and_a_threat():
    assert features({"a0": "R", "a5": "n"}, "a0a5") == {"captures": 4.0, "leaves_en_prise": 0.0, "threatens": 0.0,
                                                        "gives_check": 0.0}
    assert features({"a0": "R", "a5": "n"}, "a0a4")["threatens"] == 4.0  # the knight is attacked and undefended


def test_a_piece_left_en_prise_loses_what_it_is_worth_above_its_cheapest_attacker():
    assert features({"a4": "R", "c5": "p"}, "a4c4")["leaves_en_prise"] == 9.0  # undefended: the pawn takes a rook
    assert features({"a4": "R", "c5": "p", "b2": "N"}, "a4c4")["leaves_en_prise"] == 8.0  # the knight takes back
    assert features({"a4": "R", "c5": "p", "b2": "N"}, "a4a3")["leaves_en_prise"] == 0.0


def test_a_king_takes_only_an_undefended_piece():
    assert features({"e1": "p", "a5": "R"}, "a5a6")["threatens"] == 2.0  # a pawn across the river, next to the king
    assert features({"e1": "p", "e5": "r", "a5": "R"}, "a5a6")["threatens"] == 0.0  # the rook defends it


def test_a_check():
    assert features({"a4": "R"}, "a4d4")["gives_check"] == 1.0
    assert features({"a4": "R"}, "a4b4")["gives_check"] == 0.0


@settings(max_examples=8, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=10_000), min_size=40, max_size=120))
def test_captures_and_checks_agree_with_the_rules_in_random_games(choices):
    for board in random_game(choices)[::7]:
        moves = board.legal_moves
        rows = move_features(board.pieces(), board.turn == RED, moves)
        assert rows.shape == (len(moves), len(FEATURES)) and (rows >= 0).all()
        for move, (captures, _, _, check) in zip(moves, rows.tolist()):
            assert captures == capture_gain(board.pieces(), move)
            board.push(move)
            assert check == float(board.is_check()), move
            board.pop()


def test_the_fit_recovers_the_weights_that_made_the_choices():
    generator = torch.Generator().manual_seed(0)
    n, m = 4000, 12
    logits, features = torch.randn(n, m, generator=generator), torch.rand(n, m, len(FEATURES), generator=generator) * 3
    mask = torch.ones(n, m, dtype=torch.bool)
    mask[:, 9:] = torch.rand(n, 3, generator=generator) < 0.5  # positions with fewer moves
    true = torch.tensor([1.5, -2.0, 0.3, 0.8])
    targets = torch.multinomial(torch.softmax((logits + features @ true).masked_fill(~mask, -torch.inf), -1), 1,
                                generator=generator)[:, 0]
    fitted = fit_weights(logits, features, mask, targets)
    assert torch.allclose(fitted, true, atol=0.25), fitted
    assert choice_loss(logits, features, mask, targets, fitted) < choice_loss(logits, features, mask, targets, torch.zeros(4))


def test_the_player_takes_the_features_into_account_except_in_the_search_mode():
    torch.manual_seed(0)
    model = MoveGPT(GPTConfig(len(VOCAB), block_size=16, n_layer=1, n_head=2, n_embd=16)).eval()
    board = Board.from_moves("h2e2 h9g7 h0g2 i9h9 i0h0 g6g5 h0h6 b9c7")
    plain = Player(model, VOCAB).choose(board, Decoder()).candidates
    model.config.tactics = {"captures": 30.0, "leaves_en_prise": 0.0, "threatens": 0.0, "gives_check": 0.0}
    choice = Player(model, VOCAB).choose(board, Decoder())
    assert board.pieces().get(choice.move[2:]) == "c"  # the cannon on h7 is the most valuable piece on offer
    assert Player(model, VOCAB, mode="search").choose(board, Decoder()).candidates == plain  # the search orders by the GPT
    model.config.tactics = None
    assert Player(model, VOCAB).choose(board, Decoder()).candidates == plain


def test_fitting_writes_the_weights_into_the_checkpoint(tmp_path, capsys):
    games = tmp_path / "games.jsonl"
    write_games(games)
    torch.manual_seed(0)
    MoveGPT(GPTConfig(len(VOCAB), block_size=16, n_layer=1, n_head=2, n_embd=16)).save_pretrained(tmp_path / "ckpt")
    tactics.main(["--checkpoint", str(tmp_path / "ckpt"), "--games", str(games), "--work-dir", str(tmp_path),
                  "--n-games", "20"])
    report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert report["fit_positions"] > 0 and report["held_out_loss_after"] > 0
    assert load(tmp_path / "ckpt")[0].config.tactics == report["weights"]
    assert set(report["weights"]) == set(FEATURES)
    with pytest.raises(SystemExit):
        tactics.parse_args(["--n-games", "1"])

    # the ablation flag of evaluate: the same checkpoint with a feature's weight set to 0
    evaluate.main(["--checkpoint", str(tmp_path / "ckpt"), "--drop-feature", "captures", "--drop-feature", "gives_check", "predict",
                   "--games", str(games), "--work-dir", str(tmp_path), "--split", "train", "--limit", "3"])
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["positions"] > 0
    with pytest.raises(SystemExit, match="drop --drop-feature"):
        evaluate.parse_args(["--drop-feature", "captures", "predict", "--record"])
