"""Game records: read the master-game JSONL files, replay every game with :class:`Board`, split, tokenise.

Two collections: CCPD (``ccpd_games_iccs.jsonl.xz``) and dpxq.com (``dpxq_games_iccs.jsonl.xz``,
section 14 of the shared data README). Each file is split by the same hash of a game's moves, so
the CCPD validation games stay those every earlier bundle was measured on, and the dpxq
validation games are an independent held-out set.

Replaying costs one pyffish call per game (~1 minute for the file), so the validated and
tokenised games, with the board tokens of every position, are cached next to the training run
and reused by later runs and evaluations.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import lzma
import multiprocessing
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import numpy as np
import torch
from tqdm import tqdm

from core.checkpoints import REPO_ROOT, SHARED_DATA
from core.xiangqi.board import START_FEN, Board
from core.xiangqi.vocab import MoveVocab, board_tokens

DEFAULT_GAMES = SHARED_DATA / "xiangqi" / "ccpd_games_iccs.jsonl.xz"
DPXQ_GAMES = SHARED_DATA / "xiangqi" / "dpxq_games_iccs.jsonl.xz"
DEFAULT_WORK_DIR = REPO_ROOT / "runs" / "xiangqi"
VALIDATION_EVERY = 20  # 1 game in 20 (5%) is held out, chosen by a hash of its moves


@dataclass
class GameSet:
    """Validated games as token lists (result token first), split by game, with drop counts.

    ``*_boards[i]`` is an int16 tensor (plies + 1, BOARD_SLOTS): the board tokens of game i's
    position after each of its tokens (the start position after the result token).
    """

    train: list[list[int]]
    validation: list[list[int]]
    train_boards: list[torch.Tensor] = field(default_factory=list)
    validation_boards: list[torch.Tensor] = field(default_factory=list)
    dropped: Counter = field(default_factory=Counter)


def is_validation(moves: str) -> bool:
    """Fixed, order-independent split: the same game always lands on the same side."""
    return int(hashlib.md5(moves.encode("utf-8")).hexdigest(), 16) % VALIDATION_EVERY == 0


def open_text(path: Path):
    path = Path(path)
    return lzma.open(path, "rt", encoding="utf-8") if path.suffix == ".xz" else open(path, encoding="utf-8")


def game_boards(board: Board) -> torch.Tensor:
    """The board tokens of every position of ``board``'s game, the start first (int16, plies + 1 rows)."""
    return torch.tensor([board_tokens(pieces, red) for pieces, red in board.positions()], dtype=torch.int16)


def usable_records(path: Path, dropped: Counter) -> Iterator[tuple[str, dict]]:
    """(moves, record) of each record worth replaying; counts the others in ``dropped`` by reason."""
    with open_text(path) as lines:
        for line in lines:
            record = json.loads(line)
            moves = " ".join(record.get("moves_iccs", "").split())
            if record.get("fen", START_FEN).split()[0] != START_FEN.split()[0]:
                dropped["not from the standard start position"] += 1
            elif not record.get("complete", True):
                dropped["record stops at an illegal move (complete: false)"] += 1
            elif not moves:
                dropped["no moves"] += 1
            elif record.get("in_shared_ccpd"):
                dropped["also in the CCPD file (in_shared_ccpd)"] += 1
            else:
                yield moves, record


def replay(game: tuple[str, str], vocab: MoveVocab) -> tuple[bool, list[int], np.ndarray] | None:
    """(is validation, tokens, boards) of one (moves, result) game, or None when :class:`Board` finds an illegal move.
    The boards travel back from a worker as a NumPy array: thousands of tensors sent through a pipe would each hold a
    shared-memory file descriptor."""
    moves, result = game
    try:
        board = Board.from_moves(moves)
    except ValueError:
        return None
    return is_validation(moves), vocab.encode_game(moves.split(), result), game_boards(board).numpy()


def replayed_games(path: Path, vocab: MoveVocab, dropped: Counter,
                   workers: int = 1) -> Iterator[tuple[bool, list[int], torch.Tensor]]:
    """(is validation, tokens, boards) for each usable record in file order, replayed with :class:`Board` by
    ``workers`` processes (a GPU machine's many cores replay a file in seconds); counts the rest."""
    games = ((moves, record.get("result", "*")) for moves, record in usable_records(path, dropped))
    with multiprocessing.get_context("spawn").Pool(workers) if workers > 1 else contextlib.nullcontext() as pool:
        replay_one = functools.partial(replay, vocab=vocab)
        replayed = pool.imap(replay_one, games, chunksize=64) if pool else map(replay_one, games)
        for game in tqdm(replayed, desc="replaying games", unit=" games", mininterval=5):
            if game is None:
                dropped["illegal move found by Board"] += 1
            else:
                validation, tokens, boards = game
                yield validation, tokens, torch.from_numpy(boards)


def read_games(path: Path, vocab: MoveVocab, workers: int = 1) -> GameSet:
    """Every usable game of the file, split into training and validation games."""
    games = GameSet([], [])
    for validation, tokens, boards in replayed_games(path, vocab, games.dropped, workers):
        (games.validation if validation else games.train).append(tokens)
        (games.validation_boards if validation else games.train_boards).append(boards)
    return games


def cached_games(path: Path, vocab: MoveVocab, work_dir: Path = DEFAULT_WORK_DIR, workers: int = 1) -> GameSet:
    """:func:`read_games` once per data file and vocabulary; later calls load the cache."""
    path = Path(path)
    stat = path.stat()
    key = hashlib.md5(f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}|{len(vocab)}|boards".encode()).hexdigest()[:12]
    cache = Path(work_dir) / f"games-{key}.pt"
    if cache.is_file():
        saved = torch.load(cache)
        return GameSet(saved["train"], saved["validation"], saved["train_boards"], saved["validation_boards"],
                       Counter(saved["dropped"]))
    games = read_games(path, vocab, workers)
    cache.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"train": games.train, "validation": games.validation, "train_boards": games.train_boards,
                "validation_boards": games.validation_boards, "dropped": dict(games.dropped)}, cache)
    return games
