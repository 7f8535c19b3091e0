"""Measure the move GPT: ``python -m core.xiangqi.evaluate {predict,match} --help``.

* ``predict``: how often the model's first choice (and its top 5) among the legal moves is the
  move played in held-out master games (the fixed 5% validation split of ``data.py``).
* ``match``: games against ``random``, ``greedy`` (one-ply material grabber) or
  ``fairy-stockfish`` at a fixed depth; colours alternate, :class:`Board` adjudicates, the ply
  limit counts as a draw. Score = (wins + draws / 2) / games.
* ``ladder``: a match of each mode against fairy-stockfish at each of a range of depths, from
  the openings of validation games (both players are deterministic, so the openings make the
  games differ); ``--record`` stores each row in ``assets/xiangqi/metrics.json`` for the tab.

``predict --record`` and ``match --record`` store their result there too (the bundled model on the
validation games, at the tab's settings). The last line of stdout is one JSON object with the metrics.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import time
from collections import Counter
from pathlib import Path

import torch
from tqdm import tqdm

from core import checkpoints, metrics
from core.xiangqi.board import BLACK, RED, Board
from core.xiangqi.data import DEFAULT_GAMES, DEFAULT_WORK_DIR, cached_games, is_validation, usable_records
from core.xiangqi.model import MoveGPT, load
from core.xiangqi.opponents import FairyStockfish, greedy_move, random_move
from core.xiangqi.player import (MODES, POLICY_WEIGHT, SEARCH_NODES, Decoder, Player, legal_move_probabilities,
                                 policy_bias)
from core.xiangqi.search import MATERIAL
from core.xiangqi.tactics import FEATURES
from core.xiangqi.vocab import UNKNOWN, MoveVocab


@torch.no_grad()
def predict(model: MoveGPT, vocab: MoveVocab, games: list[list[int]], boards: list[torch.Tensor]) -> dict:
    """Top-1 / top-5 agreement with the played moves, ranking legal moves only (as the player does).

    Each game is scored twice: with its real result token first, and with ``[UNKNOWN]`` (the
    ``*_result_hidden`` numbers), which shows what knowing the result is worth.
    """
    if not games:
        raise ValueError("no games to predict")
    hits = {"top1": 0, "top5": 0, "top1_result_hidden": 0, "top5_result_hidden": 0}
    positions = 0
    device = next(model.parameters()).device
    for tokens, game_boards in tqdm(list(zip(games, boards)), desc="predicting", unit=" games", mininterval=5):
        tokens = tokens[: model.config.block_size + 1]
        inputs = torch.tensor([tokens[:-1], [vocab.index[UNKNOWN]] + tokens[1:-1]], device=device)
        logits = model(inputs, game_boards[: len(tokens) - 1].long().to(device).expand(2, -1, -1))
        board = Board()
        for position, target in enumerate(tokens[1:]):
            moves = board.legal_moves
            legal_ids, bias = [vocab.encode_move(m) for m in moves], policy_bias(model, board, moves)
            for row, suffix in ((0, ""), (1, "_result_hidden")):
                probs = legal_move_probabilities(logits[row, position], legal_ids, bias=bias)
                ranked = [legal_ids[i] for i in probs.argsort(descending=True)[:5].tolist()]
                hits["top1" + suffix] += ranked[0] == target
                hits["top5" + suffix] += target in ranked
            positions += 1
            board.push(vocab.tokens[target])
    return {**{k: v / positions for k, v in hits.items()}, "positions": positions, "games": len(games)}


def play_game(model_player: Player, opponent, model_colour: str, max_plies: int, opening: list[str]) -> tuple[str | None, str, int, list[float]]:
    """One game; returns (winner, reason, plies, model move times in ms)."""
    board, decoder, times = Board(max_plies=max_plies), Decoder(), []
    for move in opening:
        board.push(move)
    while (outcome := board.outcome()) is None:
        if board.turn == model_colour:
            started = time.perf_counter()
            move = model_player.choose(board, decoder).move
            times.append((time.perf_counter() - started) * 1000)
        else:
            move = opponent(board)
        board.push(move)
    return outcome.winner, outcome.reason, board.ply, times


def match(model_player: Player, opponent, n_games: int, max_plies: int, openings: list[list[str]],
          desc: str = "match") -> dict:
    wins = draws = losses = 0
    reasons: dict[str, int] = {}
    times: list[float] = []
    plies: list[int] = []
    for game in tqdm(range(n_games), desc=desc, unit=" games"):
        colour = RED if game % 2 == 0 else BLACK
        opening = openings[game % len(openings)] if openings else []
        winner, reason, n_plies, move_times = play_game(model_player, opponent, colour, max_plies, opening)
        wins += winner == colour
        draws += winner is None
        losses += winner not in (colour, None)
        reasons[reason] = reasons.get(reason, 0) + 1
        times += move_times
        plies.append(n_plies)
    return {"score": (wins + draws / 2) / n_games, "wins": wins, "draws": draws, "losses": losses,
            "games": n_games, "end_reasons": reasons, "mean_plies": statistics.mean(plies),
            "median_move_ms": statistics.median(times) if times else None, "max_move_ms": max(times) if times else None}


def book_openings(n_games: int, plies: int, skip: int = 0) -> list[list[str]]:
    """``n_games`` different openings: the first ``plies`` moves of validation master games, in file order.

    Repeated openings are skipped: against a deterministic engine, they would replay the same game.
    ``skip`` passes over the first different openings (settings are tuned on openings the reported
    matches do not use). None when ``plies`` is 0.
    """
    if not plies:
        return []
    # Reading the records, not replaying every game into the cache, which takes minutes the first time.
    validation = (moves for moves, _ in usable_records(DEFAULT_GAMES, Counter()) if is_validation(moves))
    openings: dict[tuple[str, ...], None] = {}
    for moves in validation:
        if len(openings) == skip + n_games:
            break
        openings.setdefault(tuple(moves.split()[:plies]))
    return [list(opening) for opening in openings][skip:]


def ladder(model: MoveGPT, vocab: MoveVocab, modes: list[str], depths: list[int], n_games: int, max_plies: int,
           openings: list[list[str]], search_nodes: int = SEARCH_NODES) -> list[dict]:
    """One :func:`match` row per (engine depth, mode): the score table of the modes against fairy-stockfish."""
    rows = []
    for depth in depths:
        with FairyStockfish(depth) as engine:
            for mode in modes:
                player = Player(model, vocab, mode, nodes=search_nodes)
                result = match(player, engine.move, n_games, max_plies, openings, desc=f"{mode} vs depth {depth}")
                rows.append({"mode": mode, "depth": depth, **result})
    return rows


def record_ladder(rows: list[dict], book_plies: int, command: str) -> None:
    """One metrics entry per row, keyed ``ladder_<mode>_depth<d>``, which the tab shows beside each strength."""
    for row in rows:
        metrics.record(
            "xiangqi", f"ladder_{row['mode']}_depth{row['depth']}",
            label=f"{row['mode']} mode vs fairy-stockfish depth {row['depth']}, {row['games']} games "
                  f"from validation openings ({book_plies} plies)",
            value=f"{row['score']:.1%} ({row['wins']} W {row['draws']} D {row['losses']} L)",
            raw=row, command=command)


OPPONENT_NAMES = {"random": "a random mover", "greedy": "a one-ply material grabber (greedy bot)"}


def record_predict(result: dict, limit: int, command: str) -> None:
    metrics.record(
        "xiangqi", f"predict_validation_games{result['games']}",
        label=f"validation move prediction top-1 / top-5 among legal moves, "
              f"{metrics.counted(result['games'], limit, 'games')} ({result['positions']:,} positions)",
        value=f"{result['top1']:.1%} / {result['top5']:.1%}", raw=result, command=command,
        anchor="none published (chess human-move matching ≈ 50%)")


def record_match(result: dict, command: str) -> None:
    engine = "depth" in result
    opponent = f"fairy-stockfish depth {result['depth']}" if engine else OPPONENT_NAMES[result["opponent"]]
    openings = f" from validation openings ({result['book_plies']} plies)" if result["book_plies"] else ""
    seed = f"_seed{result['seed']}" if result["seed"] else ""  # other games of the same match
    metrics.record(
        "xiangqi", f"match_{result['mode']}_vs_{result['opponent']}" + (f"_depth{result['depth']}" if engine else "") + seed,
        label=f"{result['mode']} mode vs {opponent}, {result['games']} games{openings}"
              + (f" (seed {result['seed']})" if seed else ""),
        value=f"{result['score']:.1%} ({result['wins']} W {result['draws']} D {result['losses']} L)",
        raw=result, command=command)


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", default=None, help="checkpoint directory (default: bundled assets/xiangqi)")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    p.add_argument("--drop-feature", choices=FEATURES, action="append", default=[],
                   help="play and predict with this material feature's weight set to 0, an ablation of core.xiangqi.tactics (repeatable)")
    sub = p.add_subparsers(dest="command", required=True)
    pr = sub.add_parser("predict", help="move-prediction accuracy on held-out master games")
    pr.add_argument("--games", type=Path, default=DEFAULT_GAMES)
    pr.add_argument("--work-dir", type=Path, default=DEFAULT_WORK_DIR, help="where the replayed games are cached")
    pr.add_argument("--split", choices=["validation", "train"], default="validation")
    pr.add_argument("--limit", type=int, default=0, help="first N games of the split (0 = all)")
    ma = sub.add_parser("match", help="play games against an opponent")
    ma.add_argument("--opponent", choices=["random", "greedy", "fairy-stockfish"], required=True)
    ma.add_argument("--n-games", type=int, default=20)
    ma.add_argument("--mode", choices=MODES, default="greedy")
    ma.add_argument("--temperature", type=float, default=1.0, help="for --mode sample")
    ma.add_argument("--search-nodes", type=int, default=SEARCH_NODES, help="positions searched per move, for --mode search")
    ma.add_argument("--depth", type=int, default=1, help="fairy-stockfish search depth")
    ma.add_argument("--prefix", choices=["win", "unknown"], default="win", help="result token given to the model")
    ma.add_argument("--guidance", type=float, default=0.0,
                    help="classifier-free guidance towards the winner's moves (0 = the plain policy; see Player)")
    ma.add_argument("--book-plies", type=int, default=0,
                    help="start game i from the i-th different opening of N plies among the validation games (variety vs deterministic engines)")
    ma.add_argument("--policy-weight", type=float, default=POLICY_WEIGHT,
                    help="for --mode search: pawns of material per nat of the policy's log-probability at the root")
    ma.add_argument("--evaluation", choices=["fitted", "material"], default="fitted",
                    help="for --mode search: the fitted piece-square table, or material alone")
    ma.add_argument("--skip-openings", type=int, default=0,
                    help="pass over the first N different openings (tune on openings the reported matches do not use)")
    ma.add_argument("--max-plies", type=int, default=300, help="longer games are draws")
    ma.add_argument("--seed", type=int, default=0)
    la = sub.add_parser("ladder", help="each mode against fairy-stockfish at a range of depths (a score table)")
    la.add_argument("--modes", nargs="+", choices=MODES, default=["greedy", "search"])
    la.add_argument("--depths", nargs="+", type=int, default=[1, 2, 3], help="fairy-stockfish search depths")
    la.add_argument("--n-games", type=int, default=8,
                    help="games per mode and depth, colours alternating (2 per mode at depths 1 and 2 took 54 CPU-seconds)")
    la.add_argument("--search-nodes", type=int, default=SEARCH_NODES, help="positions searched per move, for the search mode")
    la.add_argument("--book-plies", type=int, default=4,
                    help="game i starts from the i-th different opening of N plies among the validation games")
    la.add_argument("--max-plies", type=int, default=300, help="longer games are draws")
    for command in (pr, ma, la):
        metrics.add_record_option(command)
    args = p.parse_args(argv)
    metrics.check_recordable(args, "xiangqi")
    if args.record and args.drop_feature:
        raise SystemExit("--record measures the bundle as it plays: drop --drop-feature")
    if args.command == "predict" and args.record and (args.split != "validation" or args.games.resolve() != DEFAULT_GAMES.resolve()):
        raise SystemExit(f"--record predict takes the validation games of {DEFAULT_GAMES} (drop --split and --games)")
    if args.command == "match" and args.record:
        tuning = ("temperature", "search_nodes", "prefix", "max_plies", "skip_openings", "policy_weight", "evaluation",
                  "guidance")
        changed = [f"--{name.replace('_', '-')}" for name in tuning if getattr(args, name) != ma.get_default(name)]
        if changed:
            raise SystemExit(f"--record match measures the tab's settings: drop {', '.join(changed)}")
    return args


def main(argv=None) -> None:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    source = args.checkpoint or None
    model, vocab = load(checkpoints.locate("xiangqi", source), checkpoints.device())
    if args.drop_feature:
        if not model.config.tactics:
            raise SystemExit("--drop-feature: this checkpoint has no fitted material features (python -m core.xiangqi.tactics)")
        model.config.tactics = {**model.config.tactics, **dict.fromkeys(args.drop_feature, 0.0)}
    if args.command == "predict":
        games = cached_games(args.games, vocab, args.work_dir)
        split, boards = ((games.validation, games.validation_boards) if args.split == "validation"
                         else (games.train, games.train_boards))
        result = predict(model, vocab, split[: args.limit or None], boards[: args.limit or None])
        result.update(split=args.split)
        if args.record:
            record_predict(result, args.limit, metrics.command_line("core.xiangqi.evaluate", argv))
    elif args.command == "ladder":
        rows = ladder(model, vocab, args.modes, args.depths, args.n_games, args.max_plies,
                      book_openings(args.n_games, args.book_plies), args.search_nodes)
        if args.record:
            record_ladder(rows, args.book_plies, metrics.command_line("core.xiangqi.evaluate", argv))
        result = {"opponent": "fairy-stockfish", "n_games": args.n_games, "book_plies": args.book_plies, "table": rows}
    else:
        rng = random.Random(args.seed)
        player = Player(model, vocab, args.mode, args.temperature, args.search_nodes, args.prefix,
                        args.policy_weight, seed=args.seed, values=MATERIAL if args.evaluation == "material" else None,
                        guidance=args.guidance)
        openings = book_openings(args.n_games, args.book_plies, args.skip_openings)
        engine = FairyStockfish(args.depth) if args.opponent == "fairy-stockfish" else None
        opponent = {"random": lambda b: random_move(b, rng), "greedy": lambda b: greedy_move(b, rng),
                    "fairy-stockfish": lambda b: engine.move(b)}[args.opponent]
        try:
            result = match(player, opponent, args.n_games, args.max_plies, openings)
        finally:
            if engine is not None:
                engine.close()
        result.update(opponent=args.opponent, mode=args.mode, prefix=args.prefix, guidance=args.guidance, book_plies=args.book_plies,
                      seed=args.seed, **({"depth": args.depth} if engine else {}))
        if args.record:
            record_match(result, metrics.command_line("core.xiangqi.evaluate", argv))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
