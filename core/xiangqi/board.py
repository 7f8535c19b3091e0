"""Xiangqi rules in the spirit of python-chess, with pyffish as the single rules authority.

Moves are ICCS strings everywhere in this package: files ``a``-``i`` from Red's left, ranks
``0``-``9`` from Red's side (``h2e2`` is 炮二平五). pyffish and fairy-stockfish number ranks
1-10, so :func:`iccs_to_engine` / :func:`engine_to_iccs` convert at the boundary.

A pyffish call costs about 2 ms (it rebuilds the position from FEN + moves), so the board keeps
the legal moves, FEN and outcome of every ply it has seen and recomputes only after a change.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property

import pyffish

VARIANT = "xiangqi"
START_FEN = pyffish.start_fen(VARIANT)
FILES = "abcdefghi"
RED, BLACK = "red", "black"
MOVE_LIMIT_PLIES = 120  # pyffish's n-move rule: 60 moves by each side without a capture

_ICCS_MOVE = re.compile(r"[a-i][0-9][a-i][0-9]")
_ENGINE_MOVE = re.compile(r"([a-i])(10|[1-9])([a-i])(10|[1-9])")
_PIECE_LETTERS = set("rnbakcpRNBAKCP")


def iccs_to_engine(move: str) -> str:
    """``h2e2`` -> ``h3e3`` (pyffish / UCI ranks start at 1)."""
    if not isinstance(move, str) or not _ICCS_MOVE.fullmatch(move):
        raise ValueError(f"malformed move {move!r}: expected ICCS like 'h2e2' (files a-i, ranks 0-9)")
    return f"{move[0]}{int(move[1]) + 1}{move[2]}{int(move[3]) + 1}"


def engine_to_iccs(move: str) -> str:
    """``h3e3`` -> ``h2e2``; accepts the engine's two-digit rank 10 (``b10c8`` -> ``b9c7``)."""
    match = _ENGINE_MOVE.fullmatch(move or "")
    if not match:
        raise ValueError(f"malformed engine move {move!r}: expected e.g. 'h3e3' (ranks 1-10)")
    f1, r1, f2, r2 = match.groups()
    return f"{f1}{int(r1) - 1}{f2}{int(r2) - 1}"


def mirror_move(move: str) -> str:
    """Reflect an ICCS move left-right (files a<->i); xiangqi rules are symmetric under it."""
    flip = {f: g for f, g in zip(FILES, reversed(FILES))}
    return f"{flip[move[0]]}{move[1]}{flip[move[2]]}{move[3]}"


def normalize_fen(fen: str) -> str:
    """Validate a FEN and return it in pyffish's form; ``r`` (red) to move is accepted as ``w``.

    Missing trailing fields (castling, en passant, clocks) are filled in. Raises ``ValueError``
    naming the problem: wrong shape, unknown piece letters, kings, or a side left in check.
    """
    if not isinstance(fen, str) or not fen.strip():
        raise ValueError("empty FEN")
    fields = fen.split()
    placement = fields[0]
    ranks = placement.split("/")
    if len(ranks) != 10:  # checked first: text that is no FEN at all fails here, not on a later field
        raise ValueError(f"{fen.strip()!r} is not a FEN: it must start with the board's 10 ranks separated by '/' "
                         f"(got {len(ranks)}), then the side to move, e.g. {START_FEN.split(' - ')[0]}")
    for number, rank in enumerate(ranks):
        width = 0
        for ch in rank:
            if ch.isdigit():
                width += int(ch)
            elif ch in _PIECE_LETTERS:
                width += 1
            else:
                raise ValueError(f"FEN rank {10 - number} has an unknown piece letter {ch!r} (use rnbakcp / RNBAKCP)")
        if width != 9:
            raise ValueError(f"FEN rank {10 - number} ({rank!r}) covers {width} files, 9 expected")
    if len(fields) > 6:
        raise ValueError(f"FEN has {len(fields)} fields, at most 6 expected")
    side = fields[1].lower() if len(fields) > 1 else "w"
    if side not in ("w", "r", "b"):
        raise ValueError(f"FEN side to move must be w/r (red) or b (black), got {fields[1]!r}")
    for king, colour in (("K", "red"), ("k", "black")):
        if placement.count(king) != 1:
            raise ValueError(f"FEN must have exactly one {colour} king ({king!r}), found {placement.count(king)}")
    side = "b" if side == "b" else "w"
    extra = fields[2:]
    normalized = " ".join([placement, side] + extra + ["-", "-", "0", "1"][len(extra):])
    code = pyffish.validate_fen(normalized, VARIANT)
    if code != pyffish.FEN_OK:
        raise ValueError(f"invalid FEN (pyffish code {code}): pieces on impossible squares or bad fields")
    pieces = board_squares(normalized)
    red_king, black_king = (next(sq for sq, p in pieces.items() if p == k) for k in "Kk")
    if red_king[0] == black_king[0] and not any(
        sq[0] == red_king[0] and int(red_king[1]) < int(sq[1]) < int(black_king[1]) for sq in pieces
    ):
        raise ValueError("invalid FEN: the two kings face each other on an open file")
    other_side = " ".join([placement, "w" if side == "b" else "b"] + normalized.split()[2:])
    if pyffish.gives_check(VARIANT, other_side, []):
        raise ValueError("invalid FEN: the side that is not to move is in check (its king could be captured)")
    return normalized


