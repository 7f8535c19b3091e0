"""Tactical lessons for the policy: ``python -m core.xiangqi.lessons --help``.

The policy imitates masters, whose opponents seldom leave a piece hanging and never let one of
theirs be taken for free, so it never learned to punish or to avoid such blunders: against a
one-ply material grabber it loses pieces. Here the model plays games against blundering
opponents (a random mover, or its own policy sampled at temperature 1); at each of its turns a
teacher names the move to learn: the search mode (the alpha-beta search of :class:`Player`
``mode="search"``, about 0.5 s a move), or fairy-stockfish at a fixed depth (``--teacher engine``), faster.
The bundle's lessons were named by the search mode of commit 43870c6, a policy plus a capture search.
Half the time the game then goes on with the policy's own choice instead of that move, so the
lessons also cover the positions its own mistakes lead to (DAgger, Ross et al. 2011).
``train --lessons`` mixes these labelled positions into the master games.

The greedy bot of ``evaluate match`` is never used here, so a match against it stays a test of
what the policy learned, not of what it was shown.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import time
from collections.abc import Callable
from pathlib import Path

import torch

from core import checkpoints
from core.xiangqi.board import BLACK, RED, Board
from core.xiangqi.data import game_boards
from core.xiangqi.model import load
from core.xiangqi.opponents import FairyStockfish, random_move
from core.xiangqi.player import SEARCH_NODES, Decoder, Player
from core.xiangqi.vocab import NO_TARGET, MoveVocab


Teacher = Callable[[Board, Decoder], str]  # the move to learn in a position (the decoder is the student's cache)


def play_lesson_game(teacher: Teacher, student: Player, opponent, student_colour: str, rng: random.Random,
                     max_plies: int = 200, follow_teacher: float = 0.5) -> tuple[Board, list[str | None]]:
    """One game from the start; returns its board and, per move, the teacher's move where the student was to move."""
    board, decoder = Board(max_plies=max_plies), Decoder()
    moves_to_learn: list[str | None] = []
    while board.outcome() is None:
        if board.turn == student_colour:
            lesson = teacher(board, decoder)
            move = lesson if rng.random() < follow_teacher else student.choose(board, decoder).move
        else:
            lesson, move = None, opponent(board)
        moves_to_learn.append(lesson)
        board.push(move)
    return board, moves_to_learn


def encode_lesson(vocab: MoveVocab, moves: list[str], lessons: list[str | None], student_colour: str) -> tuple[list[int], list[int]]:
    """Tokens (the student's winning result token first, as the player is prompted) and targets aligned with tokens[1:]."""
    tokens = vocab.encode_game(moves, "1-0" if student_colour == RED else "0-1")
    return tokens, [vocab.encode_move(m) if m else NO_TARGET for m in lessons]


def load_lessons(paths: list[Path]) -> tuple[list[list[int]], list[torch.Tensor], list[list[int]]]:
    """Tokens, board tokens and targets of every lesson game in the given files."""
    games, boards, targets = [], [], []
    for path in paths:
        saved = torch.load(path)
        games += saved["games"]
        boards += saved["boards"]
        targets += saved["targets"]
    return games, boards, targets


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", default=None, help="the model that plays and teaches (default: bundled assets/xiangqi)")
    p.add_argument("--out", type=Path, required=True, help="lesson file to write (resumed if it exists)")
    p.add_argument("--games", type=int, default=100, help="stop after this many games in the file")
    p.add_argument("--minutes", type=float, default=0, help="also stop after this many wall-clock minutes (0: no limit)")
    p.add_argument("--teacher", choices=["search", "engine"], default="search",
                   help="who names the move to learn: the search mode, or fairy-stockfish at --engine-depth")
    p.add_argument("--search-nodes", type=int, default=SEARCH_NODES, help="positions the search mode reads per move")
    p.add_argument("--engine-depth", type=int, default=4)
    p.add_argument("--max-plies", type=int, default=200)
    p.add_argument("--seed", type=int, default=0, help="game i is played with seed (seed, i): files with other seeds hold other games")
    p.add_argument("--threads", type=int, default=1)
    return p.parse_args(argv)


def main(argv=None) -> None:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    model, vocab = load(checkpoints.locate("xiangqi", args.checkpoint), checkpoints.device())
    student = Player(model, vocab, "greedy")
    if args.teacher == "engine":
        with FairyStockfish(args.engine_depth) as engine:
            play_lessons(args, model, vocab, lambda board, decoder: engine.move(board), student)
    else:
        search = Player(model, vocab, "search", nodes=args.search_nodes)
        play_lessons(args, model, vocab, lambda board, decoder: search.choose(board, decoder).move, student)


def play_lessons(args, model, vocab: MoveVocab, teacher: Teacher, student: Player) -> None:
    """Plays lesson games into ``args.out`` (resumed) until ``args.games`` or ``args.minutes``."""
    saved = torch.load(args.out) if args.out.is_file() else {"games": [], "boards": [], "targets": []}
    started = time.monotonic()
    while len(saved["games"]) < args.games and (not args.minutes or time.monotonic() - started < 60 * args.minutes):
        index = len(saved["games"])
        rng = random.Random(f"{args.seed}-{index}")
        student_colour = RED if index % 2 == 0 else BLACK
        if rng.random() < 1 / 3:
            opponent = lambda board: random_move(board, rng)  # noqa: E731
        else:
            sampler, sampler_decoder = Player(model, vocab, "sample", seed=rng.random()), Decoder()
            opponent = lambda board: sampler.choose(board, sampler_decoder).move  # noqa: E731
        board, lessons = play_lesson_game(teacher, student, opponent, student_colour, rng, args.max_plies)
        tokens, targets = encode_lesson(vocab, board.move_stack, lessons, student_colour)
        saved["games"].append(tokens)
        saved["boards"].append(game_boards(board))
        saved["targets"].append(targets)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        partial = args.out.with_name(args.out.name + ".tmp")
        torch.save(saved, partial)
        os.replace(partial, args.out)  # a run stopped mid-save keeps the last whole file
        print(json.dumps({"game": index, "plies": board.ply, "end": board.outcome().reason, "lessons": sum(t != NO_TARGET for t in targets),
                          "minutes": round((time.monotonic() - started) / 60, 1)}), flush=True)
    print(json.dumps({"games": len(saved["games"]), "lessons": sum(t != NO_TARGET for g in saved["targets"] for t in g),
                      "out": str(args.out)}))


if __name__ == "__main__":
    main()
