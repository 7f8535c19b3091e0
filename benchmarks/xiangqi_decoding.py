"""Incremental decoding (KV cache, one forward per ply) vs the original re-scoring scheme.

Su's player scores every legal candidate by a forward pass over history + candidate and picks
the best total log-probability. Our player keeps the game's KV cache, feeds the new plies only
and reads one softmax over the legal moves. Both rank the same moves with the same model; this
prints their median time to choose a move at given plies, and the speed-up.

    python benchmarks/xiangqi_decoding.py [--checkpoint DIR] [--plies 20 80] [--repeats 15]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch

from core import checkpoints
from core.xiangqi.board import RED, Board, apply_move
from core.xiangqi.data import DEFAULT_GAMES, DEFAULT_WORK_DIR, cached_games, game_boards
from core.xiangqi.model import MoveGPT, load
from core.xiangqi.player import Decoder, Player, policy_bias
from core.xiangqi.vocab import MoveVocab, board_tokens


@torch.no_grad()
def rescore_every_candidate(model: MoveGPT, vocab: MoveVocab, prefix: int, board: Board) -> str:
    """The original scheme: one batch row per legal move, each a full forward over history + move."""
    red = board.turn == RED
    history = [prefix] + [vocab.encode_move(m) for m in board.move_stack]
    history_boards = game_boards(board).long()
    moves = board.legal_moves
    batch = torch.tensor([history + [vocab.encode_move(m)] for m in moves])
    boards = torch.stack([torch.cat([history_boards, torch.tensor([board_tokens(apply_move(board.pieces(), m), not red)])])
                          for m in moves])
    log_probs = torch.log_softmax(model(batch, boards)[:, -2], dim=-1)  # logits before the candidate token
    scores = log_probs[torch.arange(len(moves)), batch[:, -1]]
    bias = policy_bias(model, board, moves)  # the checkpoint's material features, as the player adds them
    return moves[int((scores if bias is None else scores + bias).argmax())]


def timed_choice(choose, moves: list[str]) -> tuple[float, float, str]:
    """Wall and CPU milliseconds of ``choose(board)`` on a fresh board (legal moves not yet generated).

    On a machine shared with other jobs the wall time mostly measures waiting; the CPU time of
    this process is what the choice costs (with several threads it sums them).
    """
    board = Board.from_moves(moves)
    wall, cpu = time.perf_counter(), time.process_time()
    move = choose(board)
    return (time.perf_counter() - wall) * 1000, (time.process_time() - cpu) * 1000, move


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", default=None, help="checkpoint directory (default: bundled)")
    parser.add_argument("--plies", type=int, nargs="+", default=[20, 80])
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--threads", type=int, default=2, help="torch threads (the target is stated for 2 cores)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    model, vocab = load(checkpoints.locate("xiangqi", args.checkpoint), "cpu")
    player = Player(model, vocab, mode="greedy")
    validation = cached_games(DEFAULT_GAMES, vocab, DEFAULT_WORK_DIR).validation
    game = next(g for g in validation if len(g) > max(args.plies) + 1)
    results = []
    for ply in args.plies:
        moves = [vocab.tokens[t] for t in game[1 : ply + 1]]
        board = Board.from_moves(moves)
        prefix = player.prefix_token(board)

        def incremental_run() -> tuple[float, float, str]:
            # As in a game, the cache already holds the game up to the model's previous move
            # (untimed); the timed choice feeds the two new plies and ranks the legal moves.
            decoder = Decoder()
            decoder.next_logits(model, vocab, prefix, Board.from_moves(moves[:-2]))
            return timed_choice(lambda fresh: player.choose(fresh, decoder).move, moves)

        def rescoring(fresh: Board) -> str:
            return rescore_every_candidate(model, vocab, prefix, fresh)

        incremental_runs = [incremental_run() for _ in range(args.repeats)]
        rescoring_runs = [timed_choice(rescoring, moves) for _ in range(args.repeats)]
        row = {"ply": ply, "legal_moves": len(board.legal_moves),
               "same_move": incremental_runs[0][2] == rescoring_runs[0][2]}
        for clock, column in (("wall", 0), ("cpu", 1)):
            incremental_ms = statistics.median(run[column] for run in incremental_runs)
            rescoring_ms = statistics.median(run[column] for run in rescoring_runs)
            row.update({f"incremental_{clock}_ms": round(incremental_ms, 2), f"rescoring_{clock}_ms": round(rescoring_ms, 2),
                        f"speedup_{clock}": round(rescoring_ms / incremental_ms, 1)})
            print(f"ply {ply} ({clock} time): {len(board.legal_moves)} legal moves | incremental {incremental_ms:.1f} ms | "
                  f"re-scoring {rescoring_ms:.1f} ms | speed-up x{rescoring_ms / incremental_ms:.1f}")
        results.append(row)
    print(json.dumps({"threads": args.threads, "results": results}))


if __name__ == "__main__":
    main()
