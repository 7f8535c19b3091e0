"""Fit the search's evaluation, a value for each piece on each square, to master games' results.

A material count does not see that a rook on the enemy's back rank or a knight beside the enemy palace is
dangerous, which is how fairy-stockfish mates a material-only search. The values are fitted to results
as in "Texel tuning": P(Red wins) = sigmoid(Σ Red's piece-square values − Σ Black's + a tempo term for the
side to move), a logistic regression on positions of the master training games (a draw counts 1/2;
games without a result are skipped). The table is left-right symmetric and Black's pieces read it from
Black's side of the board. The logit units are scaled to centipawns so that a rook averages 9 pawns,
the material scale of the root's policy bonus (``core.xiangqi.player``).

``python -m core.xiangqi.piece_square --out assets/xiangqi/piece_square.json``
"""

from __future__ import annotations

import argparse
import functools
import json
import sys
from pathlib import Path

import torch
import torch.nn.functional as F

from core.checkpoints import ASSETS_DIR
from core.xiangqi.data import DEFAULT_GAMES, DEFAULT_WORK_DIR, cached_games
from core.xiangqi.vocab import BLACK_TO_MOVE, NO_PIECE, PIECE_LETTERS, RED_TO_MOVE, RESULT_TOKENS, MoveVocab

TABLE_PATH = ASSETS_DIR / "xiangqi" / "piece_square.json"
KINDS = "RNBAKCP"
HALF_FILES = 5  # files a-e; f-i mirror d-a
N_FEATURES = len(KINDS) * 10 * HALF_FILES
TEMPO = N_FEATURES  # the side-to-move feature


def feature(piece: str, square: int) -> int:
    """Index of (kind, rank from its owner's side, file folded left-right) for a piece on a 0-89 square."""
    rank, file = divmod(square, 9)
    own_rank = rank if piece.isupper() else 9 - rank
    return (KINDS.index(piece.upper()) * 10 + own_rank) * HALF_FILES + min(file, 8 - file)


@functools.cache
def token_features() -> tuple[torch.Tensor, torch.Tensor]:
    """For every board token: its feature and its sign (+1 Red's piece or Red to move, -1 Black's, 0 padding)."""
    ids, signs = [], []
    for token in range(NO_PIECE + 1):
        if token < RED_TO_MOVE:
            square, piece = divmod(token, len(PIECE_LETTERS))
            piece = PIECE_LETTERS[piece]
            ids.append(feature(piece, square))
            signs.append(1.0 if piece.isupper() else -1.0)
        else:
            ids.append(TEMPO)
            signs.append({RED_TO_MOVE: 1.0, BLACK_TO_MOVE: -1.0, NO_PIECE: 0.0}[token])
    return torch.tensor(ids), torch.tensor(signs)


