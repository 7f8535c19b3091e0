"""Xiangqi moves as players write them: Chinese notation (炮二平五, 马８进７), WXF (C2.5, H8+7) and ICCS (h2e2).

Both human notations describe a move from its player's seat: which piece (by kind and by the file
it stands on, files counted 1-9 from that player's right), which way it goes (进 ``+`` forward,
退 ``-`` back, 平 ``.`` sideways) and a number (the target file, or the ranks travelled by pieces
that move along a file). Two or more like pieces on one file are told apart by their place,
front to back: 前/中/后 (WXF ``+``, the file, ``-``), as the WXF rules write them.

Reading is the other way round: every legal move of the position is written in every accepted
form and the text must name exactly one of them, so a reading can never be an illegal move, and
an ambiguous text is refused with its candidates named.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from core.xiangqi.board import FILES, Board

PIECE_NAMES = {
    "R": "车", "N": "马", "B": "相", "A": "仕", "K": "帅", "C": "炮", "P": "兵",
    "r": "车", "n": "马", "b": "象", "a": "士", "k": "将", "c": "炮", "p": "卒",
}
RED_NUMERALS = "一二三四五六七八九"
BLACK_NUMERALS = "１２３４５６７８９"  # full-width digits, the usual way black's moves are written
WXF_LETTERS = {"R": "R", "N": "H", "B": "E", "A": "A", "K": "K", "C": "C", "P": "P"}
CHINESE_DIRECTIONS = {"+": "进", "-": "退", ".": "平"}
_STRAIGHT_MOVERS = set("RCPK")  # their 进/退 count ranks; the others name the target file

# What a typed move is reduced to before it is compared: WXF letters, ASCII digits, + - . for the
# directions and for 前/后 (中 becomes M), whatever the script, the variant glyph or the digit width.
_READING = str.maketrans({
    **dict.fromkeys("车車俥伡", "R"), **dict.fromkeys("马馬傌", "H"), **dict.fromkeys("相象", "E"),
    **dict.fromkeys("仕士", "A"), **dict.fromkeys("帅帥将將", "K"), **dict.fromkeys("炮砲包", "C"),
    **dict.fromkeys("兵卒", "P"), "N": "H", "B": "E",
    **dict.fromkeys("进進＋", "+"), **dict.fromkeys("退－", "-"), **dict.fromkeys("平=＝．", "."),
    "前": "+", **dict.fromkeys("后後", "-"), "中": "M",
    **{numeral: str(n) for n, numeral in enumerate(RED_NUMERALS, 1)},
    **{digit: str(n) for n, digit in enumerate(BLACK_NUMERALS, 1)},
})
_READ_FORM = re.compile(r"[KAEHRCPM1-9+\-]{2}[+\-.][1-9]")
_ICCS = re.compile(r"[a-i][0-9][a-i][0-9]")
EXAMPLES = "炮二平五, 马8进7, 前炮平四, C2.5, H8+7, C+.4 or h2e2"


@dataclass(frozen=True)
class MoveShape:
    """A move as its player sees it, the facts both notations are written from."""

    piece: str  # FEN letter, upper case for red
    file: int  # 1-9, counted from the mover's right
    place: int  # 0 for the front-most of the like pieces on that file
    like_on_file: int  # like pieces (same kind and colour) on that file, the mover included
    stacked_files: bool  # like pieces stand two or more on more than one file (pawns only)
    direction: str  # + forward, - back, . sideways
    number: int  # the target file, or the ranks travelled along the file

    @property
    def red(self) -> bool:
        return self.piece.isupper()


def _file_number(file_index: int, red: bool) -> int:
    return 9 - file_index if red else file_index + 1


def move_shape(pieces: dict[str, str], move: str) -> MoveShape:
    """The :class:`MoveShape` of an ICCS move in the position ``pieces`` (see ``board.board_squares``)."""
    piece = pieces.get(move[:2])
    if piece is None:
        raise ValueError(f"no piece on {move[:2]} for move {move}")
    red = piece.isupper()
    rank_from, rank_to = int(move[1]), int(move[3])
    forward = (rank_to - rank_from) * (1 if red else -1)
    if forward == 0:
        direction, number = ".", _file_number(FILES.index(move[2]), red)
    else:
        direction = "+" if forward > 0 else "-"
        number = abs(forward) if piece.upper() in _STRAIGHT_MOVERS else _file_number(FILES.index(move[2]), red)
    ranks_by_file: dict[str, list[int]] = {}
    for square, other in pieces.items():
        if other == piece:
            ranks_by_file.setdefault(square[0], []).append(int(square[1]))
    same_file = sorted(ranks_by_file[move[0]], reverse=red)  # front first: highest rank for red, lowest for black
    return MoveShape(
        piece=piece,
        file=_file_number(FILES.index(move[0]), red),
        place=same_file.index(rank_from),
        like_on_file=len(same_file),
        stacked_files=sum(len(ranks) > 1 for ranks in ranks_by_file.values()) > 1,
        direction=direction,
        number=number,
    )


def _chinese(shape: MoveShape) -> str:
    numerals = RED_NUMERALS if shape.red else BLACK_NUMERALS
    action = CHINESE_DIRECTIONS[shape.direction] + numerals[shape.number - 1]
    name = PIECE_NAMES[shape.piece]
    if shape.like_on_file == 1:
        return name + numerals[shape.file - 1] + action
    if shape.like_on_file <= 3:
        place = ("前后" if shape.like_on_file == 2 else "前中后")[shape.place]
    else:  # four or five pawns on one file are counted front to back
        place = numerals[shape.place]
    # When pawns stack on several files, the file replaces the piece name (前七进一).
    return place + (numerals[shape.file - 1] if shape.stacked_files else name) + action


def _wxf(shape: MoveShape) -> str:
    letter, file, place, count = WXF_LETTERS[shape.piece.upper()], str(shape.file), shape.place, shape.like_on_file
    ends = {0: "+", count - 1: "-"}  # front and rear; a middle pawn keeps its file
    if count == 1:
        who = letter + file
    elif shape.stacked_files:
        who = file + ends.get(place, file)  # 3+.4, 33.4, 3-.4
    elif count <= 3:
        who = letter + ends.get(place, file)  # C+.4, P3.4, C-.4
    else:  # ++, P+, P3, P-, -- from front to back
        who = {0: "++", 1: letter + "+", count - 2: letter + "-", count - 1: "--"}.get(place, letter + file)
    return f"{who}{shape.direction}{shape.number}"


def _plain_wxf(shape: MoveShape) -> str:
    """Piece and file only, as players write a doubled piece when only one of them can make the move."""
    return f"{WXF_LETTERS[shape.piece.upper()]}{shape.file}{shape.direction}{shape.number}"


def chinese_move(pieces: dict[str, str], move: str) -> str:
    """Chinese notation of an ICCS move: ``h2e2`` -> 炮二平五 at the start; black's files in full-width digits."""
    return _chinese(move_shape(pieces, move))


