"""What each legal move does to material at once, added to the GPT's logits: ``python -m core.xiangqi.tactics --help``.

A policy that imitates masters leaves pieces to a one-ply material grabber: it sees the board, but
must work out from a sum of piece embeddings which pieces attack which. AlphaGo's policy network
(Silver et al. 2016) was told, for every candidate move, how many stones it captures and how many of
its own it leaves in atari ("capture size", "self-atari size"): the static consequences of the move,
one ply deep, no search. The same here, in pawns of material, for each legal move:

- ``captures``: the piece it takes;
- ``leaves_en_prise``: the most the opponent can then win by one capture, by a static exchange
  estimate (an undefended piece is lost; a defended one loses what it is worth above its cheapest attacker);
- ``threatens``: the same for the opponent's pieces, which the mover then attacks;
- ``gives_check``: 1 for a check.

The policy's logit of a legal move becomes the GPT's logit + weights · features. The four weights
are fitted here by maximum likelihood of the masters' moves in training games (the GPT fixed), so they
say what masters do with material; they are stored in the checkpoint's ``config.json`` (``tactics``),
which :class:`core.xiangqi.player.Player` reads.
"""

from __future__ import annotations

import argparse
import json
import math
import random
from pathlib import Path

import torch
from tqdm import tqdm

from core import checkpoints
from core.xiangqi.board import RED, Board
from core.xiangqi.data import DEFAULT_GAMES, DEFAULT_WORK_DIR, cached_games
from core.xiangqi.model import CONFIG_FILE, load
from core.xiangqi.search import (NO_PIECE, RED_PIECES, capture_gain, piece_value, pseudo_legal_moves, square_index,
                                 square_name)
from core.xiangqi.vocab import MoveVocab

FEATURES = ("captures", "leaves_en_prise", "threatens", "gives_check")
KING_AS_ATTACKER = 100.0  # pawns: a king can take only an undefended piece, so as an attacker it outweighs any piece


# --- features ----------------------------------------------------------------------------------


def cheapest_attackers(board: list[str], red: bool) -> dict[int, float]:
    """For each occupied square that ``red``'s pieces attack (or, for its own pieces, defend): its cheapest piece doing so."""
    cheapest: dict[int, float] = {}
    for frm, to in pseudo_legal_moves(board, red, captures_only=True, include_defended=True):
        piece = board[frm]
        value = KING_AS_ATTACKER if piece in ("K", "k") else piece_value(piece, square_name(frm))
        if value < cheapest.get(to, math.inf):
            cheapest[to] = value
    return cheapest


def most_en_prise(board: list[str], red: bool, defenders: dict[int, float], attackers: dict[int, float]) -> float:
    """The most material one capture of the opponent can win from ``red``'s pieces (kings aside): static, no recapture chain."""
    worst = 0.0
    for sq, piece in enumerate(board):
        if not piece or piece in ("K", "k") or (piece in RED_PIECES) != red or sq not in attackers:
            continue
        value = piece_value(piece, square_name(sq))
        worst = max(worst, value if sq not in defenders else value - attackers[sq])
    return worst


def move_features(pieces: dict[str, str], red: bool, moves: list[str]) -> torch.Tensor:
    """(len(moves), len(FEATURES)) float tensor: the features above for each ICCS move of the side to move."""
    board = [NO_PIECE] * 90
    for name, piece in pieces.items():
        board[square_index(name)] = piece
    enemy_king = "k" if red else "K"
    rows = []
    for move in moves:
        frm, to = square_index(move[:2]), square_index(move[2:])
        captured = board[to]
        board[to], board[frm] = board[frm], NO_PIECE
        ours, theirs = cheapest_attackers(board, red), cheapest_attackers(board, not red)
        rows.append([capture_gain(pieces, move),
                     most_en_prise(board, red, ours, theirs),
                     most_en_prise(board, not red, theirs, ours),
                     float(board.index(enemy_king) in ours) if enemy_king in board else 0.0])
        board[frm], board[to] = board[to], captured
    return torch.tensor(rows, dtype=torch.float32).reshape(len(moves), len(FEATURES))


def tactical_bias(weights: dict[str, float], board: Board, moves: list[str]) -> torch.Tensor:
    """What the fitted ``weights`` (a checkpoint's ``config.tactics``) add to each move's logit in ``board``."""
    features = move_features(board.pieces(), board.turn == RED, moves)
    return features @ torch.tensor([weights[name] for name in FEATURES])


# --- fitting ----------------------------------------------------------------------------------