def position_logits(weights: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
    """The model's logit of Red winning for each row of board tokens."""
    ids, signs = token_features()
    return (weights[ids[positions]] * signs[positions]).sum(1)


def training_positions(games, boards, vocab: MoveVocab, skip_plies: int, every: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(board tokens, Red's score 1 / 0.5 / 0) of every ``every``-th position after the first ``skip_plies``."""
    score = {vocab.index[RESULT_TOKENS["1-0"]]: 1.0, vocab.index[RESULT_TOKENS["1/2-1/2"]]: 0.5,
             vocab.index[RESULT_TOKENS["0-1"]]: 0.0}
    positions, targets = [], []
    for tokens, game_boards in zip(games, boards):
        if tokens[0] not in score:
            continue
        chosen = game_boards[1 + skip_plies :: every]  # row 0 is the start position, before any move
        positions.append(chosen)
        targets.append(torch.full((len(chosen),), score[tokens[0]]))
    return torch.cat(positions).long(), torch.cat(targets)


def fit(positions: torch.Tensor, targets: torch.Tensor, epochs: int, batch: int = 65_536, l2: float = 1e-6,
        seed: int = 0) -> torch.Tensor:
    """Logistic-regression weights (logit units) of the features and the tempo, started from material."""
    from core.xiangqi.search import PIECE_VALUES  # here, not at the top: the search reads this module's table

    weights = torch.zeros(N_FEATURES + 1)
    for index, kind in enumerate(KINDS):
        weights[index * 10 * HALF_FILES : (index + 1) * 10 * HALF_FILES] = 0.3 * PIECE_VALUES[kind.lower()]
    weights.requires_grad_(True)
    optimizer = torch.optim.Adam([weights], lr=0.01)
    generator = torch.Generator().manual_seed(seed)
    for epoch in range(epochs):
        order = torch.randperm(len(positions), generator=generator)
        total = 0.0
        for start in range(0, len(order), batch):
            rows = order[start : start + batch]
            loss = F.binary_cross_entropy_with_logits(position_logits(weights, positions[rows]), targets[rows]) + l2 * weights.pow(2).sum()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += loss.item() * len(rows)
        print(f"epoch {epoch + 1}: loss {total / len(order):.4f}", flush=True)
    return weights.detach()


def centipawn_table(weights: torch.Tensor) -> dict:
    """Values in centipawns, a rook averaging 900 over the squares it can stand on."""
    per_kind = weights[:N_FEATURES].view(len(KINDS), 10, HALF_FILES)
    scale = 900 / per_kind[KINDS.index("R")].mean().item()
    return {"kinds": KINDS, "ranks_from_own_side": 10, "files_folded": HALF_FILES, "centipawns_per_logit": round(scale, 2),
            "tempo": round(weights[TEMPO].item() * scale),
            "values": {kind: [[round(v * scale) for v in row] for row in per_kind[i].tolist()] for i, kind in enumerate(KINDS)}}


def load_table(path: Path = TABLE_PATH) -> dict[str, list[int]]:
    """Signed centipawns of each piece letter on each 0-89 square (Red positive), read from the fitted table.

    The tempo term is left out: fitted on the master games, it came out at −3 centipawns.
    """
    table = json.loads(Path(path).read_text())
    values = {}
    for piece in "RNBAKCPrnbakcp":
        rows = table["values"][piece.upper()]
        sign = 1 if piece.isupper() else -1
        values[piece] = [sign * rows[(sq // 9) if piece.isupper() else 9 - sq // 9][min(sq % 9, 8 - sq % 9)]
                         for sq in range(90)]
    return values


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--games", type=Path, default=DEFAULT_GAMES, help="master games (their training split is used)")
    p.add_argument("--work-dir", type=Path, default=DEFAULT_WORK_DIR)
    p.add_argument("--skip-plies", type=int, default=10, help="opening positions left out (they all look alike)")
    p.add_argument("--every", type=int, default=2, help="every N-th position of a game (neighbours say the same)")
    p.add_argument("--epochs", type=int, default=6)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--out", type=Path, default=TABLE_PATH)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    vocab = MoveVocab.build()
    games = cached_games(args.games, vocab, args.work_dir)
    positions, targets = training_positions(games.train, games.train_boards, vocab, args.skip_plies, args.every)
    print(f"{len(positions):,} positions from {len(games.train):,} training games", flush=True)
    weights = fit(positions, targets, args.epochs)
    held_out, held_targets = training_positions(games.validation, games.validation_boards, vocab, args.skip_plies,
                                                args.every)
    loss = F.binary_cross_entropy_with_logits(position_logits(weights, held_out), held_targets).item()
    table = centipawn_table(weights)
    table.update(validation_positions=len(held_out), validation_loss=round(loss, 4),
                 command=" ".join(["python -m core.xiangqi.piece_square", *(sys.argv[1:] if argv is None else argv)]))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(table, indent=1) + "\n")
    print(json.dumps({k: v for k, v in table.items() if k != "values"}))


if __name__ == "__main__":
    main()
