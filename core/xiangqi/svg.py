"""Draw a xiangqi position as inline SVG (standard library only).

Pieces stand on the 9x10 intersections; every intersection carries ``data-square="e2"`` (ICCS)
so a page can turn clicks into moves. Marks: last move (from and to), the king in check, the
selected piece and dots on its legal targets (rings on targets that capture).
"""

from __future__ import annotations

from html import escape

from core.xiangqi.board import FILES, Board, board_squares
from core.xiangqi.notation import PIECE_NAMES

CELL = 52
MARGIN = 44
RADIUS = 23
WIDTH = 2 * MARGIN + 8 * CELL
HEIGHT = 2 * MARGIN + 9 * CELL
RED_INK, BLACK_INK = "#b3261e", "#1d1d1d"
BOARD_FILL, LINE = "#f3d9a4", "#6b4a1f"


def _point(square: str, flipped: bool) -> tuple[int, int]:
    file, rank = FILES.index(square[0]), int(square[1])
    if flipped:
        file, rank = 8 - file, 9 - rank
    return MARGIN + file * CELL, MARGIN + (9 - rank) * CELL


def _line(x1: float, y1: float, x2: float, y2: float, width: float = 1.4) -> str:
    return f'<line x1="{x1}" y1="{y1}" x2="{x2}" y2="{y2}" stroke="{LINE}" stroke-width="{width}"/>'


def _grid(flipped: bool) -> list[str]:
    left, right, top, bottom = MARGIN, MARGIN + 8 * CELL, MARGIN, MARGIN + 9 * CELL
    river_top, river_bottom = MARGIN + 4 * CELL, MARGIN + 5 * CELL
    parts = [f'<rect x="{left - 6}" y="{top - 6}" width="{8 * CELL + 12}" height="{9 * CELL + 12}" '
             f'fill="none" stroke="{LINE}" stroke-width="3"/>']
    parts += [_line(left, top + r * CELL, right, top + r * CELL) for r in range(10)]
    for f in range(9):  # inner files stop at the river; the two edge files cross it
        x = left + f * CELL
        if f in (0, 8):
            parts.append(_line(x, top, x, bottom))
        else:
            parts += [_line(x, top, x, river_top), _line(x, river_bottom, x, bottom)]
    for a, b in (("d0", "f2"), ("f0", "d2"), ("d9", "f7"), ("f9", "d7")):  # palace diagonals
        (x1, y1), (x2, y2) = _point(a, flipped), _point(b, flipped)
        parts.append(_line(x1, y1, x2, y2))
    middle_y = (river_top + river_bottom) / 2
    for text, x in (("楚 河", left + 2 * CELL), ("汉 界", left + 6 * CELL)):
        parts.append(f'<text x="{x}" y="{middle_y}" font-size="26" fill="{LINE}" text-anchor="middle" '
                     f'dominant-baseline="central" font-family="KaiTi, STKaiti, serif">{text}</text>')
    return parts


def _coordinates(flipped: bool) -> list[str]:
    parts = []
    for file in FILES:
        x, _ = _point(f"{file}0", flipped)
        for y in (MARGIN - 28, MARGIN + 9 * CELL + 30):
            parts.append(f'<text x="{x}" y="{y}" font-size="13" fill="{LINE}" text-anchor="middle">{file}</text>')
    for rank in range(10):
        _, y = _point(f"a{rank}", flipped)
        parts.append(f'<text x="{MARGIN - 30}" y="{y + 4}" font-size="13" fill="{LINE}">{rank}</text>')
    return parts


def _piece(square: str, piece: str, flipped: bool, selected: bool) -> str:
    x, y = _point(square, flipped)
    ink = RED_INK if piece.isupper() else BLACK_INK
    ring = ' stroke="#1e6fd9" stroke-width="4"' if selected else f' stroke="{ink}" stroke-width="2"'
    return (f'<g class="xq-piece" data-piece="{escape(piece)}" pointer-events="none">'
            f'<circle cx="{x}" cy="{y}" r="{RADIUS}" fill="#fbeccb"{ring}/>'
            f'<circle cx="{x}" cy="{y}" r="{RADIUS - 4}" fill="none" stroke="{ink}" stroke-width="1"/>'
            f'<text x="{x}" y="{y}" font-size="24" fill="{ink}" text-anchor="middle" dominant-baseline="central" '
            f'font-family="KaiTi, STKaiti, WenQuanYi Micro Hei, serif">{PIECE_NAMES[piece]}</text></g>')


