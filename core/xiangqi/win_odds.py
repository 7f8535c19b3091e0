"""Who is winning, in the model's own eyes: P(red wins), P(draw), P(black wins) of a game so far.

The GPT was trained on games opened by their result token (``[RED_WINS] m1 m2 ...``), so it gives
the likelihood of the moves played under each result. It never predicts the result token itself,
so Bayes' rule with equal priors turns the three likelihoods into the results' probabilities.

It is a rough guess. On the first 120 validation master games, the favourite at the end of the
game is the actual result 47% of the time (the commonest result, red wins, is 44%); it is clear
when one side is far ahead: after a material grabber has played a random mover for 20-60 plies,
the grabber's side was the favourite in 33 of 36 positions.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from core.xiangqi.board import Board
from core.xiangqi.model import MoveGPT
from core.xiangqi.player import Decoder
from core.xiangqi.vocab import RESULT_TOKENS, MoveVocab, board_tokens

RESULTS = ("1-0", "1/2-1/2", "0-1")
# The summed log-likelihoods are overconfident: dividing them by 3 lowered the negative log-likelihood
# of the actual result on those 120 games from 1.15-1.22 to 1.06-1.10 nats (at 1/4 to all of the game;
# a uniform guess scores 1.10).
TEMPERATURE = 3.0


@dataclass(frozen=True)
class WinOdds:
    red: float
    draw: float
    black: float


def odds_from_log_likelihoods(red: float, draw: float, black: float, temperature: float = TEMPERATURE) -> WinOdds:
    """Normalise the log-likelihoods of the moves under each result (equal priors) into probabilities."""
    if temperature <= 0:
        raise ValueError(f"temperature must be positive, got {temperature}")
    top = max(red, draw, black)
    weights = [math.exp((value - top) / temperature) for value in (red, draw, black)]
    return WinOdds(*(w / sum(weights) for w in weights))


@torch.no_grad()
def result_log_likelihoods(model: MoveGPT, vocab: MoveVocab, board: Board) -> tuple[float, float, float]:
    """log P(moves | result) for red wins, draw and black wins, in one batched forward.

    A game longer than the context is scored on the window the player sees (see ``Decoder.window_start``).
    """
    start = Decoder.window_start(len(board.move_stack), model.config.block_size)
    moves = [vocab.encode_move(m) for m in board.move_stack[start:]]
    if not moves:
        return 0.0, 0.0, 0.0
    device = next(model.parameters()).device
    tokens = torch.tensor([[vocab.index[RESULT_TOKENS[r]]] + moves[:-1] for r in RESULTS], device=device)
    boards = torch.tensor([board_tokens(*position) for position in board.positions()[start:-1]], device=device)
    logits = model(tokens, boards.expand(len(RESULTS), -1, -1))
    log_probs = torch.log_softmax(logits.float(), dim=-1)
    targets = torch.tensor(moves, device=device).expand(len(RESULTS), -1)
    return tuple(log_probs.gather(2, targets.unsqueeze(2)).sum(dim=(1, 2)).tolist())


def win_odds(model: MoveGPT, vocab: MoveVocab, board: Board) -> WinOdds:
    """The model's odds for each result of the game on ``board`` (1/3 each before the first move)."""
    return odds_from_log_likelihoods(*result_log_likelihoods(model, vocab, board))
