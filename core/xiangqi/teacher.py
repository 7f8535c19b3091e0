"""Engine labels for the policy: ``python -m core.xiangqi.teacher --help``.

Master games teach the model what strong humans play, but masters seldom leave a piece hanging,
so their moves say little about tactics. fairy-stockfish at a small fixed depth is far stronger
than the model and fast: here it names its best move in every position of master training
games. ``train --engine-labels`` adds these moves as a second target on those games, next to the
master move (the master-move objective stays, so move prediction does not fall).

The labels file is JSON: ``{"depth": d, "games": {game_key(moves): "best1 best2 ..."}}``, one
engine move (ICCS) per position before each ply. Training games of all the given files are
labelled in a fixed pseudo-random order (by their key), so the first N games labelled are a random
sample of them; validation games (``data.is_validation``) are never labelled. The run saves every
few games and resumes from the file; it stops after ``--games`` games or ``--minutes``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import time
from collections import Counter
from pathlib import Path

from tqdm import tqdm

from core.xiangqi.data import DEFAULT_GAMES, DEFAULT_WORK_DIR, DPXQ_GAMES, is_validation, usable_records
from core.xiangqi.opponents import FairyStockfish

SAVE_EVERY_GAMES = 20


def game_key(moves: str) -> str:
    """The key of a game in a labels file: a hash of its moves (ICCS, single spaces)."""
    return hashlib.sha1(moves.encode("utf-8")).hexdigest()[:16]


def training_games(paths: list[Path]) -> list[str]:
    """Move strings of the usable training games of ``paths``, deduplicated, in key order."""
    by_key = {}
    for path in paths:
        for moves, _ in usable_records(path, Counter()):
            if not is_validation(moves):
                by_key[game_key(moves)] = moves
    return [by_key[key] for key in sorted(by_key)]


def label_game(engine: FairyStockfish, moves: list[str]) -> list[str]:
    """The engine's move in the position before each of ``moves``."""
    return [engine.best_move(moves[:ply]) for ply in range(len(moves))]


def load_labels(path: Path) -> dict[str, list[str]]:
    """{game key: engine move per ply} from a labels file."""
    saved = json.loads(Path(path).read_text(encoding="utf-8"))
    return {key: moves.split() for key, moves in saved["games"].items()}


def save(path: Path, depth: int, games: dict[str, str]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps({"depth": depth, "games": games}), encoding="utf-8")
    os.replace(tmp, path)  # an interruption never leaves a half-written file


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--games-files", type=Path, nargs="+", default=[DEFAULT_GAMES, DPXQ_GAMES],
                   help="master-game JSONL files whose training games are labelled")
    p.add_argument("--out", type=Path, default=DEFAULT_WORK_DIR / "engine-labels-d3.json", help="labels file (resumed if it exists)")
    p.add_argument("--depth", type=int, default=3, help="fairy-stockfish search depth")
    p.add_argument("--max-plies", type=int, default=160, help="label only the first plies of a game (the model's context)")
    p.add_argument("--games", type=int, default=2000, help="stop when the file holds this many games")
    p.add_argument("--minutes", type=float, default=0, help="also stop after this many wall-clock minutes (0: no limit)")
    return p.parse_args(argv)


def main(argv=None) -> None:
    args = parse_args(argv)
    labelled = json.loads(args.out.read_text(encoding="utf-8")) if args.out.is_file() else {"depth": args.depth, "games": {}}
    if labelled["depth"] != args.depth:
        raise ValueError(f"{args.out} holds depth-{labelled['depth']} labels; pass --depth {labelled['depth']} or another --out")
    games = labelled["games"]
    todo = [moves for moves in training_games(args.games_files) if game_key(moves) not in games][: max(0, args.games - len(games))]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    with FairyStockfish(args.depth) as engine:
        for done, moves in enumerate(tqdm(todo, desc="labelling games", unit=" games", mininterval=10), start=1):
            games[game_key(moves)] = " ".join(label_game(engine, moves.split()[: args.max_plies]))
            out_of_time = bool(args.minutes) and time.monotonic() - started >= 60 * args.minutes
            if done % SAVE_EVERY_GAMES == 0 or done == len(todo) or out_of_time:
                save(args.out, args.depth, games)
            if out_of_time:
                break
    print(json.dumps({"games": len(games), "positions": sum(len(m.split()) for m in games.values()), "depth": args.depth,
                      "out": str(args.out), "minutes": round((time.monotonic() - started) / 60, 1)}))


if __name__ == "__main__":
    main()
