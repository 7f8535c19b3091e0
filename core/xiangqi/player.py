"""Choose moves with the GPT: a softmax over the legal moves only, so no move is ever illegal.

Modes: ``greedy`` (the most likely legal move that neither loses by rule nor repeats a
position), ``sample`` (drawn with a temperature) and ``search`` (the policy plus a shallow
material search: a policy that imitates masters, even one that sees the board, leaves pieces
to a plain material grabber, as Su observed of his model).
Decoding is incremental: a :class:`Decoder` keeps the game's KV cache, so choosing a move costs
one one-token forward, and a take-back only truncates the cache.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

import torch

from core.xiangqi.board import RED, Board, apply_move
from core.xiangqi.model import KVCache, MoveGPT
from core.xiangqi.vocab import RESULT_TOKENS, UNKNOWN, MoveVocab, board_tokens

MODES = ("greedy", "sample", "search")
PIECE_VALUES = {"r": 9.0, "c": 4.5, "n": 4.0, "b": 2.0, "a": 2.0, "p": 1.0, "k": 0.0}
MATE_VALUE = 1000.0
POLICY_WEIGHT = 1.0  # pawns of material per nat of log-probability in search mode


# --- pure scoring helpers ---------------------------------------------------------------------


def legal_move_probabilities(logits: torch.Tensor, legal_ids: list[int], temperature: float = 1.0) -> torch.Tensor:
    """Softmax of the next-token logits restricted to the legal moves (in ``legal_ids`` order)."""
    if not legal_ids:
        raise ValueError("no legal moves to choose from")
    if temperature <= 0:
        raise ValueError(f"temperature must be positive, got {temperature}")
    return torch.softmax(logits[legal_ids].float() / temperature, dim=-1)


def piece_value(piece: str, square: str) -> float:
    """Material value of a piece; a pawn that has crossed the river is worth two."""
    value = PIECE_VALUES[piece.lower()]
    crossed = int(square[1]) >= 5 if piece.isupper() else int(square[1]) <= 4
    return 2.0 if piece.lower() == "p" and crossed else value


def capture_gain(pieces: dict[str, str], move: str) -> float:
    target = move[2:]
    return piece_value(pieces[target], target) if target in pieces else 0.0


def exchange_value(board: Board, pieces: dict[str, str], depth: int) -> float:
    """Material the side to move can win by captures alone within ``depth`` plies (0 = stand pat).

    Every side may stop capturing, so the value is never below zero, except when the side to
    move has no legal move at all, which loses the game.
    """
    if depth == 0:
        return 0.0
    replies = board.legal_moves
    if not replies:
        return -MATE_VALUE
    best = 0.0
    for reply in replies:
        gain = capture_gain(pieces, reply)
        if gain > 0:
            board.push(reply)
            best = max(best, gain - exchange_value(board, apply_move(pieces, reply), depth - 1))
            board.pop()
    return best


def tactical_value(board: Board, move: str, depth: int) -> float:
    """Material won by ``move`` minus what the opponent wins back by captures (mate counts).

    Depth 1 counts the capture only; depth 2 adds the opponent's best capture in reply; depth 3
    also lets us recapture. Each extra ply costs one pyffish call per capture considered.
    """
    pieces = board.pieces()
    gain = capture_gain(pieces, move)
    board.push(move)
    try:
        return gain - exchange_value(board, apply_move(pieces, move), depth - 1)
    finally:
        board.pop()


def loses_by_rule(board: Board, move: str) -> bool:
    """True when ``move`` loses at once, or is a check that some reply turns into a forbidden perpetual check.

    The rule is declared when the checked opponent's reply repeats a position, so a checking move is
    tried against every reply (few: the opponent is in check); only a reply that repeats needs pyffish.
    """
    mover = board.turn

    def lost() -> bool:
        outcome = board.outcome()
        return outcome is not None and outcome.winner not in (None, mover)

    board.push(move)
    try:
        if lost():
            return True
        if board.outcome() is not None or not board.is_check():
            return False
        for reply in board.legal_moves:
            board.push(reply)
            try:
                if board.is_repetition() and lost():
                    return True
            finally:
                board.pop()
        return False
    finally:
        board.pop()


def repeats_position(board: Board, move: str) -> bool:
    """True when ``move`` leads back to a position of the game (no pyffish call)."""
    board.push(move)
    try:
        return board.is_repetition()
    finally:
        board.pop()


# --- incremental decoding ---------------------------------------------------------------------


class Decoder:
    """The KV cache of one game, kept in step with the moves it is asked about.

    Asking for the next-move logits of a board reuses the cached prefix and feeds only the new
    tokens (each with the board tokens of the position it leads to). Beyond the context, the
    window restarts every half context from a later move (with the same result token first, on
    the position before that move), so long games cost one refill per ``block/2`` plies.
    """

    def __init__(self) -> None:
        self.window: tuple[str, int] | None = None  # (start FEN, first move shown): with the tokens, fixes every position
        self.tokens: list[int] = []
        self.cache: KVCache | None = None
        self.last_logits: torch.Tensor | None = None

    @staticmethod
    def window_start(n_moves: int, block_size: int) -> int:
        """Index of the first move visible to the model: 0, or a multiple of block/2 once the game outgrows the context."""
        overflow = n_moves + 1 - block_size
        return 0 if overflow <= 0 else math.ceil(overflow / (block_size // 2)) * (block_size // 2)

    @torch.no_grad()
    def next_logits(self, model: MoveGPT, vocab: MoveVocab, prefix: int, board: Board) -> torch.Tensor:
        """Next-move logits (full vocabulary) after the moves of ``board``, the game opened by ``prefix``."""
        start = self.window_start(len(board.move_stack), model.config.block_size)
        window = (board.root_fen, start)
        tokens = [prefix] + [vocab.encode_move(m) for m in board.move_stack[start:]]
        common = 0
        if window == self.window:
            while common < min(len(self.tokens), len(tokens)) and self.tokens[common] == tokens[common]:
                common += 1
            if common == len(tokens) == len(self.tokens):
                return self.last_logits
        common = min(common, len(tokens) - 1)  # at least one token must be fed to get logits
        if self.cache is None or common == 0:
            self.cache = model.new_cache()
        self.cache.truncate(common)
        positions = board.positions()[start + common : start + len(tokens)]
        device = next(model.parameters()).device
        logits = model(torch.tensor([tokens[common:]], device=device),
                       torch.tensor([[board_tokens(*position) for position in positions]], device=device), self.cache)
        self.window, self.tokens, self.last_logits = window, tokens, logits[0, -1]
        return self.last_logits


# --- the player -------------------------------------------------------------------------------


@dataclass
class Choice:
    move: str
    candidates: list[tuple[str, float]]  # the policy's top legal moves with their probabilities


class Player:
    """Plays one side with a given mode; ``prefix='win'`` asks the model to imitate a winner."""

    def __init__(
        self,
        model: MoveGPT,
        vocab: MoveVocab,
        mode: str = "greedy",
        temperature: float = 1.0,
        depth: int = 3,
        prefix: str = "win",
        seed: int | None = None,
    ):
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}; choose one of {', '.join(MODES)}")
        if prefix not in ("win", "unknown"):
            raise ValueError(f"prefix must be 'win' or 'unknown', got {prefix!r}")
        if depth not in (1, 2, 3):
            raise ValueError(f"search depth must be 1, 2 or 3, got {depth}")
        self.model, self.vocab, self.mode = model, vocab, mode
        self.temperature, self.depth, self.prefix = temperature, depth, prefix
        self.rng = random.Random(seed)

    def prefix_token(self, board: Board) -> int:
        if self.prefix == "unknown":
            return self.vocab.index[UNKNOWN]
        return self.vocab.index[RESULT_TOKENS["1-0" if board.turn == RED else "0-1"]]

    def policy(self, board: Board, decoder: Decoder, temperature: float = 1.0) -> list[tuple[str, float]]:
        """Every legal move with its probability under the model, most likely first."""
        moves = board.legal_moves
        if not moves:
            raise ValueError("the game is over: no legal moves")
        logits = decoder.next_logits(self.model, self.vocab, self.prefix_token(board), board)
        probs = legal_move_probabilities(logits, [self.vocab.encode_move(m) for m in moves], temperature)
        return sorted(zip(moves, probs.tolist()), key=lambda mp: -mp[1])

    def choose(self, board: Board, decoder: Decoder, top: int = 5) -> Choice:
        ranked = self.policy(board, decoder)
        if self.mode == "greedy":
            # The model's favourite that neither loses by rule (a forbidden perpetual check) nor goes back to an
            # earlier position: left alone, the policy shuffles pieces back and forth and draws won games.
            fresh = (m for m, _ in ranked if not repeats_position(board, m) and not loses_by_rule(board, m))  # cheap test first
            move = next(fresh, ranked[0][0])
        elif self.mode == "sample":
            tempered = self.policy(board, decoder, self.temperature)
            move = self.rng.choices([m for m, _ in tempered], weights=[p for _, p in tempered])[0]
        else:
            scored = sorted(
                ranked,
                key=lambda mp: tactical_value(board, mp[0], self.depth) + POLICY_WEIGHT * math.log(max(mp[1], 1e-12)),
                reverse=True,
            )
            move = next((m for m, _ in scored if not loses_by_rule(board, m)), scored[0][0])
        return Choice(move, ranked[:top])
