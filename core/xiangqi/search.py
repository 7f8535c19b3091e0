"""Alpha-beta search for the strong mode: the GPT orders the root moves, a fitted evaluation judges.

A policy that imitates masters leaves pieces to a plain material grabber, as Su observed of his
model; a search that reads a few plies ahead does not. Below the root, a negamax alpha-beta search
(iterative deepening, a transposition table, a null move, a check extension, and a quiescence search
of captures in which a side in check must answer it) scores positions with a value for each piece
on each square, fitted to master games' results (``core.xiangqi.piece_square``). At the root each
move may carry a bonus (the player gives the GPT's log-probability, at the weight the model card
chose: none), and the first of equally valued moves is kept, so the GPT's order breaks ties.

Moves are generated here in pure Python, not by pyffish, which costs 1.5 ms per call while a search
visits thousands of positions. They are pseudo-legal: a move that leaves its king capturable (the
facing kings included) loses the king at the next ply, which scores as mate. So no move needs a
legality test, and a side with no move that keeps its king loses, as xiangqi's rules say of both
checkmate and stalemate. The root moves come from :class:`Board` (pyffish), the rules authority;
repetition and perpetual check are judged at the root only (``core.xiangqi.player``).
"""

from __future__ import annotations

import functools
import random

from core.xiangqi.piece_square import load_table

FILES = "abcdefghi"
PIECE_VALUES = {"r": 9.0, "c": 4.5, "n": 4.0, "b": 2.0, "a": 2.0, "p": 1.0, "k": 0.0}  # pawns
MATE = 100_000  # centipawns; a mate found ``ply`` plies from the root scores MATE - ply
NULL_REDUCTION = 2
MAX_PLY = 24  # no check extension or check evasion beyond this many plies from the root
NO_PIECE = ""


def piece_value(piece: str, square: str) -> float:
    """Material value of a piece in pawns; a pawn that has crossed the river is worth two."""
    value = PIECE_VALUES[piece.lower()]
    crossed = int(square[1]) >= 5 if piece.isupper() else int(square[1]) <= 4
    return 2.0 if piece.lower() == "p" and crossed else value


def capture_gain(pieces: dict[str, str], move: str) -> float:
    """Pawns won by an ICCS move at once (0 for a quiet move)."""
    target = move[2:]
    return piece_value(pieces[target], target) if target in pieces else 0.0


# --- squares and move tables: square = rank * 9 + file, as ICCS counts them ---------------------


def square_index(name: str) -> int:
    return int(name[1]) * 9 + FILES.index(name[0])


def square_name(index: int) -> str:
    return f"{FILES[index % 9]}{index // 9}"


def _on_board(file: int, rank: int) -> bool:
    return 0 <= file < 9 and 0 <= rank < 10


def _in_palace(file: int, rank: int, red: bool) -> bool:
    return 3 <= file <= 5 and (0 <= rank <= 2 if red else 7 <= rank <= 9)


def _own_half(rank: int, red: bool) -> bool:
    return rank <= 4 if red else rank >= 5


