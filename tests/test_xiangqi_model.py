"""Vocabulary, GPT with KV cache, player, session logic, training and evaluation on tiny models."""

from __future__ import annotations

import json
import random

import pytest
import torch

from core.xiangqi import evaluate, lessons, teacher, train
from core.xiangqi.board import Board, mirror_move
from core.xiangqi.data import game_boards, read_games
from core.xiangqi.game import Game
from core.xiangqi.lessons import encode_lesson, play_lesson_game
from core.xiangqi.model import GPTConfig, MoveGPT, load
from core.xiangqi.opponents import FairyStockfish, find_engine, greedy_move, random_move
from core.xiangqi.player import Decoder, Player, legal_move_probabilities, loses_by_rule, repeats_position
from core.xiangqi.vocab import (
    BLACK_TO_MOVE, BOARD_SLOTS, NO_PIECE, NO_TARGET, RED_TO_MOVE, RESULT_TOKENS, UNKNOWN, MoveVocab, board_tokens, geometric_moves,
    mirrored_board_tokens,
)

VOCAB = MoveVocab.build()


@pytest.fixture(scope="module")
def tiny():
    torch.manual_seed(0)
    return MoveGPT(GPTConfig(len(VOCAB), block_size=16, n_layer=2, n_head=2, n_embd=32)).eval()


def test_vocabulary_covers_every_legal_move_and_is_mirror_closed():
    assert len(geometric_moves()) == 2102 and len(VOCAB) == 2107
    board = Board.from_moves("h2e2 h9g7 h0g2 i9h9 i0h0 g6g5 h0h6 b9c7")
    assert all(m in VOCAB.index for m in board.legal_moves)
    for i, token in enumerate(VOCAB.tokens):
        assert VOCAB.mirror_ids[VOCAB.mirror_ids[i]] == i
        if token.startswith("["):
            assert VOCAB.mirror_ids[i] == i
        else:
            assert VOCAB.tokens[VOCAB.mirror_ids[i]] == mirror_move(token)
    assert VOCAB.encode_game(["h2e2"], "1-0") == [VOCAB.index[RESULT_TOKENS["1-0"]], VOCAB.index["h2e2"]]
    with pytest.raises(ValueError, match="not a move"):
        VOCAB.encode_move("[PAD]")


def test_board_tokens_encode_pieces_side_to_move_and_mirror():
    board = Board.from_moves("h2e2 h9g7")
    pieces, red_to_move = board.positions()[-1]
    tokens = board_tokens(pieces, red_to_move)
    assert len(tokens) == BOARD_SLOTS and tokens[32] == RED_TO_MOVE  # 32 pieces, then the side to move
    assert len(set(tokens)) == BOARD_SLOTS
    after_capture = Board.from_moves("h2e2 h9g7 e2e6")  # the cannon takes a pawn: one piece fewer
    tokens = board_tokens(*after_capture.positions()[-1])
    assert tokens[31] == BLACK_TO_MOVE and tokens[32] == NO_PIECE
    mirror = mirrored_board_tokens()
    mirrored_game = Board.from_moves([mirror_move(m) for m in board.move_stack])
    assert sorted(mirror[t] for t in board_tokens(pieces, red_to_move)) == sorted(board_tokens(*mirrored_game.positions()[-1]))
    assert all(mirror[mirror[t]] == t for t in range(len(mirror)))
    black_first = Board("rnbakabnr/9/1c5c1/p1p1p1p1p/9/9/P1P1P1P1P/1C5C1/9/RNBAKABNR b")
    assert [red for _, red in black_first.positions()] == [False]
    assert game_boards(board).shape == (3, BOARD_SLOTS)


