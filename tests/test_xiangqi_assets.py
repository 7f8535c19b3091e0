"""Integration tests on the bundled checkpoint in assets/xiangqi."""

from __future__ import annotations

import random
from collections import Counter
from itertools import islice

from core import checkpoints
from core.xiangqi.board import Board
from core.xiangqi.data import replayed_games
from core.xiangqi.evaluate import predict
from core.xiangqi.model import load
from core.xiangqi.player import Decoder, Player
from core.xiangqi.tactics import FEATURES
from core.xiangqi.vocab import MoveVocab

MAX_FILE_BYTES = int(9.5 * 1024 * 1024)


def bundled():
    return checkpoints.load("xiangqi", load, checkpoints.BUNDLED)


def test_bundled_files_fit_the_size_limits_and_vocabulary_matches():
    files = [f for f in checkpoints.spec("xiangqi").asset_dir.iterdir() if f.is_file()]
    assert {"config.json", "model.safetensors", "vocab.txt", "MODEL_CARD.md"} <= {f.name for f in files}
    assert all(f.stat().st_size <= MAX_FILE_BYTES for f in files)
    assert sum(f.stat().st_size for f in files) <= 10 * 1024 * 1024
    _, vocab = bundled()
    assert vocab.tokens == MoveVocab.build().tokens


def test_bundled_model_plays_only_legal_moves_against_random():
    model, vocab = bundled()
    player, rng = Player(model, vocab, mode="search", nodes=3_000), random.Random(0)
    board, decoder = Board(max_plies=24), Decoder()
    while board.outcome() is None:
        if board.turn == "red":
            choice = player.choose(board, decoder)
            assert choice.move in board.legal_moves and len(choice.candidates) == 5
            board.push(choice.move)
        else:
            board.push(rng.choice(board.legal_moves))


def test_bundled_model_knows_master_openings(shared_data):
    model, vocab = bundled()
    games = replayed_games(shared_data / "xiangqi" / "ccpd_games_iccs.jsonl.xz", vocab, Counter())
    validation = list(islice(((tokens, boards) for is_validation, tokens, boards in games if is_validation), 40))
    openings = [tokens[:11] for tokens, _ in validation]  # result token + the first 10 plies
    scores = predict(model, vocab, openings, [boards for _, boards in validation])
    assert scores["positions"] == 400
    assert scores["top1"] >= 0.5 and scores["top5"] >= 0.85, scores


def test_bundled_policy_takes_a_free_rook_that_the_gpt_alone_passes_by():
    model, vocab = bundled()
    assert set(model.config.tactics) == set(FEATURES)  # fitted: python -m core.xiangqi.tactics
    board = Board("1nbakabnr/9/1c5c1/p1p1p1p1p/9/9/P1P1P1P1P/1Cr4C1/9/RNBAKABNR w")  # black's rook on c2, undefended
    player = Player(model, vocab)
    assert player.choose(board, Decoder()).move == "b0c2"  # the knight takes it
    assert player.policy(board, Decoder(), tactical=False)[0][0] != "b0c2"
