"""Choose moves with the GPT: a softmax over the legal moves only, so no move is ever illegal.

Modes: ``greedy`` (the most likely legal move that neither loses by rule nor repeats a
position), ``sample`` (drawn with a temperature) and ``search`` (an alpha-beta search with an
evaluation fitted to master games' results, ``core.xiangqi.search``, whose root moves the policy
orders: a policy that imitates masters, even one that sees the board, leaves pieces to a plain
material grabber, as Su observed of his model).
Decoding is incremental: a :class:`Decoder` keeps the game's KV cache, so choosing a move costs
one one-token forward, and a take-back only truncates the cache.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

import torch

from core.xiangqi.board import RED, Board
from core.xiangqi.model import KVCache, MoveGPT
from core.xiangqi.search import Search
from core.xiangqi.tactics import tactical_bias
from core.xiangqi.vocab import RESULT_TOKENS, UNKNOWN, MoveVocab, board_tokens

MODES = ("greedy", "sample", "search")
POLICY_WEIGHT = 0.0  # pawns per nat of the policy's log-probability at the search's root: the GPT only breaks ties (model card)
SEARCH_NODES = 40_000  # positions searched per move in search mode: about 0.5 s on one 2020s CPU core
DRAW_CONTEMPT = 50  # centipawns: search mode repeats a position only when it stands worse than that


# --- pure scoring helpers ---------------------------------------------------------------------


def legal_move_probabilities(logits: torch.Tensor, legal_ids: list[int], temperature: float = 1.0,
                             bias: torch.Tensor | None = None) -> torch.Tensor:
    """Softmax of the next-token logits restricted to the legal moves (in ``legal_ids`` order), each plus its ``bias``."""
    if not legal_ids:
        raise ValueError("no legal moves to choose from")
    if temperature <= 0:
        raise ValueError(f"temperature must be positive, got {temperature}")
    legal_logits = logits[legal_ids].float()
    return torch.softmax((legal_logits if bias is None else legal_logits + bias) / temperature, dim=-1)


def policy_bias(model: MoveGPT, board: Board, moves: list[str]) -> torch.Tensor | None:
    """What the checkpoint's fitted tactics add to the legal moves' logits (None for a checkpoint without them)."""
    return tactical_bias(model.config.tactics, board, moves) if model.config.tactics else None


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
        self.unconditional: Decoder | None = None  # the same game opened by [UNKNOWN], for guidance

    def without_result(self) -> "Decoder":
        """The decoder of this game under the ``[UNKNOWN]`` result token (its own cache, made on first use)."""
        if self.unconditional is None:
            self.unconditional = Decoder()
        return self.unconditional

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
    depth: int | None = None  # plies the search mode read in full (None in the other modes)


class Player:
    """Plays one side with a given mode; ``prefix='win'`` asks the model to imitate a winner."""

    def __init__(
        self,
        model: MoveGPT,
        vocab: MoveVocab,
        mode: str = "greedy",
        temperature: float = 1.0,
        nodes: int = SEARCH_NODES,
        prefix: str = "win",
        policy_weight: float = POLICY_WEIGHT,
        seed: int | None = None,
        values: dict[str, list[int]] | None = None,
        guidance: float = 0.0,
    ):
        """``values``: the search's piece-square values (default: the fitted table; ``search.MATERIAL`` counts material).

        ``guidance`` > 0 pushes the policy further towards the moves of winners (classifier-free guidance, Ho &
        Salimans 2022; Sanchez et al. 2023 for language models): logits + guidance x (logits under the winner's result
        token - logits under ``[UNKNOWN]``). Training hid the result in a quarter of the games, which is exactly the
        condition dropout guidance needs. It costs a second one-token forward per move."""
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}; choose one of {', '.join(MODES)}")
        if prefix not in ("win", "unknown"):
            raise ValueError(f"prefix must be 'win' or 'unknown', got {prefix!r}")
        if nodes < 1:
            raise ValueError(f"search nodes must be positive, got {nodes}")
        if temperature <= 0:
            raise ValueError(f"temperature must be positive, got {temperature}")
        if guidance < 0 or guidance and prefix != "win":
            raise ValueError(f"guidance must be at least 0, and needs prefix 'win'; got {guidance} with {prefix!r}")
        self.model, self.vocab, self.mode = model, vocab, mode
        self.temperature, self.nodes, self.prefix, self.policy_weight = temperature, nodes, prefix, policy_weight
        self.rng = random.Random(seed)
        self.values = values
        self.guidance = guidance

    def prefix_token(self, board: Board) -> int:
        if self.prefix == "unknown":
            return self.vocab.index[UNKNOWN]
        return self.vocab.index[RESULT_TOKENS["1-0" if board.turn == RED else "0-1"]]

    def policy(self, board: Board, decoder: Decoder, temperature: float = 1.0,
               tactical: bool = True) -> list[tuple[str, float]]:
        """Every legal move with its probability under the model, most likely first.

        ``tactical``: with the checkpoint's fitted material features of each move (``core.xiangqi.tactics``),
        if it has them; without, the GPT alone."""
        moves = board.legal_moves
        if not moves:
            raise ValueError("the game is over: no legal moves")
        logits = decoder.next_logits(self.model, self.vocab, self.prefix_token(board), board)
        if self.guidance:
            plain = decoder.without_result().next_logits(self.model, self.vocab, self.vocab.index[UNKNOWN], board)
            logits = logits + self.guidance * (logits - plain)
        bias = policy_bias(self.model, board, moves) if tactical else None
        probs = legal_move_probabilities(logits, [self.vocab.encode_move(m) for m in moves], temperature, bias)
        return sorted(zip(moves, probs.tolist()), key=lambda mp: -mp[1])

    def choose(self, board: Board, decoder: Decoder, top: int = 5) -> Choice:
        # The search judges material itself; its root order (ties) stays the GPT's own, as its scores were measured.
        ranked = self.policy(board, decoder, tactical=self.mode != "search")
        depth = None
        if self.mode == "greedy":
            # The model's favourite that neither loses by rule (a forbidden perpetual check) nor goes back to an
            # earlier position: left alone, the policy shuffles pieces back and forth and draws won games.
            fresh = (m for m, _ in ranked if not repeats_position(board, m) and not loses_by_rule(board, m))  # cheap test first
            move = next(fresh, ranked[0][0])
        elif self.mode == "sample":
            # p ** (1 / T), which choices renormalises, is softmax(logits / T): no second pass over the model and features.
            move = self.rng.choices([m for m, _ in ranked], weights=[p ** (1 / self.temperature) for _, p in ranked])[0]
        else:
            move, depth = self.search(board, ranked)
        return Choice(move, ranked[:top], depth)

    def search(self, board: Board, ranked: list[tuple[str, float]]) -> tuple[str, int]:
        """The best move of an alpha-beta search whose root moves carry the policy's log-probability as a bonus.

        The bonus is relative to the favourite (0 for it), so the search's material decides first and the
        policy among moves that win or lose the same. A move that repeats a position is scored as a draw, less
        a small contempt, not searched; one that loses by rule (a forbidden perpetual check) is searched
        out and the next best taken. Returns the move and the depth the search completed.
        """
        top_log_prob = math.log(max(ranked[0][1], 1e-12))
        bonus = {m: 100 * self.policy_weight * (math.log(max(p, 1e-12)) - top_log_prob) for m, p in ranked}
        repeats = {m: -DRAW_CONTEMPT for m in bonus if repeats_position(board, m)}
        searched = {m: b for m, b in bonus.items() if m not in repeats}
        while searched or repeats:
            move, _, depth = Search(board.pieces(), board.turn == RED, self.values).best_move(searched, self.nodes, fixed=repeats)
            if not loses_by_rule(board, move):
                return move, depth
            searched.pop(move, None)
            repeats.pop(move, None)
        return ranked[0][0], 0  # every move loses by rule
