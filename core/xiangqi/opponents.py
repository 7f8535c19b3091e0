"""Opponents for matches: a random mover, a one-ply material grabber, and fairy-stockfish (UCI)."""

from __future__ import annotations

import random
import shutil
import subprocess
from pathlib import Path

from core.xiangqi.board import START_FEN, Board, engine_to_iccs, iccs_to_engine
from core.xiangqi.search import capture_gain

FAIRY_STOCKFISH = Path("/usr/games/fairy-stockfish")


def random_move(board: Board, rng: random.Random) -> str:
    return rng.choice(board.legal_moves)


def greedy_move(board: Board, rng: random.Random) -> str:
    """The legal move that captures the most material now; random among equals."""
    pieces = board.pieces()
    gains = {move: capture_gain(pieces, move) for move in board.legal_moves}
    best = max(gains.values())
    return rng.choice([move for move, gain in gains.items() if gain == best])


def find_engine() -> Path | None:
    """fairy-stockfish from Debian (/usr/games is not on root's PATH) or anywhere on PATH."""
    if FAIRY_STOCKFISH.is_file():
        return FAIRY_STOCKFISH
    found = shutil.which("fairy-stockfish")
    return Path(found) if found else None


class FairyStockfish:
    """fairy-stockfish over UCI with ``UCI_Variant xiangqi``, searching to a fixed depth."""

    def __init__(self, depth: int = 1, path: Path | None = None):
        path = path or find_engine()
        if path is None:
            raise ValueError("fairy-stockfish is not installed (apt-get install fairy-stockfish)")
        self.depth = depth
        self._game: tuple[str, list[str]] | None = None  # (start FEN, moves) of the last position searched
        self.process = subprocess.Popen(
            [str(path)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1
        )
        self._send("uci")
        self._wait_for("uciok")
        self._send("setoption name UCI_Variant value xiangqi")
        self._send("isready")
        self._wait_for("readyok")

    def _send(self, command: str) -> None:
        self.process.stdin.write(command + "\n")

    def _wait_for(self, prefix: str) -> str:
        for line in self.process.stdout:
            if line.startswith(prefix):
                return line.strip()
        raise RuntimeError(f"fairy-stockfish exited while waiting for {prefix!r}")

    def move(self, board: Board) -> str:
        return self.best_move(board.move_stack, board.root_fen)

    def best_move(self, moves: list[str], fen: str = START_FEN) -> str:
        """The engine's choice (ICCS) after ``moves`` (ICCS) from ``fen``, searched to ``self.depth``.

        A position that does not continue the previous one starts a new game, which clears the engine's hash:
        at a fixed depth, entries left by earlier games' searches would make it play deeper than its depth, and
        its strength would depend on what was played before (the ladder plays several modes against one engine).
        """
        if self._game is None or self._game[0] != fen or list(moves[: len(self._game[1])]) != self._game[1]:
            self._send("ucinewgame")
            self._send("isready")
            self._wait_for("readyok")
        self._game = (fen, list(moves))
        engine_moves = " ".join(iccs_to_engine(m) for m in moves)
        self._send(f"position fen {fen}" + (f" moves {engine_moves}" if engine_moves else ""))
        self._send(f"go depth {self.depth}")
        best = self._wait_for("bestmove").split()[1]
        if best == "(none)":
            raise ValueError("fairy-stockfish found no move in a position the board says is playable")
        return engine_to_iccs(best)

    def close(self) -> None:
        if self.process.poll() is None:
            self._send("quit")
            self.process.wait(timeout=5)

    def __enter__(self) -> "FairyStockfish":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