def with_boards(tokens: torch.Tensor, moves: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
    """``tokens`` (1, T) of a game opened by a result token, with the board tokens of each position."""
    return tokens, game_boards(Board.from_moves(moves)).long()[None, : tokens.shape[1]]


def test_incremental_decoding_matches_a_full_forward(tiny):
    moves = "h2e2 h9g7 h0g2 i9h9 i0h0".split()
    tokens, boards = with_boards(torch.tensor([[VOCAB.index["[RED_WINS]"]] + [VOCAB.index[m] for m in moves]]), moves)
    full = tiny(tokens, boards)
    cache = tiny.new_cache()
    pieces = [tiny(tokens[:, :3], boards[:, :3], cache), tiny(tokens[:, 3:4], boards[:, 3:4], cache),
              tiny(tokens[:, 4:], boards[:, 4:], cache)]
    torch.testing.assert_close(torch.cat(pieces, dim=1), full, atol=1e-5, rtol=1e-4)
    cache.truncate(2)
    torch.testing.assert_close(tiny(tokens[:, 2:3], boards[:, 2:3], cache)[0, 0], full[0, 2], atol=1e-5, rtol=1e-4)
    with pytest.raises(ValueError, match="exceed the model's context"):
        tiny(torch.zeros(1, 17, dtype=torch.long), torch.zeros(1, 17, BOARD_SLOTS, dtype=torch.long))
    with pytest.raises(ValueError, match="do not match"):
        tiny(tokens, boards[:, :2])


def test_the_model_sees_the_board(tiny):
    """Same moves, other start position: other logits (the board tokens reach the output)."""
    moves = ["h2e2"]
    tokens = torch.tensor([[1, VOCAB.index["h2e2"]]])
    start = tiny(tokens, game_boards(Board.from_moves(moves)).long()[None])
    fen = "rnbakabnr/9/1c5c1/p1p1p1p1p/9/9/P1P1P1P1P/1C5C1/9/RNBAKAB1R w"  # red's right knight is gone
    other = tiny(tokens, game_boards(Board.from_moves(moves, fen)).long()[None])
    assert not torch.allclose(start, other)


def test_decoder_reuses_the_cache_and_slides_past_the_context(tiny):
    decoder = Decoder()
    board = Board.from_moves("h2e2 h9g7 h0g2 i9h9")
    first = decoder.next_logits(tiny, VOCAB, 1, board)
    assert len(decoder.cache) == 5
    assert decoder.next_logits(tiny, VOCAB, 1, board) is first  # nothing new: no forward at all
    tokens, boards = with_boards(torch.tensor([[1] + [VOCAB.index[m] for m in board.move_stack]]), board.move_stack)
    torch.testing.assert_close(first, tiny(tokens, boards)[0, -1], atol=1e-5, rtol=1e-4)
    board.pop(), board.pop()
    decoder.next_logits(tiny, VOCAB, 1, board)  # a take-back truncates the cache
    assert len(decoder.cache) == 3
    same_moves_other_start = Board.from_moves(board.move_stack, "rnbakabnr/9/1c5c1/p1p1p1p1p/9/9/P1P1P1P1P/1C5C1/9/RNBAKAB1R w")
    other = decoder.next_logits(tiny, VOCAB, 1, same_moves_other_start)  # same tokens, other boards: recomputed
    assert not torch.allclose(other, decoder.next_logits(tiny, VOCAB, 1, board))
    assert Decoder.window_start(15, 16) == 0
    assert Decoder.window_start(16, 16) == 8
    assert Decoder.window_start(23, 16) == 8 and Decoder.window_start(24, 16) == 16
    long_game = Board()
    rng = random.Random(1)
    for _ in range(30):
        long_game.push(rng.choice(long_game.legal_moves))
    logits = decoder.next_logits(tiny, VOCAB, 1, long_game)
    assert logits.shape == (len(VOCAB),) and len(decoder.cache) <= 16


def test_legal_move_probabilities_is_a_softmax_over_legal_ids_only():
    logits = torch.tensor([5.0, 0.0, 1.0, 100.0])
    probs = legal_move_probabilities(logits, [1, 2])
    torch.testing.assert_close(probs, torch.softmax(torch.tensor([0.0, 1.0]), 0))
    with pytest.raises(ValueError):
        legal_move_probabilities(logits, [])
    with pytest.raises(ValueError, match="temperature"):
        legal_move_probabilities(logits, [1], temperature=0)


def test_search_never_chooses_a_perpetual_check(tiny):
    board = Board("3k5/9/9/9/9/9/9/9/R8/5K3 w")
    board.push("a1d1")
    for move in ["d9e9", "d1e1", "e9d9", "e1d1", "d9e9", "d1e1"]:
        board.push(move)
    assert not loses_by_rule(board, "e9d9")  # black is the one being checked
    board.push("e9d9")
    assert loses_by_rule(board, "e1d1")  # the third time round is a forbidden perpetual check
    choice = Player(tiny, VOCAB, mode="search").choose(board, Decoder())
    assert not loses_by_rule(board, choice.move)


def test_greedy_skips_the_favourite_when_it_repeats_or_loses_by_rule(tiny, monkeypatch):
    board = Board("3k5/9/9/9/9/9/9/9/R8/5K3 w")
    for move in ["a1d1", "d9e9", "d1e1", "e9d9"]:
        board.push(move)
    favourites = [("e1d1", 0.6), ("e1e5", 0.3), ("f0f1", 0.1)]
    monkeypatch.setattr(Player, "policy", lambda self, board, decoder, temperature=1.0, tactical=True: favourites)
    assert repeats_position(board, "e1d1") and not loses_by_rule(board, "e1d1")
    assert Player(tiny, VOCAB).choose(board, Decoder()).move == "e1e5"  # e1d1 would go back to the position of ply 1
    for move in ["e1d1", "d9e9", "d1e1", "e9d9"]:
        board.push(move)
    assert loses_by_rule(board, "e1d1")
    assert Player(tiny, VOCAB).choose(board, Decoder()).move == "e1e5"
    favourites[1:] = []
    assert Player(tiny, VOCAB).choose(board, Decoder()).move == "e1d1"  # nothing else on offer: the favourite


@pytest.mark.parametrize("mode", ["greedy", "sample", "search"])
def test_player_only_plays_legal_moves(tiny, mode):
    player = Player(tiny, VOCAB, mode=mode, temperature=0.7, seed=3)
    board, decoder = Board(max_plies=12), Decoder()
    while board.outcome() is None:
        choice = player.choose(board, decoder)
        assert choice.move in board.legal_moves
        probs = [p for _, p in choice.candidates]
        assert len(choice.candidates) == 5 and probs == sorted(probs, reverse=True) and 0 < sum(probs) <= 1 + 1e-6
        board.push(choice.move)
    with pytest.raises(ValueError, match="unknown mode"):
        Player(tiny, VOCAB, mode="best")
    with pytest.raises(ValueError, match="temperature must be positive"):
        Player(tiny, VOCAB, mode="sample", temperature=0)


def test_sampling_tempers_the_policy_it_asked_for_once(tiny, monkeypatch):
    calls = []
    monkeypatch.setattr(Player, "policy", lambda self, *args, **kwargs: calls.append(1) or [("h2e2", 0.75), ("b2e2", 0.25)])
    player, board = Player(tiny, VOCAB, mode="sample", temperature=0.5, seed=0), Board()
    draws = [player.choose(board, Decoder()).move for _ in range(2000)]
    assert len(calls) == 2000  # one policy (one pass over the features) per move
    assert draws.count("h2e2") / 2000 == pytest.approx(0.9, abs=0.03)  # softmax(logits / 0.5): 0.75² : 0.25² = 9 : 1


def test_guidance_extrapolates_from_the_unconditioned_policy(tiny):
    board = Board.from_moves("h2e2 h9g7 h0g2")
    moves = board.legal_moves
    ids = [VOCAB.encode_move(m) for m in moves]
    with torch.no_grad():
        won = Decoder().next_logits(tiny, VOCAB, Player(tiny, VOCAB).prefix_token(board), board)[ids]
        plain = Decoder().next_logits(tiny, VOCAB, VOCAB.index[UNKNOWN], board)[ids]
    decoder = Decoder()
    for guidance in (0.0, 2.0):
        expected = torch.softmax(won + guidance * (won - plain), dim=-1)
        got = dict(Player(tiny, VOCAB, guidance=guidance).policy(board, decoder))
        torch.testing.assert_close(torch.tensor([got[m] for m in moves]), expected)
    assert decoder.without_result() is decoder.without_result()  # one cache per game, reused move after move
    for kwargs in ({"guidance": -1.0}, {"guidance": 1.0, "prefix": "unknown"}):
        with pytest.raises(ValueError, match="guidance must be at least 0, and needs prefix 'win'"):
            Player(tiny, VOCAB, **kwargs)


def test_opponents_play_legal_moves_and_greedy_grabs_material():
    rng = random.Random(0)
    board = Board("3k5/9/9/9/9/9/9/3p5/9/3RK4 w")
    assert greedy_move(board, rng) == "d0d2"
    assert random_move(board, rng) in board.legal_moves


def test_game_clicks_select_move_and_reject_illegal_input(tiny):
    game, player = Game(), Player(tiny, VOCAB)
    with pytest.raises(ValueError, match="Select one of your"):
        game.click("e9")
    assert game.click("h2") is None and game.selected == "h2"
    before = game.board.fen()
    with pytest.raises(ValueError, match="Illegal move h2i1"):
        game.click("i1")
    assert game.board.fen() == before and game.selected == "h2"
    assert game.click("e2") == "h2e2"
    assert game.reply(player) is not None and game.board.ply == 2
    assert [row[:3] for row in game.move_list()] == [(1, "red", "炮二平五"), (1, "black", game.move_list()[1][2])]
    assert len(game.hint(player)) == 5
    game.undo()
    assert game.board.ply == 0 and game.board.turn == "red"
    with pytest.raises(ValueError, match="Nothing to undo"):
        game.undo()
    with pytest.raises(ValueError, match="no legal move"):
        Game(fen="4k4/9/9/9/9/9/9/9/4A4/3AKR3 w").click("e0")  # boxed in by its own pieces


def test_game_as_black_and_game_over():
    black = Game("black")
    with pytest.raises(ValueError, match="Wait for the model"):
        black.click("h7")
    over = Game(fen="3k5/R8/9/9/9/4R4/9/9/9/5K3 b")
    assert over.outcome().reason == "no legal move"
    assert over.status().startswith("Game over: Red wins")
    with pytest.raises(ValueError, match="Wait for the model|game is over"):
        over.click("d9")


def test_checkpoint_round_trip(tiny, tmp_path):
    tiny.save_pretrained(tmp_path)
    model, vocab = load(tmp_path)
    tokens, boards = with_boards(torch.tensor([[1, VOCAB.index["h2e2"]]]), ["h2e2"])
    torch.testing.assert_close(model(tokens, boards), tiny(tokens, boards).half().float(), atol=2e-2, rtol=2e-2)
    assert vocab.tokens == VOCAB.tokens


def test_int8_checkpoint_is_smaller_and_plays_the_same_moves(tmp_path):
    torch.manual_seed(1)
    model = MoveGPT(GPTConfig(len(VOCAB), block_size=16, n_layer=2, n_head=2, n_embd=64)).eval()
    model.save_pretrained(tmp_path / "fp16")
    model.save_pretrained(tmp_path / "int8", int8=True)
    size = {name: (tmp_path / name / "model.safetensors").stat().st_size for name in ("fp16", "int8")}
    assert size["int8"] < 0.6 * size["fp16"]
    moves = "h2e2 h9g7 h0g2".split()
    tokens, boards = with_boards(torch.tensor([[1] + [VOCAB.index[m] for m in moves]]), moves)
    fp16, int8 = (load(tmp_path / name)[0](tokens, boards) for name in ("fp16", "int8"))
    assert (fp16 - int8).abs().max() < 0.05 * fp16.abs().max()
    assert torch.equal(fp16.argmax(-1), int8.argmax(-1))


def test_training_batches_mirror_hide_results_and_pad():
    games = [VOCAB.encode_game("h2e2 h9g7".split(), "1-0"), VOCAB.encode_game(["b2e2"], "0-1")]
    boards = [game_boards(Board.from_moves("h2e2 h9g7")), game_boards(Board.from_moves("b2e2"))]
    rows = [master_row(game, game_boards) for game, game_boards in zip(games, boards)]
    inputs, input_boards, targets = train.make_batch(rows, VOCAB, block_size=8)
    assert inputs.tolist()[1][1] == VOCAB.pad_id and targets[1, 1].tolist() == [NO_TARGET, NO_TARGET]
    assert (input_boards[1, 1] == NO_PIECE).all()  # padding adds nothing to the input
    assert targets[0, :, 0].tolist() == games[0][1:] and (targets[0, :, 1] == NO_TARGET).all()
    assert torch.equal(input_boards[0], boards[0][:2].long())  # each input with the position it leads to
    rng = random.Random(0)
    seen = {}
    for _ in range(40):
        inputs, input_boards, _ = train.make_batch(rows[:1], VOCAB, 8, rng)
        seen[tuple(inputs[0].tolist())] = input_boards[0]
    mirrored = (VOCAB.index["[RED_WINS]"], VOCAB.index["b2e2"])
    assert mirrored in seen  # the moves are mirrored, and so are their boards
    expected = game_boards(Board.from_moves("b2e2 b9c7")).long()[:2]
    assert torch.equal(seen[mirrored].sort(dim=1).values, expected.sort(dim=1).values)  # a bag: order is free
    assert (VOCAB.index["[UNKNOWN]"], VOCAB.index["h2e2"]) in seen  # result hidden


def master_row(game: list[int], boards: torch.Tensor, teacher: list[int] | None = None) -> train.Row:
    return train.Row(game, boards, game[1:], teacher or [NO_TARGET] * (len(game) - 1))


def write_games(path) -> None:
    """A small game file: 60 short random games, 10 with an illegal move and 10 without moves."""
    rng, rows = random.Random(0), [{"moves_iccs": "h2e2 h9g7 h2h9", "result": "*"}, {"moves_iccs": ""}] * 10
    for _ in range(60):
        board = Board()
        for _ in range(rng.randint(1, 6)):
            board.push(rng.choice(board.legal_moves))
        rows.append({"moves_iccs": " ".join(board.move_stack), "result": rng.choice(["1-0", "0-1", "1/2-1/2"])})
    path.write_text("\n".join(json.dumps(r) for r in rows))


def read_log(work_dir) -> list[dict]:
    return [json.loads(line) for line in (work_dir / "log.jsonl").read_text(encoding="utf-8").splitlines()]


def test_train_and_evaluate_end_to_end(tmp_path, capsys):
    games = tmp_path / "games.jsonl"
    write_games(games)
    out = tmp_path / "ckpt"
    train.main(["--games", str(games), "--work-dir", str(tmp_path), "--out", str(out), "--max-steps", "3",
                "--layers", "1", "--heads", "2", "--embd", "16", "--block-size", "16", "--batch-size", "4"])
    log = read_log(tmp_path)
    assert log[0]["event"] == "data" and log[0]["dropped"] == {str(games): {"illegal move found by Board": 10, "no moves": 10}}
    assert log[-1]["event"] == "done" and log[-1]["steps"] == 3 and log[-1]["processes"] == 1
    evaluate.main(["--checkpoint", str(out), "predict", "--games", str(games), "--work-dir", str(tmp_path),
                   "--split", "train", "--limit", "5"])
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["positions"] > 0 and 0 <= result["top1"] <= result["top5"] <= 1
    evaluate.main(["--checkpoint", str(out), "match", "--opponent", "random", "--n-games", "2", "--max-plies", "10"])
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["wins"] + result["draws"] + result["losses"] == 2

    # --init continues from a checkpoint's weights, with its shape (the size flags are ignored)
    before = load(out)[0].state_dict()
    train.main(["--games", str(games), "--work-dir", str(tmp_path / "again"), "--out", str(tmp_path / "ckpt2"),
                "--max-steps", "1", "--init", str(out), "--lr", "0"])
    after = load(tmp_path / "ckpt2")[0].state_dict()
    assert after.keys() == before.keys() and all(torch.equal(after[k], before[k]) for k in before)


def test_int8_preset_fits_a_bundled_file(tmp_path):
    args = train.parse_args(["--preset", "gpu-int8"])
    assert args.int8_weights and not train.parse_args(["--preset", "gpu-int8", "--no-int8-weights"]).int8_weights
    assert not train.parse_args(["--cpu-minutes", "1"]).int8_weights  # the CPU bundle stays fp16
    config = GPTConfig(len(VOCAB), n_layer=args.layers, n_head=args.heads, n_embd=args.embd)
    MoveGPT(config).save_pretrained(tmp_path, int8=True)
    assert (tmp_path / "model.safetensors").stat().st_size <= 9.5e6


def test_batches_take_teacher_targets_and_mirror_them():
    game = VOCAB.encode_game("h2e2 h9g7".split(), "1-0")
    boards = game_boards(Board.from_moves("h2e2 h9g7"))
    row = master_row(game, boards, teacher=[VOCAB.index["b2e2"], NO_TARGET])  # the teacher would have played b2e2
    _, _, targets = train.make_batch([row], VOCAB, 8)
    assert targets[0].tolist() == [[VOCAB.index["h2e2"], VOCAB.index["b2e2"]], [VOCAB.index["h9g7"], NO_TARGET]]
    rng = random.Random(0)
    seen = {tuple(train.make_batch([row], VOCAB, 8, rng)[2][0, :, 1].tolist()) for _ in range(20)}
    assert seen == {(VOCAB.index["b2e2"], NO_TARGET), (VOCAB.index["h2e2"], NO_TARGET)}  # mirrored: b2e2 <-> h2e2


@pytest.mark.skipif(find_engine() is None, reason="fairy-stockfish is not installed")
def test_engine_labels_are_the_engines_moves_and_train(tmp_path):
    games = tmp_path / "games.jsonl"
    write_games(games)
    labels_file = tmp_path / "labels.json"
    for count in (3, 6):  # the second run resumes the file
        teacher.main(["--games-files", str(games), "--out", str(labels_file), "--depth", "1", "--games", str(count)])
    labels = teacher.load_labels(labels_file)
    assert len(labels) == 6
    by_key = {teacher.game_key(moves): moves.split() for moves in teacher.training_games([games])}
    with FairyStockfish(1) as engine:
        for key, engine_moves in labels.items():
            moves = by_key[key]
            assert len(engine_moves) == len(moves)
            for ply, best in enumerate(engine_moves):
                assert best in Board.from_moves(moves[:ply]).legal_moves and best == engine.best_move(moves[:ply])
    with pytest.raises(ValueError, match="depth-1 labels"):
        teacher.main(["--games-files", str(games), "--out", str(labels_file), "--depth", "2"])
    train.main(["--games", str(games), "--work-dir", str(tmp_path), "--out", str(tmp_path / "ckpt"), "--max-steps", "2",
                "--layers", "1", "--heads", "2", "--embd", "16", "--block-size", "16", "--batch-size", "4",
                "--engine-labels", str(labels_file), "--teacher-share", "0.5"])
    log = read_log(tmp_path)
    # games with an illegal move are never trained on, so their labels are not used
    assert 0 < log[0]["teacher_games"] + log[0]["held_out_teacher_games"] <= 6 and log[0]["teacher_rows_per_batch"] == 2
    assert log[-1]["event"] == "done" and log[-1]["teacher_positions"] > 0


def test_lesson_games_label_the_students_turns_with_the_teachers_move(tiny):
    teacher, student = Player(tiny, VOCAB, "search", nodes=300), Player(tiny, VOCAB, "greedy")
    rng = random.Random(0)
    board, lessons = play_lesson_game(lambda b, d: teacher.choose(b, d).move, student, lambda b: random_move(b, rng), "black",
                                      rng, max_plies=12)
    tokens, targets = encode_lesson(VOCAB, board.move_stack, lessons, "black")
    assert tokens[0] == VOCAB.index["[BLACK_WINS]"] and len(targets) == len(tokens) - 1 == board.ply
    replay = Board()
    for ply, (move, target) in enumerate(zip(board.move_stack, targets)):
        if ply % 2 == 0:
            assert target == NO_TARGET  # red (the opponent) is never a lesson
        else:
            assert VOCAB.tokens[target] in replay.legal_moves
            assert VOCAB.tokens[target] == teacher.choose(replay, Decoder()).move
        replay.push(move)


@pytest.mark.skipif(find_engine() is None, reason="fairy-stockfish is not installed")
def test_engine_lessons_are_the_engines_moves_on_the_students_turns(tiny, tmp_path):
    tiny.save_pretrained(tmp_path / "ckpt")
    out = tmp_path / "lessons.pt"
    lessons.main(["--checkpoint", str(tmp_path / "ckpt"), "--out", str(out), "--games", "2", "--max-plies", "10",
                  "--teacher", "engine", "--engine-depth", "1"])
    games, _, targets = lessons.load_lessons([out])
    with FairyStockfish(1) as engine:
        for index, (tokens, game_targets) in enumerate(zip(games, targets)):
            moves = [VOCAB.tokens[t] for t in tokens[1:]]
            student_parity = index % 2  # red (even plies) in game 0, black in game 1
            for ply, target in enumerate(game_targets):
                if ply % 2 != student_parity:
                    assert target == NO_TARGET
                else:
                    assert VOCAB.tokens[target] == engine.best_move(moves[:ply])


def test_lessons_file_resumes_and_trains(tiny, tmp_path, capsys):
    tiny.save_pretrained(tmp_path / "ckpt")
    out = tmp_path / "lessons.pt"
    for games in (1, 2):
        lessons.main(["--checkpoint", str(tmp_path / "ckpt"), "--out", str(out), "--games", str(games),
                      "--max-plies", "8", "--search-nodes", "300"])
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["games"] == 2 and summary["lessons"] == 8  # 4 student turns in each 8-ply game
    first, second = (lessons.load_lessons([out])[0][i] for i in (0, 1))
    assert first[0] == VOCAB.index["[RED_WINS]"] and second[0] == VOCAB.index["[BLACK_WINS]"]  # colours alternate
    write_games(tmp_path / "games.jsonl")
    train.main(["--games", str(tmp_path / "games.jsonl"), "--work-dir", str(tmp_path), "--out", str(tmp_path / "tuned"),
                "--init", str(tmp_path / "ckpt"), "--max-steps", "2", "--batch-size", "4", "--lessons", str(out),
                "--teacher-share", "0.5"])
    log = read_log(tmp_path)
    assert (log[0]["teacher_games"], log[0]["held_out_teacher_games"], log[0]["teacher_rows_per_batch"]) == (1, 1, 2)
    assert log[1]["event"] == "dev" and log[1]["step"] == 0 and "teacher_top1" in log[1]  # where --init starts from
    assert log[-1]["event"] == "done" and log[-1]["teacher_positions"] == 4 and 0 <= log[-1]["teacher_top1"] <= 1
    with pytest.raises(ValueError, match="--teacher-share must be at least 0 and below 1, got 1.0"):
        train.main(["--games", str(tmp_path / "games.jsonl"), "--work-dir", str(tmp_path), "--teacher-share", "1"])


@pytest.mark.skipif(find_engine() is None, reason="fairy-stockfish is not installed")
def test_engine_starts_each_new_game_with_a_clear_hash(monkeypatch):
    """A fixed-depth opponent must not play deeper on what earlier games left in its hash table."""
    with FairyStockfish(1) as engine:
        sent = []
        send = engine._send
        monkeypatch.setattr(engine, "_send", lambda command: (sent.append(command), send(command)))
        game = ["h2e2"]
        engine.best_move([])
        engine.best_move(game)
        game.append(engine.best_move(game))
        engine.best_move(game)  # the same game, continued: the hash stays
        assert sent.count("ucinewgame") == 1
        engine.best_move(["b2e2"])  # a different game
        engine.best_move([])  # back to the start position: a new game too
        assert sent.count("ucinewgame") == 3


def test_replaying_on_several_processes_gives_the_serial_result(tmp_path):
    records = [{"moves_iccs": "h2e2 h9g7 h0g2", "result": "1-0"}, {"moves_iccs": "h2e2 h2e2", "result": "0-1"},
               {"moves_iccs": "", "result": "*"}, {"moves_iccs": "b2e2 b9c7", "result": "1/2-1/2"}] * 20
    path = tmp_path / "games.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in records), encoding="utf-8")
    vocab = MoveVocab.build()
    serial, parallel = read_games(path, vocab), read_games(path, vocab, workers=2)
    assert parallel.train == serial.train and parallel.validation == serial.validation
    assert all(torch.equal(a, b) for a, b in zip(parallel.train_boards + parallel.validation_boards,
                                                  serial.train_boards + serial.validation_boards))
    assert parallel.dropped == serial.dropped == {"no moves": 20, "illegal move found by Board": 20}
    assert len(serial.train) + len(serial.validation) == 40
