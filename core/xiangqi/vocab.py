"""One token per move: every geometrically possible ICCS move, plus a few special tokens.

Su's original spells a move as four characters; a whole move as one token makes sequences four
times shorter and lets one forward pass score every candidate at once (a softmax over moves).
A game is ``[result] m1 m2 ...``: the first token says how the game ended (or that it is
unknown), so at play time the model can be asked to imitate the side that won.

Each token also comes with the position it leads to, as a bag of *board tokens*: one per piece
(its square and kind) and one for the side to move. Summed into the move's embedding (as NNUE
does for chess engines), they spare a small model from reconstructing the board from the move
history, which it does badly: it then plays blind to what it could capture or lose.
"""

from __future__ import annotations

from pathlib import Path

from core.xiangqi.board import FILES, mirror_move

PAD = "[PAD]"
PIECE_LETTERS = "RNBAKCPrnbakcp"
RED_TO_MOVE = 90 * len(PIECE_LETTERS)  # board tokens 0..1259 are (square, piece); then the side to move
BLACK_TO_MOVE = RED_TO_MOVE + 1
NO_PIECE = BLACK_TO_MOVE + 1  # fills the bag up to BOARD_SLOTS (its embedding is zero)
BOARD_VOCAB_SIZE = NO_PIECE + 1
BOARD_SLOTS = 33  # 32 pieces at most + the side to move
RESULT_TOKENS = {"1-0": "[RED_WINS]", "1/2-1/2": "[DRAW]", "0-1": "[BLACK_WINS]", "*": "[UNKNOWN]"}
UNKNOWN = RESULT_TOKENS["*"]
SPECIALS = [PAD, *RESULT_TOKENS.values()]
NO_TARGET = -100  # a position with nothing to predict (cross-entropy's ignore_index)


def _on_board(file: int, rank: int) -> bool:
    return 0 <= file < 9 and 0 <= rank < 10


def geometric_moves() -> list[str]:
    """All moves some piece could make on an empty board, in a fixed order (2,102 moves).

    Lines along ranks and files cover rooks, cannons, kings and pawns; then knight jumps,
    elephant steps between elephant points and advisor steps inside the palaces.
    """
    squares = [(f, r) for r in range(10) for f in range(9)]
    red_elephant_points = {(2, 0), (6, 0), (0, 2), (4, 2), (8, 2), (2, 4), (6, 4)}
    elephant_points = red_elephant_points | {(f, 9 - r) for f, r in red_elephant_points}
    palace = {(f, r) for f, r in squares if 3 <= f <= 5 and (r <= 2 or r >= 7)}
    moves: set[tuple[int, int, int, int]] = set()
    for f, r in squares:
        moves |= {(f, r, g, r) for g in range(9) if g != f} | {(f, r, f, s) for s in range(10) if s != r}
        moves |= {(f, r, f + df, r + dr) for df, dr in
                  ((1, 2), (2, 1), (2, -1), (1, -2), (-1, -2), (-2, -1), (-2, 1), (-1, 2)) if _on_board(f + df, r + dr)}
        if (f, r) in elephant_points:
            moves |= {(f, r, f + df, r + dr) for df in (2, -2) for dr in (2, -2)
                      if (f + df, r + dr) in elephant_points and (r <= 4) == (r + dr <= 4)}
        if (f, r) in palace:
            moves |= {(f, r, f + df, r + dr) for df in (1, -1) for dr in (1, -1)
                      if (f + df, r + dr) in palace and (r <= 2) == (r + dr <= 2)}
    return [f"{FILES[f]}{r}{FILES[g]}{s}" for f, r, g, s in sorted(moves, key=lambda m: (m[1], m[0], m[3], m[2]))]


def board_tokens(pieces: dict[str, str], red_to_move: bool) -> list[int]:
    """The position as ``BOARD_SLOTS`` board tokens (see the module docstring), padded with ``NO_PIECE``."""
    tokens = [(int(sq[1]) * 9 + FILES.index(sq[0])) * len(PIECE_LETTERS) + PIECE_LETTERS.index(p)
              for sq, p in pieces.items()]
    tokens.append(RED_TO_MOVE if red_to_move else BLACK_TO_MOVE)
    return tokens + [NO_PIECE] * (BOARD_SLOTS - len(tokens))


def mirrored_board_tokens() -> list[int]:
    """For every board token, the token of the left-right mirrored position (files a<->i)."""
    square_tokens = [((t // len(PIECE_LETTERS)) // 9 * 9 + 8 - (t // len(PIECE_LETTERS)) % 9) * len(PIECE_LETTERS)
                     + t % len(PIECE_LETTERS) for t in range(RED_TO_MOVE)]
    return square_tokens + [RED_TO_MOVE, BLACK_TO_MOVE, NO_PIECE]


class MoveVocab:
    """Token ids for special tokens and moves, and the left-right mirror of every id."""

    def __init__(self, tokens: list[str]):
        self.tokens = tokens
        self.index = {t: i for i, t in enumerate(tokens)}
        if len(self.index) != len(tokens):
            raise ValueError("vocabulary has duplicate tokens")
        self.pad_id = self.index[PAD]
        self.move_ids = [i for i, t in enumerate(tokens) if t not in SPECIALS]
        self.mirror_ids = [self.index[mirror_move(t)] if t not in SPECIALS else i for i, t in enumerate(tokens)]

    @classmethod
    def build(cls) -> "MoveVocab":
        return cls(SPECIALS + geometric_moves())

    @classmethod
    def load(cls, path: Path) -> "MoveVocab":
        return cls(Path(path).read_text(encoding="utf-8").split())

    def save(self, path: Path) -> None:
        Path(path).write_text("\n".join(self.tokens) + "\n", encoding="utf-8")

    def __len__(self) -> int:
        return len(self.tokens)

    def encode_move(self, move: str) -> int:
        if move not in self.index or move in SPECIALS:
            raise ValueError(f"{move!r} is not a move of the vocabulary (ICCS like 'h2e2')")
        return self.index[move]

    def encode_game(self, moves: list[str], result: str = "*") -> list[int]:
        if result not in RESULT_TOKENS:
            raise ValueError(f"unknown result {result!r}; expected one of {', '.join(RESULT_TOKENS)}")
        return [self.index[RESULT_TOKENS[result]]] + [self.encode_move(m) for m in moves]
