"""The evaluation bar: P(red wins) / P(draw) / P(black wins) from the likelihood of the moves under each result."""

from __future__ import annotations

import random

import pytest
import torch

from core import checkpoints
from core.xiangqi.board import BLACK, RED, Board
from core.xiangqi.model import GPTConfig, MoveGPT, load
from core.xiangqi.opponents import greedy_move, random_move
from core.xiangqi.player import Decoder
from core.xiangqi.search import piece_value
from core.xiangqi.vocab import RESULT_TOKENS, MoveVocab
from core.xiangqi.win_odds import RESULTS, odds_from_log_likelihoods, result_log_likelihoods, win_odds

VOCAB = MoveVocab.build()


@pytest.fixture(scope="module")
def tiny():
    torch.manual_seed(0)
    return MoveGPT(GPTConfig(len(VOCAB), block_size=16, n_layer=2, n_head=2, n_embd=32)).eval()


def test_odds_are_a_softmax_of_the_tempered_log_likelihoods():
    assert odds_from_log_likelihoods(-5.0, -5.0, -5.0) == pytest.approx(odds_from_log_likelihoods(0.0, 0.0, 0.0))
    odds = odds_from_log_likelihoods(-100.0, -103.0, -106.0, temperature=3.0)
    assert odds.red + odds.draw + odds.black == pytest.approx(1.0)
    assert odds.red / odds.draw == pytest.approx(odds.draw / odds.black) == pytest.approx(torch.e)
    assert odds_from_log_likelihoods(-1e4, 0.0, -1e4, temperature=1.0).draw == pytest.approx(1.0)  # no overflow
    with pytest.raises(ValueError, match="temperature must be positive"):
        odds_from_log_likelihoods(0.0, 0.0, 0.0, temperature=0.0)


def test_no_move_played_means_even_odds(tiny):
    assert win_odds(tiny, VOCAB, Board()) == pytest.approx(odds_from_log_likelihoods(0.0, 0.0, 0.0))


def _random_game(plies: int) -> Board:
    rng, board = random.Random(plies), Board()
    for _ in range(plies):
        board.push(random_move(board, rng))
    return board


@pytest.mark.parametrize("plies", [1, 15])  # 15 moves + the result token fill the tiny model's context
def test_log_likelihoods_sum_the_move_probabilities_the_player_sees(tiny, plies):
    board = _random_game(plies)
    expected = [
        sum(torch.log_softmax(Decoder().next_logits(tiny, VOCAB, VOCAB.index[RESULT_TOKENS[result]],
                                                    Board.from_moves(board.move_stack[:ply])), -1)[VOCAB.encode_move(move)].item()
            for ply, move in enumerate(board.move_stack))
        for result in RESULTS
    ]
    assert result_log_likelihoods(tiny, VOCAB, board) == pytest.approx(expected, abs=1e-3)


def test_past_the_context_the_players_window_is_scored_as_a_game_of_its_own(tiny):
    board = _random_game(30)
    start = Decoder.window_start(30, tiny.config.block_size)
    window = Board(Board.from_moves(board.move_stack[:start]).fen())
    for move in board.move_stack[start:]:
        window.push(move)
    assert 0 < start and result_log_likelihoods(tiny, VOCAB, board) == pytest.approx(result_log_likelihoods(tiny, VOCAB, window))


def _material(board: Board) -> float:
    """Red's material minus Black's, in pawns."""
    return sum(piece_value(p, sq) * (1 if p.isupper() else -1) for sq, p in board.pieces().items())


@pytest.mark.parametrize("seed", range(6))
def test_the_bundled_model_favours_the_side_far_ahead_in_material(seed):
    """A material grabber plays a random mover for 60 plies: the grabber's side must be favoured over the other."""
    model, vocab = checkpoints.load("xiangqi", load)
    grabber, rng, board = (RED, BLACK)[seed % 2], random.Random(seed), Board()
    for _ in range(60):
        board.push(greedy_move(board, rng) if board.turn == grabber else random_move(board, rng))
    lead = _material(board) if grabber == RED else -_material(board)
    assert lead >= 20 and board.outcome() is None  # clearly won, still being played
    odds = win_odds(model, vocab, board)
    assert (odds.red > odds.black) if grabber == RED else (odds.black > odds.red)
