"""One person's game against the model: selection by clicks, replies, take-backs, FEN import.

Kept free of any UI so the tab only shows what a :class:`Game` says; the tab stores one Game per
browser session. Illegal input raises ``ValueError`` with a short message and changes nothing.
"""

from __future__ import annotations

import re

from core.xiangqi.board import BLACK, RED, Board, Outcome
from core.xiangqi.notation import chinese_history, chinese_move, parse_move
from core.xiangqi.player import Choice, Decoder, Player

_SQUARE = re.compile(r"[a-i][0-9]")
COLOUR_NAMES = {RED: "Red", BLACK: "Black"}


class Game:
    def __init__(self, human: str = RED, fen: str | None = None):
        if human not in (RED, BLACK):
            raise ValueError(f"play as 'red' or 'black', not {human!r}")
        self.board = Board(fen)
        self.human = human
        self.flipped = human == BLACK
        self.selected: str | None = None
        self.decoder = Decoder()
        self.last_choice: Choice | None = None

    @property
    def model_to_move(self) -> bool:
        return self.board.turn != self.human and self.board.outcome() is None

    def outcome(self) -> Outcome | None:
        return self.board.outcome()

    def _check_humans_turn(self) -> None:
        outcome = self.board.outcome()
        if outcome is not None:
            raise ValueError(f"The game is over: {outcome.describe()}. Start a new game or undo.")
        if self.board.turn != self.human:
            raise ValueError("Wait for the model's move.")

    def click(self, square: str) -> str | None:
        """Select one of your pieces, or move the selected piece to ``square``.

        Returns the ICCS move when the click made one (the caller then lets the model reply).
        """
        if not isinstance(square, str) or not _SQUARE.fullmatch(square):
            raise ValueError(f"not a board point: {square!r}")
        self._check_humans_turn()
        piece = self.board.pieces().get(square)
        own = piece is not None and piece.isupper() == (self.human == RED)
        if self.selected and square in self.board.legal_targets(self.selected):
            move = self.selected + square
            self.play(move)
            return move
        if square == self.selected:
            self.selected = None
            return None
        if own:
            if not self.board.legal_targets(square):
                raise ValueError(f"That {COLOUR_NAMES[self.human]} piece on {square} has no legal move.")
            self.selected = square
            return None
        if self.selected:
            raise ValueError(f"Illegal move {self.selected}{square}: pick one of the marked points.")
        raise ValueError(f"Select one of your ({COLOUR_NAMES[self.human]}) pieces first.")

    def play(self, text: str) -> str:
        """Your move as you write it (炮二平五, C2.5 or h2e2); returns it in ICCS. ValueError when it is not one legal move."""
        self._check_humans_turn()
        move = parse_move(self.board, text)
        self.board.push(move)
        self.selected = None
        return move

    def reply(self, player: Player) -> Choice | None:
        """The model's move when it is its turn (None otherwise)."""
        if not self.model_to_move:
            return None
        choice = player.choose(self.board, self.decoder)
        self.board.push(choice.move)
        self.last_choice = choice
        return choice

    def undo(self) -> None:
        """Take back your last move and the model's reply to it."""
        if not self.board.move_stack:
            raise ValueError("Nothing to undo.")
        self.board.pop()
        while self.board.move_stack and self.board.turn != self.human:
            self.board.pop()
        self.selected, self.last_choice = None, None

    def hint(self, player: Player, top: int = 5) -> list[tuple[str, str, float]]:
        """The model's favourite moves for you: (Chinese, ICCS, probability)."""
        self._check_humans_turn()
        pieces = self.board.pieces()
        return [(chinese_move(pieces, m), m, p) for m, p in player.policy(self.board, Decoder())[:top]]

    def move_list(self) -> list[tuple[int, str, str, str]]:
        """(move number, colour, Chinese, ICCS) for every ply played, oldest first."""
        first_is_black = self.board.root_fen.split()[1] == "b"
        return [((ply + first_is_black) // 2 + 1, RED if (ply + first_is_black) % 2 == 0 else BLACK, chinese, iccs)
                for ply, (chinese, iccs) in enumerate(zip(chinese_history(self.board), self.board.move_stack))]

    def status(self) -> str:
        outcome = self.board.outcome()
        if outcome is not None:
            return f"Game over: {outcome.describe()}"
        who = "your" if self.board.turn == self.human else "the model's"
        check = " Check!" if self.board.is_check() else ""
        return f"{COLOUR_NAMES[self.board.turn]} to move ({who} turn).{check}"
