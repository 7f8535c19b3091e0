"""Time of a strong-mode move, and why the search generates its own moves.

The strong mode (``core.xiangqi.search``) reads 40,000 positions a move. This prints, over positions
of held-out master games, the wall time of a whole search-mode move (the GPT's forward, the search,
the repetition and perpetual-check tests) as median / 95th percentile / max, against the target of
1 s on this CPU, and the depth reached. Side by side in the same run: listing the moves of a position
with the search's pure-Python generator vs one pyffish call (what :class:`Board` uses), and the ratio.

    python benchmarks/xiangqi_search.py [--games 4] [--every 10] [--threads 1]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import pyffish
import torch

from core import checkpoints
from core.xiangqi.board import RED, VARIANT, Board, placement_fen
from core.xiangqi.data import DEFAULT_GAMES, DEFAULT_WORK_DIR, cached_games
from core.xiangqi.model import load
from core.xiangqi.player import Decoder, Player
from core.xiangqi.search import Search, pseudo_legal_moves


def generation_us(board: Board, repeats: int = 200) -> tuple[float, float]:
    """Microseconds to list a position's moves: the search's generator, and pyffish from the placement FEN."""
    search = Search(board.pieces(), board.turn == RED)
    fen = placement_fen(board.pieces(), board.turn == RED)
    started = time.perf_counter()
    for _ in range(repeats):
        pseudo_legal_moves(search.board, search.red)
    ours = (time.perf_counter() - started) / repeats * 1e6
    started = time.perf_counter()
    for _ in range(repeats // 10):
        pyffish.legal_moves(VARIANT, fen, [])
    return ours, (time.perf_counter() - started) / (repeats // 10) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", default=None, help="checkpoint directory (default: bundled)")
    parser.add_argument("--games", type=int, default=4, help="first N validation games")
    parser.add_argument("--every", type=int, default=10, help="time a move at every N-th ply")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (the tab runs one per request)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    model, vocab = load(checkpoints.locate("xiangqi", args.checkpoint), "cpu")
    player = Player(model, vocab, mode="search")
    games = cached_games(DEFAULT_GAMES, vocab, DEFAULT_WORK_DIR).validation[: args.games]
    move_ms, depths, ours_us, pyffish_us = [], [], [], []
    for game in games:
        moves = [vocab.tokens[t] for t in game[1:]]
        for ply in range(args.every, len(moves), args.every):
            board = Board.from_moves(moves[:ply])
            if board.outcome() is not None:
                continue
            started = time.perf_counter()
            depths.append(player.choose(board, Decoder()).depth)
            move_ms.append((time.perf_counter() - started) * 1000)
            ours, theirs = generation_us(board)
            ours_us.append(ours)
            pyffish_us.append(theirs)
    ordered = sorted(move_ms)
    result = {
        "positions": len(move_ms), "nodes": player.nodes, "threads": args.threads,
        "move_ms": {"median": round(statistics.median(ordered), 1), "p95": round(ordered[int(0.95 * (len(ordered) - 1))], 1),
                    "max": round(ordered[-1], 1)},
        "depth": {"min": min(depths), "median": statistics.median(depths), "max": max(depths)},
        "move_generation_us": {"search": round(statistics.median(ours_us), 1), "pyffish": round(statistics.median(pyffish_us), 1),
                               "ratio": round(statistics.median(pyffish_us) / statistics.median(ours_us), 1)},
    }
    print(f"search-mode move over {len(move_ms)} positions: median {result['move_ms']['median']} ms, "
          f"p95 {result['move_ms']['p95']} ms, max {result['move_ms']['max']} ms (target 1,000 ms); depth {result['depth']}")
    print(f"listing a position's moves: search generator {result['move_generation_us']['search']} µs, pyffish "
          f"{result['move_generation_us']['pyffish']} µs (x{result['move_generation_us']['ratio']})")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