def _tables():
    orthogonal = ((1, 0), (-1, 0), (0, 1), (0, -1))
    diagonal = ((1, 1), (1, -1), (-1, 1), (-1, -1))
    rays, knight, elephant, advisor, king, pawn = [], [], {}, {}, {}, {}
    for red in (True, False):
        elephant[red], advisor[red], king[red], pawn[red] = [], [], [], []
    for sq in range(90):
        f, r = sq % 9, sq // 9
        rays.append([[(r + dr * k) * 9 + f + df * k for k in range(1, 10) if _on_board(f + df * k, r + dr * k)]
                     for df, dr in orthogonal])
        knight.append([((r + dr) * 9 + f + df, (r + (dr // 2 if abs(dr) == 2 else 0)) * 9 + f + (df // 2 if abs(df) == 2 else 0))
                       for df, dr in ((1, 2), (-1, 2), (1, -2), (-1, -2), (2, 1), (2, -1), (-2, 1), (-2, -1))
                       if _on_board(f + df, r + dr)])
        for red in (True, False):
            elephant[red].append([((r + 2 * dr) * 9 + f + 2 * df, (r + dr) * 9 + f + df) for df, dr in diagonal
                                  if _on_board(f + 2 * df, r + 2 * dr) and _own_half(r + 2 * dr, red)])
            advisor[red].append([(r + dr) * 9 + f + df for df, dr in diagonal if _in_palace(f + df, r + dr, red)])
            king[red].append([(r + dr) * 9 + f + df for df, dr in orthogonal if _in_palace(f + df, r + dr, red)])
            forward = 1 if red else -1
            steps = [(0, forward)] + ([(1, 0), (-1, 0)] if not _own_half(r, red) else [])
            pawn[red].append([(r + dr) * 9 + f + df for df, dr in steps if _on_board(f + df, r + dr)])
    return rays, knight, elephant, advisor, king, pawn


RAYS, KNIGHT, ELEPHANT, ADVISOR, KING, PAWN = _tables()
# Who could attack a square: the same tables read backwards (a knight's leg is next to the knight).
KNIGHT_ATTACKERS = [[] for _ in range(90)]
PAWN_ATTACKERS = {True: [[] for _ in range(90)], False: [[] for _ in range(90)]}  # by a pawn of that colour
for _frm in range(90):
    for _to, _leg in KNIGHT[_frm]:
        KNIGHT_ATTACKERS[_to].append((_frm, _leg))
    for _red in (True, False):
        for _to in PAWN[_red][_frm]:
            PAWN_ATTACKERS[_red][_to].append(_frm)
RED_PIECES = frozenset("RNBAKCP")
# Signed centipawn value of each piece on each square, from Red's point of view: material alone, for move ordering
# (and for a search that counts material only, the model card's comparison).
MATERIAL = {p: [round(100 * piece_value(p, square_name(sq))) * (1 if p in RED_PIECES else -1) for sq in range(90)]
            for p in "RNBAKCPrnbakcp"}
_rng = random.Random(20261205)
ZOBRIST = {p: [_rng.getrandbits(64) for _ in range(90)] for p in "RNBAKCPrnbakcp"}
ZOBRIST[NO_PIECE] = [0] * 90
ZOBRIST_BLACK = _rng.getrandbits(64)


def pseudo_legal_moves(board: list[str], red: bool, captures_only: bool = False,
                       include_defended: bool = False) -> list[tuple[int, int]]:
    """(from, to) of every move of ``red``'s pieces by their movement rules, leaving the king in check allowed.

    The king may also "capture" the other king along an open file: that position is illegal for whoever
    moved last, and the search scores the capture as mate. ``include_defended`` adds the "captures" of
    ``red``'s own pieces: the squares it defends (``core.xiangqi.tactics``).
    """
    moves = []
    for frm in range(90):
        piece = board[frm]
        if not piece or (piece in RED_PIECES) != red:
            continue
        kind = piece.lower()
        if kind == "r" or kind == "c":
            for ray in RAYS[frm]:
                screen = False
                for to in ray:
                    target = board[to]
                    if not screen:
                        if not target:
                            if not captures_only:
                                moves.append((frm, to))
                            continue
                        if kind == "r":
                            if include_defended or (target in RED_PIECES) != red:
                                moves.append((frm, to))
                            break
                        screen = True
                    elif target:
                        if include_defended or (target in RED_PIECES) != red:
                            moves.append((frm, to))
                        break
            continue
        if kind == "n":
            targets = [to for to, leg in KNIGHT[frm] if not board[leg]]
        elif kind == "b":
            targets = [to for to, eye in ELEPHANT[red][frm] if not board[eye]]
        elif kind == "a":
            targets = ADVISOR[red][frm]
        elif kind == "p":
            targets = PAWN[red][frm]
        else:
            targets = KING[red][frm]
            for to in RAYS[frm][2 if red else 3]:  # up the file towards the other king
                if board[to]:
                    if board[to].lower() == "k":
                        moves.append((frm, to))
                    break
        for to in targets:
            target = board[to]
            if target:
                if include_defended or (target in RED_PIECES) != red:
                    moves.append((frm, to))
            elif not captures_only:
                moves.append((frm, to))
    return moves


@functools.cache
def fitted_values() -> dict[str, list[int]]:
    """The bundled piece-square table (``core.xiangqi.piece_square``), read once."""
    return load_table()


class NodeLimit(Exception):
    """Raised inside the search when its node budget is spent."""


class Search:
    """One position and its search state; :meth:`best_move` searches it to a node budget.

    The budget, not a clock, ends the search, so a move does not depend on the machine's load.
    """

    def __init__(self, pieces: dict[str, str], red_to_move: bool, values: dict[str, list[int]] | None = None):
        """``values``: signed centipawns of each piece letter on each square (default: the fitted table)."""
        self.values = {**(values or fitted_values()), NO_PIECE: [0] * 90}
        self.board = [NO_PIECE] * 90
        for name, piece in pieces.items():
            self.board[square_index(name)] = piece
        self.red = red_to_move
        self.kings = {piece == "K": sq for sq, piece in enumerate(self.board) if piece in ("K", "k")}  # red? -> square
        self.score = sum(self.values[p][sq] for sq, p in enumerate(self.board))  # Red's view
        self.hash = ZOBRIST_BLACK if not red_to_move else 0
        for sq, piece in enumerate(self.board):
            self.hash ^= ZOBRIST[piece][sq]
        self.table: dict[int, tuple[int, int, int, tuple[int, int] | None]] = {}  # hash -> depth, value, bound, move
        self.nodes = 0
        self.node_limit = 0

    # --- making moves ---

    def make(self, move: tuple[int, int]) -> str:
        frm, to = move
        board = self.board
        piece, captured = board[frm], board[to]
        board[to], board[frm] = piece, NO_PIECE
        if piece == "K" or piece == "k":
            self.kings[piece == "K"] = to
        values = self.values
        self.score += values[piece][to] - values[piece][frm] - values[captured][to]
        self.hash ^= ZOBRIST[piece][frm] ^ ZOBRIST[piece][to] ^ ZOBRIST[captured][to] ^ ZOBRIST_BLACK
        self.red = not self.red
        return captured

    def unmake(self, move: tuple[int, int], captured: str) -> None:
        frm, to = move
        board = self.board
        piece = board[to]
        board[frm], board[to] = piece, captured
        if piece == "K" or piece == "k":
            self.kings[piece == "K"] = frm
        values = self.values
        self.score -= values[piece][to] - values[piece][frm] - values[captured][to]
        self.hash ^= ZOBRIST[piece][frm] ^ ZOBRIST[piece][to] ^ ZOBRIST[captured][to] ^ ZOBRIST_BLACK
        self.red = not self.red

    def ordered(self, captures_only: bool, first: tuple[int, int] | None = None) -> list[tuple[int, int]]:
        """Moves with ``first`` (the table's best) first, then captures, most valuable victim first, then the rest."""
        board = self.board

        def key(move):
            frm, to = move
            victim = board[to]
            if victim == "K" or victim == "k":
                return -10**10  # before the table's move: taking the king ends the search of this position
            if move == first:
                return -10**9
            if victim:
                return -abs(MATERIAL[victim][to]) * 10 + abs(MATERIAL[board[frm]][frm]) // 10
            return 0

        return sorted(pseudo_legal_moves(board, self.red, captures_only), key=key)

    def in_check(self) -> bool:
        """True when the side to move's king could be taken if it passed (the facing kings included)."""
        board, red = self.board, self.red
        king = self.kings[red]
        rook, cannon, knight, pawn, other_king = ("r", "c", "n", "p", "k") if red else ("R", "C", "N", "P", "K")
        for direction, ray in enumerate(RAYS[king]):
            screened = False
            for sq in ray:
                piece = board[sq]
                if not piece:
                    continue
                if screened:
                    if piece == cannon:
                        return True
                    break
                if piece == rook or (piece == other_king and direction >= 2):
                    return True
                screened = True
        if any(board[frm] == knight and not board[leg] for frm, leg in KNIGHT_ATTACKERS[king]):
            return True
        return any(board[frm] == pawn for frm in PAWN_ATTACKERS[not red][king])

    def has_attackers(self) -> bool:
        pieces = ("R", "N", "C") if self.red else ("r", "n", "c")
        return any(piece in pieces for piece in self.board)

    def _count(self) -> None:
        self.nodes += 1
        if self.nodes > self.node_limit:
            raise NodeLimit

    # --- the search ---

    def quiesce(self, alpha: int, beta: int, ply: int) -> int:
        """Captures only, with the side to move free to stop capturing (stand pat), unless it is in check.

        A side in check may not stand pat: it tries every move, and loses when none saves the king, so
        mates at the search's horizon are seen.
        """
        self._count()
        captures = self.ordered(True)
        if captures and self.board[captures[0][1]] in ("K", "k"):
            return MATE - ply
        if ply < MAX_PLY and self.in_check():
            moves, best = self.ordered(False), -MATE + ply
        else:
            moves, best = captures, self.score if self.red else -self.score  # stand pat
            if best >= beta:
                return best
        alpha = max(alpha, best)
        for move in moves:
            captured = self.make(move)
            value = -self.quiesce(-beta, -alpha, ply + 1)
            self.unmake(move, captured)
            if value >= beta:
                return value
            alpha = max(alpha, value)
        return alpha

    def negamax(self, depth: int, alpha: int, beta: int, ply: int, null_allowed: bool = True) -> int:
        if depth <= 0:
            return self.quiesce(alpha, beta, ply)
        self._count()
        in_check = ply < MAX_PLY and self.in_check()
        if in_check:
            depth += 1  # a check extension: a forcing line is read one ply further
        entry = self.table.get(self.hash)
        first = None
        if entry is not None:
            entry_depth, value, bound, first = entry
            if entry_depth >= depth and abs(value) < MATE - 1000:  # mate scores depend on the ply: not reused
                if bound == 0 or (bound > 0 and value >= beta) or (bound < 0 and value <= alpha):
                    return value
        if null_allowed and not in_check and depth >= 3 and beta < MATE - 1000 and self.has_attackers():
            # Null move: if passing still holds beta at a reduced depth, a real move will too (saves a ply or two
            # on most of the tree). Not in check, not twice in a row, not without rooks, knights or cannons.
            self.red, self.hash = not self.red, self.hash ^ ZOBRIST_BLACK
            value = -self.negamax(depth - 1 - NULL_REDUCTION, -beta, -beta + 1, ply + 1, False)
            self.red, self.hash = not self.red, self.hash ^ ZOBRIST_BLACK
            if value >= beta:
                return beta
        moves = self.ordered(False, first)
        if moves and self.board[moves[0][1]] in ("K", "k"):
            return MATE - ply
        original_alpha, best, best_move = alpha, -MATE, None
        for move in moves:
            captured = self.make(move)
            value = -self.negamax(depth - 1, -beta, -alpha, ply + 1)
            self.unmake(move, captured)
            if value > best:
                best, best_move = value, move
                if value > alpha:
                    alpha = value
                    if alpha >= beta:
                        break
        bound = 1 if best >= beta else (-1 if best <= original_alpha else 0)  # lower bound, upper bound, exact
        self.table[self.hash] = (depth, best, bound, best_move)
        return best

    def best_move(self, root_moves: dict[str, float], node_limit: int, max_depth: int = 8,
                  fixed: dict[str, float] | None = None) -> tuple[str, float, int]:
        """The root move with the highest searched value (centipawns) plus its bonus: (move, total, depth searched).

        ``root_moves`` maps each legal ICCS move to its bonus in centipawns (the policy's say). ``fixed`` moves
        are not searched: they take the given total (a move that repeats a position is worth a draw, 0).
        Iterative deepening: depth 1, 2, ... until the budget runs out. An unfinished iteration still counts
        once its first move, the previous iteration's best, is searched: every later move it reached was
        searched at the new depth against that one.
        """
        if not root_moves and not fixed:
            raise ValueError("no root moves to search")
        self.nodes, self.node_limit, depth_reached = 0, node_limit, 0
        fixed = fixed or {}
        order = sorted(root_moves, key=root_moves.get, reverse=True)
        start_name = max(fixed, key=fixed.get) if fixed else None
        start_total = fixed[start_name] if fixed else -float("inf")
        best_name, best_total = (order[0], root_moves[order[0]]) if order else (start_name, start_total)
        for depth in range(1, max_depth + 1):
            name_so_far, total_so_far, searched = start_name, start_total, 0
            try:
                for name in order:
                    bonus = root_moves[name]
                    move = (square_index(name[:2]), square_index(name[2:]))
                    floor = -MATE - 1 if total_so_far == -float("inf") else int(total_so_far - bonus)
                    captured = self.make(move)
                    try:
                        value = -self.negamax(depth - 1, -MATE - 1, -floor, 1)
                    finally:
                        self.unmake(move, captured)
                    searched += 1
                    if value + bonus > total_so_far:
                        name_so_far, total_so_far = name, value + bonus
            except NodeLimit:
                if searched:
                    best_name, best_total = name_so_far, total_so_far
                break
            best_name, best_total, depth_reached = name_so_far, total_so_far, depth
            if best_name in root_moves:
                order = [best_name] + [name for name in order if name != best_name]
        return best_name, best_total, depth_reached