def wxf_move(pieces: dict[str, str], move: str) -> str:
    """WXF notation of an ICCS move (``h2e2`` -> ``C2.5``), with the WXF rules for doubled pieces and pawns."""
    return _wxf(move_shape(pieces, move))


def chinese_history(board: Board) -> list[str]:
    """Chinese notation of every move played on ``board``, oldest first."""
    return [chinese_move(pieces, move) for (pieces, _), move in zip(board.positions(), board.move_stack)]


def reading_key(text: str) -> str:
    """The form a typed move is compared in: 炮二平五, 炮2平5 and C2=5 all read ``C2.5``; 前炮 and +C read ``C+``."""
    key = re.sub(r"\s", "", text.upper().translate(_READING))
    return re.sub(r"^([+\-])([A-Z])", r"\2\1", key)  # +C.5 is WXF's C+.5


def parse_move(board: Board, text: str) -> str:
    """The legal ICCS move that ``text`` names in Chinese notation, WXF or ICCS (``h2e2``, also ``H2-E2``).

    A doubled piece may be named by its file alone when only one of the two can make the move.
    Raises ValueError when the text is not a move, names no legal move, or names more than one.
    """
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"type a move, e.g. {EXAMPLES}")
    text = text.strip()
    colour = board.turn.capitalize()
    iccs = text.lower().replace("-", "")
    if _ICCS.fullmatch(iccs):
        if iccs not in board.legal_moves:
            raise ValueError(f"{text} is not a legal move for {colour} in this position")
        return iccs
    key = reading_key(text)
    if not _READ_FORM.fullmatch(key):
        raise ValueError(f"cannot read {text!r} as a move: write it like {EXAMPLES}")
    pieces = board.pieces()
    shapes = {move: move_shape(pieces, move) for move in board.legal_moves}
    exact = [m for m, shape in shapes.items() if key in (reading_key(_chinese(shape)), reading_key(_wxf(shape)))]
    matches = exact or [m for m, shape in shapes.items() if key == _plain_wxf(shape)]
    if not matches:
        raise ValueError(f"{text} is not a legal move for {colour} in this position")
    if len(matches) > 1:
        named = " or ".join(f"{_chinese(shapes[m])} ({m})" for m in matches)
        raise ValueError(f"{text} is ambiguous: it could be {named}")
    return matches[0]