def render(
    pieces: dict[str, str],
    *,
    last_move: str | None = None,
    check_square: str | None = None,
    selected: str | None = None,
    targets: tuple[str, ...] | list[str] = (),
    flipped: bool = False,
) -> str:
    """SVG of a position given as ``{square: FEN letter}``; Red is at the bottom unless ``flipped``."""
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="xq-board" viewBox="0 0 {WIDTH} {HEIGHT}" '
             f'width="{WIDTH}" height="{HEIGHT}" role="img" aria-label="xiangqi board">',
             f'<rect width="{WIDTH}" height="{HEIGHT}" fill="{BOARD_FILL}" rx="8"/>']
    parts += _grid(flipped) + _coordinates(flipped)
    if last_move:
        for square, opacity in ((last_move[:2], 0.35), (last_move[2:], 0.6)):
            x, y = _point(square, flipped)
            parts.append(f'<rect class="xq-last" x="{x - RADIUS - 3}" y="{y - RADIUS - 3}" width="{2 * RADIUS + 6}" '
                         f'height="{2 * RADIUS + 6}" fill="none" stroke="#1e6fd9" stroke-opacity="{opacity}" '
                         f'stroke-width="3" stroke-dasharray="10 6"/>')
    if check_square:
        x, y = _point(check_square, flipped)
        parts.append(f'<circle class="xq-check" cx="{x}" cy="{y}" r="{RADIUS + 6}" fill="#ff3b30" fill-opacity="0.45"/>')
    parts += [_piece(square, piece, flipped, square == selected) for square, piece in sorted(pieces.items())]
    for square in targets:
        x, y = _point(square, flipped)
        if square in pieces:
            parts.append(f'<circle class="xq-target" cx="{x}" cy="{y}" r="{RADIUS + 2}" fill="none" '
                         f'stroke="#2e9d48" stroke-width="4" pointer-events="none"/>')
        else:
            parts.append(f'<circle class="xq-target" cx="{x}" cy="{y}" r="8" fill="#2e9d48" pointer-events="none"/>')
    for file in FILES:  # transparent hit areas on top: one per intersection
        for rank in range(10):
            x, y = _point(f"{file}{rank}", flipped)
            parts.append(f'<circle class="xq-point" data-square="{file}{rank}" cx="{x}" cy="{y}" r="{CELL // 2}" '
                         f'fill="transparent" style="cursor:pointer"/>')
    parts.append("</svg>")
    return "".join(parts)


def board_svg(board: Board, selected: str | None = None, flipped: bool = False) -> str:
    """The current position of ``board`` with its last move, check, and the selected piece's targets."""
    pieces = board_squares(board.fen())
    king = "K" if board.turn == "red" else "k"
    check_square = next((sq for sq, p in pieces.items() if p == king), None) if board.is_check() else None
    return render(
        pieces,
        last_move=board.move_stack[-1] if board.move_stack else None,
        check_square=check_square,
        selected=selected,
        targets=board.legal_targets(selected) if selected else (),
        flipped=flipped,
    )


ODDS_BAR_WIDTH = 56
DRAW_INK = "#8a8a8a"


def odds_bar_svg(red: float, draw: float, black: float, flipped: bool = False) -> str:
    """A vertical bar as tall as the board, split into Black wins / draw / Red wins in proportion.

    Each side's share stands at its end of the board (Black on top unless ``flipped``), as in a
    chess site's evaluation bar; a share too thin for its label shows it on hover only.
    """
    total = red + draw + black
    if total <= 0 or min(red, draw, black) < 0:
        raise ValueError(f"odds must be non-negative with a positive sum, got {red}, {draw}, {black}")
    summary = f"The model's guess: Red wins {red / total:.0%}, draw {draw / total:.0%}, Black wins {black / total:.0%}"
    segments = [("黑胜", black, BLACK_INK), ("和", draw, DRAW_INK), ("红胜", red, RED_INK)]
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="xq-odds" viewBox="0 0 {ODDS_BAR_WIDTH} {HEIGHT}" '
             f'width="{ODDS_BAR_WIDTH}" height="{HEIGHT}" role="img" aria-label="{summary}" '
             f'data-red="{red / total:.4f}" data-draw="{draw / total:.4f}" data-black="{black / total:.4f}">'
             f'<title>{summary}</title>']
    top, middle = 0.0, ODDS_BAR_WIDTH / 2
    for name, share, ink in segments[::-1] if flipped else segments:
        height = HEIGHT * share / total
        parts.append(f'<rect x="0" y="{top:.1f}" width="{ODDS_BAR_WIDTH}" height="{height:.1f}" fill="{ink}"/>')
        if height >= 40:
            parts.append(f'<text x="{middle}" y="{top + height / 2 - 9:.1f}" font-size="13" fill="white" '
                         f'text-anchor="middle" dominant-baseline="central">{name}</text>')
        if height >= 20:
            y = top + height / 2 + (9 if height >= 40 else 0)
            parts.append(f'<text x="{middle}" y="{y:.1f}" font-size="13" fill="white" text-anchor="middle" '
                         f'dominant-baseline="central">{share / total:.0%}</text>')
        top += height
    parts.append("</svg>")
    return "".join(parts)