def board_squares(fen: str) -> dict[str, str]:
    """Pieces of a FEN keyed by ICCS square, e.g. ``{'e0': 'K', 'h2': 'C', ...}``."""
    pieces: dict[str, str] = {}
    for row, rank_text in enumerate(fen.split()[0].split("/")):
        rank, file = 9 - row, 0
        for ch in rank_text:
            if ch.isdigit():
                file += int(ch)
            else:
                pieces[f"{FILES[file]}{rank}"] = ch
                file += 1
    return pieces


def placement_fen(pieces: dict[str, str], red_to_move: bool) -> str:
    """A FEN of the pieces and the side to move, with empty move counters.

    Legal moves and check depend on nothing else in xiangqi, so pyffish can answer them from this FEN
    instead of replaying every move from the root, at a cost that does not grow with the game.
    """
    rows = []
    for rank in range(9, -1, -1):
        row, empty = "", 0
        for file in FILES:
            piece = pieces.get(f"{file}{rank}")
            if piece is None:
                empty += 1
            else:
                row, empty = row + (str(empty) if empty else "") + piece, 0
        rows.append(row + (str(empty) if empty else ""))
    return "/".join(rows) + (" w" if red_to_move else " b") + " - - 0 1"


def apply_move(pieces: dict[str, str], move: str) -> dict[str, str]:
    """The pieces after an ICCS move (a capture simply overwrites the target square)."""
    after = dict(pieces)
    after[move[2:]] = after.pop(move[:2])
    return after


# --- Board -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    """How a game ended: ``winner`` is ``'red'``, ``'black'`` or None for a draw."""

    reason: str  # checkmate, no legal move, repetition, perpetual check, move limit
    winner: str | None

    def result(self) -> str:
        return {RED: "1-0", BLACK: "0-1", None: "1/2-1/2"}[self.winner]

    def describe(self) -> str:
        side = {RED: "Red wins", BLACK: "Black wins", None: "Draw"}[self.winner]
        return f"{side} ({self.reason})"


def _replays(fen: str, engine_moves: list[str]) -> bool:
    """True when pyffish accepts every move (it raises on the first illegal one)."""
    try:
        pyffish.get_fen(VARIANT, fen, engine_moves)
    except (SystemError, ValueError):
        return False
    return True


def _opponent(colour: str) -> str:
    return BLACK if colour == RED else RED


class _Ply:
    """What is known about one position of the game; filled lazily, one pyffish call per field."""

    def __init__(self, board: "Board", n_moves: int):
        self.board, self.n_moves = board, n_moves

    @cached_property
    def engine_moves(self) -> list[str]:
        return self.board._engine_stack[: self.n_moves]

    @cached_property
    def placement_fen(self) -> str:
        return placement_fen(self.board._placements[self.n_moves], self.board._red_to_move(self.n_moves))

    @cached_property
    def legal_moves(self) -> list[str]:
        return sorted(engine_to_iccs(m) for m in pyffish.legal_moves(VARIANT, self.placement_fen, []))

    @cached_property
    def fen(self) -> str:
        return pyffish.get_fen(VARIANT, self.board.root_fen, self.engine_moves)

    @cached_property
    def in_check(self) -> bool:
        return pyffish.gives_check(VARIANT, self.placement_fen, [])

    @cached_property
    def optional_end(self) -> tuple[bool, int]:
        return pyffish.is_optional_game_end(VARIANT, self.board.root_fen, self.engine_moves)