def fit_weights(logits: torch.Tensor, features: torch.Tensor, mask: torch.Tensor, targets: torch.Tensor,
                steps: int = 200) -> torch.Tensor:
    """Weights maximising the likelihood of ``targets`` under softmax(logits + features @ w) over the masked moves.

    ``logits`` (N, M) and ``mask`` (N, M) pad each position's legal moves to M; ``features`` (N, M, F).
    The problem is convex in w, so L-BFGS from zero finds its optimum.
    """
    weights = torch.zeros(features.shape[-1], requires_grad=True)
    optimizer = torch.optim.LBFGS([weights], max_iter=steps, line_search_fn="strong_wolfe")

    def closure():
        optimizer.zero_grad()
        loss = choice_loss(logits, features, mask, targets, weights)
        loss.backward()
        return loss

    optimizer.step(closure)
    return weights.detach()


def choice_loss(logits: torch.Tensor, features: torch.Tensor, mask: torch.Tensor, targets: torch.Tensor,
                weights: torch.Tensor) -> torch.Tensor:
    """Mean negative log-likelihood of the target moves (see :func:`fit_weights`)."""
    scores = (logits + features @ weights).masked_fill(~mask, -math.inf)
    return -torch.log_softmax(scores, dim=-1).gather(1, targets[:, None]).mean()


def top1(logits: torch.Tensor, features: torch.Tensor, mask: torch.Tensor, targets: torch.Tensor,
         weights: torch.Tensor) -> float:
    scores = (logits + features @ weights).masked_fill(~mask, -math.inf)
    return (scores.argmax(-1) == targets).float().mean().item()


@torch.no_grad()
def master_choices(model, vocab: MoveVocab, games: list[list[int]], boards: list[torch.Tensor]) -> tuple[torch.Tensor, ...]:
    """(logits, features, mask, targets) of every position of ``games`` within the model's context, padded per position."""
    rows = []
    for tokens, game_boards in tqdm(list(zip(games, boards)), desc="labelling positions", unit=" games", mininterval=10):
        tokens = tokens[: model.config.block_size + 1]
        logits = model(torch.tensor([tokens[:-1]]), game_boards[None, : len(tokens) - 1].long())[0]
        board = Board()
        for position, target in enumerate(tokens[1:]):
            moves = board.legal_moves
            ids = [vocab.encode_move(m) for m in moves]
            rows.append((logits[position, ids], move_features(board.pieces(), board.turn == RED, moves), ids.index(target)))
            board.push(vocab.tokens[target])
    width = max(len(r[0]) for r in rows)
    logits = torch.zeros(len(rows), width)
    features = torch.zeros(len(rows), width, len(FEATURES))
    mask = torch.zeros(len(rows), width, dtype=torch.bool)
    for i, (row_logits, row_features, _) in enumerate(rows):
        n = len(row_logits)
        logits[i, :n], features[i, :n], mask[i, :n] = row_logits, row_features, True
    return logits, features, mask, torch.tensor([r[2] for r in rows])


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", default=None, help="checkpoint directory whose config.json gets the weights (default: assets/xiangqi)")
    p.add_argument("--games", type=Path, default=DEFAULT_GAMES, help="master games; their training split is used")
    p.add_argument("--work-dir", type=Path, default=DEFAULT_WORK_DIR, help="where the replayed games are cached")
    p.add_argument("--n-games", type=int, default=1000, help="training games to fit on (a fixed random sample)")
    p.add_argument("--held-out", type=float, default=0.1, help="share of those games held out to check the fit")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--dry-run", action="store_true", help="print the fit, do not write config.json")
    args = p.parse_args(argv)
    if args.n_games < 2 or not 0 < args.held_out < 1:
        p.error("--n-games must be at least 2 (some to fit, some held out) and --held-out between 0 and 1")
    return args


def main(argv=None) -> None:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    directory = Path(checkpoints.locate("xiangqi", args.checkpoint))
    model, vocab = load(directory)
    games = cached_games(args.games, vocab, args.work_dir)
    sample = random.Random(args.seed).sample(range(len(games.train)), min(args.n_games, len(games.train)))
    n_held_out = max(1, round(len(sample) * args.held_out))
    held_out, fitted = (master_choices(model, vocab, [games.train[i] for i in part], [games.train_boards[i] for i in part])
                        for part in (sample[:n_held_out], sample[n_held_out:]))
    weights = fit_weights(*fitted)
    zero = torch.zeros(len(FEATURES))
    report = {
        "weights": {name: round(w, 4) for name, w in zip(FEATURES, weights.tolist())},
        "fit_positions": len(fitted[3]), "held_out_positions": len(held_out[3]),
        "held_out_loss_before": round(choice_loss(*held_out, zero).item(), 4),
        "held_out_loss_after": round(choice_loss(*held_out, weights).item(), 4),
        "held_out_top1_before": round(top1(*held_out, zero), 4),
        "held_out_top1_after": round(top1(*held_out, weights), 4),
    }
    if not args.dry_run:
        config = json.loads((directory / CONFIG_FILE).read_text(encoding="utf-8"))
        config["tactics"] = report["weights"]
        (directory / CONFIG_FILE).write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(report))


if __name__ == "__main__":
    main()