class Board:
    """A xiangqi game: a start position and the ICCS moves played from it.

    ``max_plies`` adds a ply limit (a draw by "move limit"), used by matches.
    """

    def __init__(self, fen: str | None = None, max_plies: int | None = None):
        self.root_fen = START_FEN if fen is None else normalize_fen(fen)
        self.max_plies = max_plies
        self.move_stack: list[str] = []
        self._engine_stack: list[str] = []
        self._plies: list[_Ply] = [_Ply(self, 0)]
        self._placements: list[dict[str, str]] = [board_squares(self.root_fen)]  # pieces after each ply, kept in Python

    @classmethod
    def from_moves(cls, moves: list[str] | str, fen: str | None = None) -> "Board":
        """Replay a game in one pyffish call; ValueError names the first illegal move."""
        board = cls(fen)
        moves = moves.split() if isinstance(moves, str) else list(moves)
        engine = [iccs_to_engine(m) for m in moves]
        if not _replays(board.root_fen, engine):
            good, bad = 0, len(engine)  # bisect: the first `good` moves replay, the first `bad` do not
            while bad - good > 1:
                middle = (good + bad) // 2
                good, bad = (middle, bad) if _replays(board.root_fen, engine[:middle]) else (good, middle)
            raise ValueError(f"illegal move {moves[bad - 1]} at ply {bad} (after {' '.join(moves[:bad - 1]) or 'the start'})")
        board.move_stack, board._engine_stack = moves, engine
        board._plies = [_Ply(board, n) for n in range(len(moves) + 1)]
        for move in moves:
            board._placements.append(apply_move(board._placements[-1], move))
        return board

    @property
    def _current(self) -> _Ply:
        return self._plies[-1]

    @property
    def ply(self) -> int:
        return len(self.move_stack)

    @property
    def turn(self) -> str:
        return RED if self._red_to_move(self.ply) else BLACK

    def _red_to_move(self, ply: int) -> bool:
        return (self.root_fen.split()[1] == "w") == (ply % 2 == 0)

    @property
    def legal_moves(self) -> list[str]:
        return self._current.legal_moves

    def legal_targets(self, square: str) -> list[str]:
        """Destination squares of the legal moves that start on ``square``."""
        return [m[2:] for m in self.legal_moves if m[:2] == square]

    def fen(self) -> str:
        return self._current.fen

    def pieces(self) -> dict[str, str]:
        return dict(self._placements[-1])

    def is_check(self) -> bool:
        return self._current.in_check

    def positions(self) -> list[tuple[dict[str, str], bool]]:
        """(pieces, red to move) of every position of the game, the start first; the dicts are shared, do not change them."""
        return [(pieces, self._red_to_move(ply)) for ply, pieces in enumerate(self._placements)]

    def push(self, move: str) -> None:
        engine_move = iccs_to_engine(move)
        if move not in self.legal_moves:
            raise ValueError(f"illegal move {move} for {self.turn} in position {self.fen()}")
        self.move_stack.append(move)
        self._engine_stack.append(engine_move)
        self._plies.append(_Ply(self, len(self.move_stack)))
        self._placements.append(apply_move(self._placements[-1], move))

    def pop(self) -> str:
        if not self.move_stack:
            raise ValueError("no move to take back")
        self._plies.pop()
        self._placements.pop()
        self._engine_stack.pop()
        return self.move_stack.pop()

    def outcome(self) -> Outcome | None:
        """The result when the game is over, else None (rules of pyffish's xiangqi)."""
        if not self.legal_moves:  # xiangqi has no stalemate draw: having no move loses
            return Outcome("checkmate" if self.is_check() else "no legal move", _opponent(self.turn))
        ended, value = self._current.optional_end
        if ended:
            if value > 0:  # the opponent repeated checks: the side to move wins
                return Outcome("perpetual check", self.turn)
            if value < 0:
                return Outcome("perpetual check", _opponent(self.turn))
            halfmove_clock = int(self.fen().split()[4])
            return Outcome("move limit" if halfmove_clock >= MOVE_LIMIT_PLIES else "repetition", None)
        if self.max_plies is not None and self.ply >= self.max_plies:
            return Outcome("move limit", None)
        return None

    def is_repetition(self, count: int = 2) -> bool:
        """True when the current position (pieces and side to move) has occurred ``count`` times in the game.

        Needs no pyffish call, so the player can afford it for candidate moves and replies.
        """
        current, seen = self._placements[-1], 0
        for pieces in self._placements[::-2]:  # every second ply back: the same side to move
            if len(pieces) != len(current):  # a capture happened since: no earlier position can match
                break
            seen += pieces == current
        return seen >= count

    def is_game_over(self) -> bool:
        return self.outcome() is not None

    def __repr__(self) -> str:
        return f"Board({self.fen()!r})"
