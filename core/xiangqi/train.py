"""Train the move GPT on master games, with engine and lesson moves as a second teacher.

    python -m core.xiangqi.train                                   # from scratch, 17 CPU minutes
    python -m core.xiangqi.train --init assets/xiangqi --engine-labels runs/xiangqi/engine-labels-d3.json \\
        --cpu-minutes 50 --lr 5e-4 --work-dir runs/xq_engine --out runs/xq_engine/model   # continue the bundle
    python -m core.xiangqi.train --preset gpu --cpu-minutes 8      # a larger GPT for 8 wall minutes on one GPU
    python -m core.xiangqi.train --preset gpu-int8 --cpu-minutes 8 # the largest GPT a bundled file holds (int8)
    torchrun --nproc_per_node 2 -m core.xiangqi.train              # the same run on 2 processes (DDP)

What makes a small model learn the most per CPU minute here:
* one token per move (sequences of ~86 tokens instead of ~344 characters);
* the position after each move as board tokens summed into its input (``vocab.board_tokens``),
  so the model need not rebuild the board from the moves;
* each game is mirrored left-right with probability 1/2 (the rules are symmetric in files a<->i);
* batches of games of similar length, so little compute goes to padding;
* the learning-rate schedule can run on a CPU-time budget (``--cpu-minutes``), so the cosine
  decay ends when the budget is spent, whatever else shares the machine; ``--max-steps`` ends it
  at a step count instead (for exact reruns or a GPU), whichever comes first.
The result token is replaced by ``[UNKNOWN]`` in a quarter of the games, so the model also
predicts moves when the result is not given.

Every position can carry two targets: the master's move and a teacher's move. Teachers are
fairy-stockfish (``--engine-labels``, written by ``core.xiangqi.teacher``: the engine's move in
positions of master training games, which then keep their master targets too) and the search
mode (``--lessons``, written by ``core.xiangqi.lessons``: the model's own games, teacher targets
only). ``--teacher-share`` of every batch is drawn from these teacher games; 1 in 20 of them is
held out to measure agreement with the teacher. The loss is the mean cross-entropy over all
targets of the batch. Validation is the CCPD split of ``data.py`` (first file of ``--games``).
The run is resumable: the state is saved to ``--work-dir`` every few minutes and on SIGTERM, and
the same command continues from it.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
from dataclasses import dataclass
from pathlib import Path

import torch
from tqdm import tqdm

from core import checkpoints, training
from core.xiangqi.data import DEFAULT_GAMES, DEFAULT_WORK_DIR, DPXQ_GAMES, cached_games
from core.xiangqi.lessons import load_lessons
from core.xiangqi.model import GPTConfig, MoveGPT, load
from core.xiangqi.teacher import game_key, load_labels
from core.xiangqi.vocab import NO_PIECE, NO_TARGET, UNKNOWN, MoveVocab, mirrored_board_tokens

MIRRORED_BOARD_TOKENS = torch.tensor(mirrored_board_tokens())
LOG_EVERY, EVAL_EVERY = 25, 200
TEACHER_VALIDATION_EVERY = 20  # teacher game i is held out when i % 20 == 0

# Named settings a run starts from; explicit options override them.
PRESETS = {
    "cpu": {"layers": 4, "heads": 4, "embd": 192, "batch_size": 32, "lr": 2e-3, "cpu_minutes": 17.0, "max_steps": None},
    # A wider and deeper GPT (8 x 512, 27 M parameters, 54 MB in fp16: not bundled as is), 8x larger batches, bf16
    # autocast. On an H200 (2026-12-04, five other runs sharing it) 6.5 wall minutes gave 3,537 steps: validation
    # top-1 46.5% (the bundle-sized 8 x 192 run beside it: 36.7%), though the validation loss was lowest at step 1,600.
    "gpu": {"layers": 8, "heads": 8, "embd": 512, "batch_size": 256, "lr": 1e-3, "cpu_minutes": None, "max_steps": 6000,
            "warmup": 300},
    # The largest GPT a bundled file holds: 8 x 288 (9.0 M parameters) written in int8 (core.int8), 9.1 MB. Between the
    # 8 x 192 (36.7%) and 8 x 512 (46.5%) GPU runs above, top-1 rose 3.7 points per doubling of parameters.
    "gpu-int8": {"layers": 8, "heads": 6, "embd": 288, "batch_size": 256, "lr": 1.5e-3, "cpu_minutes": None,
                 "max_steps": 6000, "warmup": 300, "int8_weights": True},
}


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--preset", choices=sorted(PRESETS), default="cpu", help="named settings (options given override them)")
    p.add_argument("--games", type=Path, nargs="+", default=[DEFAULT_GAMES, DPXQ_GAMES],
                   help="master games in ICCS (JSONL, .xz ok); validation is the first file's held-out split")
    p.add_argument("--work-dir", type=Path, default=DEFAULT_WORK_DIR, help="game cache, resumable state, log.jsonl")
    p.add_argument("--out", type=Path, default=Path("runs/xiangqi/model"), help="checkpoint directory to write")
    p.add_argument("--init", default=None,
                   help="start from the weights of this checkpoint (e.g. assets/xiangqi) instead of random ones; "
                        "--layers/--heads/--embd/--block-size are then taken from it")
    p.add_argument("--engine-labels", type=Path, nargs="*", default=[],
                   help="labels files of core.xiangqi.teacher (fairy-stockfish's move in master training positions)")
    p.add_argument("--lessons", type=Path, nargs="*", default=[],
                   help="lesson files of core.xiangqi.lessons (the model's games labelled with the search mode's move)")
    p.add_argument("--teacher-share", type=float, default=0.25, help="fraction of each batch drawn from the teacher games")
    p.add_argument("--cpu-minutes", type=float, help="compute budget in process CPU minutes, wall minutes on a GPU (the schedule's length)")
    p.add_argument("--max-steps", type=int, help="step budget (the schedule ends at whichever budget comes first)")
    p.add_argument("--layers", type=int)
    p.add_argument("--heads", type=int)
    p.add_argument("--embd", type=int)
    p.add_argument("--block-size", type=int, help="context in tokens (result token + plies; default 160)")
    p.add_argument("--batch-size", type=int, help="games per batch and process")
    p.add_argument("--lr", type=float, help="peak learning rate")
    p.add_argument("--warmup", type=int, help="warm-up steps (default 100)")
    p.add_argument("--weight-decay", type=float, default=0.1)
    p.add_argument("--eval-games", type=int, default=300, help="validation games for the periodic check")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads per process")
    p.add_argument("--replay-workers", type=int, default=os.cpu_count(),
                   help="processes replaying the game files when their caches are built (default: one per core)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--int8-weights", action=argparse.BooleanOptionalAction, default=None,
                   help="write the checkpoint's weights in int8 (core.int8: about 9 M parameters fit a bundled file) "
                        "instead of fp16")
    args = p.parse_args(argv)
    training.apply_preset(args, {"block_size": 160, "warmup": 100, "int8_weights": False}, PRESETS[args.preset])
    if not 0 <= args.teacher_share < 1:
        raise ValueError(f"--teacher-share must be at least 0 and below 1, got {args.teacher_share}")
    if not args.cpu_minutes and not args.max_steps:
        raise ValueError("give a budget: --cpu-minutes or --max-steps")
    return args


@dataclass
class Row:
    """A game to learn from: tokens (result first), board tokens, and per position (aligned with
    ``tokens[1:]``) the master's move and the teacher's move, NO_TARGET where there is none."""

    tokens: list[int]
    boards: torch.Tensor
    master: list[int]
    teacher: list[int]


def make_batch(rows: list[Row], vocab: MoveVocab, block_size: int,
               rng: random.Random | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Inputs (B, T), their board tokens (B, T, slots) and targets (B, T, 2: master, teacher), PAD/NO_TARGET-filled.

    With ``rng`` (training), games are mirrored and their result hidden at random.
    """
    unknown = vocab.index[UNKNOWN]
    length = min(block_size, max(len(row.tokens) - 1 for row in rows))
    inputs = torch.full((len(rows), length), vocab.pad_id, dtype=torch.long)
    input_boards = torch.full((len(rows), length, rows[0].boards.shape[1]), NO_PIECE, dtype=torch.long)
    targets = torch.full((len(rows), length, 2), NO_TARGET, dtype=torch.long)
    for i, row in enumerate(rows):
        game, boards = row.tokens[: length + 1], row.boards[:length].long()
        wanted = [row.master[:length], row.teacher[:length]]
        if rng is not None:
            if rng.random() < 0.5:
                game, boards = [vocab.mirror_ids[t] for t in game], MIRRORED_BOARD_TOKENS[boards]
                wanted = [[t if t == NO_TARGET else vocab.mirror_ids[t] for t in column] for column in wanted]
            if rng.random() < 0.25:
                game = [unknown] + game[1:]
        inputs[i, : len(game) - 1] = torch.tensor(game[:-1])
        input_boards[i, : len(game) - 1] = boards[: len(game) - 1]
        for column, moves in enumerate(wanted):
            targets[i, : len(moves), column] = torch.tensor(moves, dtype=torch.long)
    return inputs, input_boards, targets


def target_log_probs(logits: torch.Tensor, targets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """log p of every target (B, T, 2) and the mask of real targets: one softmax serves both teachers."""
    mask = targets != NO_TARGET
    log_probs = logits.float().log_softmax(-1).gather(-1, targets.clamp(min=0))
    return log_probs, mask


@torch.no_grad()
def evaluate_loss(model: MoveGPT, rows: list[Row], vocab: MoveVocab, device, column: int, name: str,
                  batch_size: int = 64) -> dict:
    """Mean cross-entropy and top-1 (full vocabulary) of one target column (0 master, 1 teacher) over ``rows``."""
    if not rows:
        return {}
    model.eval()
    total_loss, correct, count = 0.0, 0, 0
    for start in range(0, len(rows), batch_size):
        inputs, input_boards, targets = make_batch(rows[start : start + batch_size], vocab, model.config.block_size)
        logits = model(inputs.to(device), input_boards.to(device))
        targets = targets[..., column : column + 1].to(device)
        log_probs, mask = target_log_probs(logits, targets)
        total_loss -= log_probs[mask].sum().item()
        correct += (logits.argmax(-1, keepdim=True) == targets)[mask].sum().item()
        count += mask.sum().item()
    model.train()
    return {f"{name}_loss": round(total_loss / count, 4), f"{name}_top1": round(correct / count, 4), f"{name}_positions": count}


def load_games(args, vocab: MoveVocab, runtime: training.Runtime):
    """Rank 0 replays and caches every file first; the other ranks then read its caches."""
    if not runtime.is_main:
        runtime.barrier()
    game_sets = [cached_games(path, vocab, args.work_dir, args.replay_workers) for path in args.games]
    if runtime.is_main:
        runtime.barrier()
    return game_sets


def teacher_rows(args, vocab: MoveVocab, master_rows: list[Row]) -> list[Row]:
    """Master games labelled by the engine (both targets), then lesson games (teacher targets only)."""
    labels = {}
    for path in args.engine_labels:
        labels.update(load_labels(path))
    rows = []
    for row in master_rows:
        engine_moves = labels.get(game_key(" ".join(vocab.tokens[t] for t in row.tokens[1:])))
        if engine_moves:
            teacher = [vocab.encode_move(m) for m in engine_moves] + [NO_TARGET] * (len(row.master) - len(engine_moves))
            rows.append(Row(row.tokens, row.boards, row.master, teacher))
    lesson_games, lesson_boards, lesson_targets = load_lessons(args.lessons)
    rows += [Row(tokens, boards, [NO_TARGET] * len(targets), targets)
             for tokens, boards, targets in zip(lesson_games, lesson_boards, lesson_targets)]
    return rows


def initial_model(args, vocab: MoveVocab, device) -> MoveGPT:
    if args.init:
        model, init_vocab = load(checkpoints.locate("xiangqi", args.init), device)
        if init_vocab.tokens != vocab.tokens:
            raise ValueError(f"{args.init} has another move vocabulary than this code builds")
        model.config.tactics = None  # fitted to the GPT as it was: fit them again after training (core.xiangqi.tactics)
        return model.train()
    return MoveGPT(GPTConfig(len(vocab), args.block_size, args.layers, args.heads, args.embd)).to(device)


# What a resumed run must share with the run that saved the state (budgets may grow).
RUN_KEYS = ("games", "init", "engine_labels", "lessons", "teacher_share", "layers", "heads", "embd", "block_size",
            "batch_size", "lr", "warmup", "weight_decay", "seed")


def main(argv=None) -> None:
    args = parse_args(argv)
    runtime = training.setup(args.seed, args.threads)
    log_file = args.work_dir / "log.jsonl"
    vocab = MoveVocab.build()

    game_sets = load_games(args, vocab, runtime)
    master = [Row(tokens, boards, tokens[1:], [NO_TARGET] * (len(tokens) - 1))
              for games in game_sets for tokens, boards in zip(games.train, games.train_boards)]
    validation = [Row(tokens, boards, tokens[1:], [NO_TARGET] * (len(tokens) - 1))
                  for tokens, boards in zip(game_sets[0].validation[: args.eval_games], game_sets[0].validation_boards)]
    teachers = teacher_rows(args, vocab, master)
    teacher_train = [row for i, row in enumerate(teachers) if i % TEACHER_VALIDATION_EVERY]
    teacher_held_out = teachers[::TEACHER_VALIDATION_EVERY]
    rows_from_teachers = round(args.batch_size * args.teacher_share) if teacher_train else 0
    stats = {"train_games": {str(p): len(g.train) for p, g in zip(args.games, game_sets)},
             "validation_games": {str(p): len(g.validation) for p, g in zip(args.games, game_sets)},
             "dropped": {str(p): dict(g.dropped) for p, g in zip(args.games, game_sets)},
             "teacher_games": len(teacher_train), "held_out_teacher_games": len(teacher_held_out),
             "teacher_rows_per_batch": rows_from_teachers}
    training.log_line(runtime, log_file, event="data", **stats)

    net = initial_model(args, vocab, runtime.device)
    model = training.wrap(net, runtime)
    decay = [p for p in net.parameters() if p.dim() >= 2]
    no_decay = [p for p in net.parameters() if p.dim() < 2]
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": args.weight_decay},
                                   {"params": no_decay, "weight_decay": 0.0}], lr=args.lr, betas=(0.9, 0.95))

    def epoch_batches(epoch: int) -> list[list[int]]:
        rng = random.Random(args.seed * 1000 + epoch)  # the same on every rank, then sharded
        lengths = [len(row.tokens) for row in master]
        return training.shard(training.length_bucketed_batches(lengths, args.batch_size - rows_from_teachers, rng), runtime)

    steps_per_epoch = len(epoch_batches(0))
    state = training.RunState(args.work_dir / "train_state.pt", training.run_config(args, RUN_KEYS), may_change=("cpu_minutes", "max_steps"))
    progress = state.resume(model, optimizer, runtime) or {"step": 0, "cpu_minutes": 0.0}
    step, cpu_before = progress["step"], progress["cpu_minutes"]
    if step:
        training.log_line(runtime, log_file, event="resumed", step=step, cpu_minutes=round(cpu_before, 1))

    def used_minutes() -> float:
        return training.budget_minutes(runtime, cpu_before)

    def schedule_progress() -> float:
        return training.budget_or_step_progress(used_minutes(), args.cpu_minutes, step, args.warmup, args.max_steps)

    def out_of_budget() -> bool:  # every rank stops at the same step
        return runtime.any_true(bool(args.cpu_minutes) and used_minutes() >= args.cpu_minutes
                                or bool(args.max_steps) and step >= args.max_steps)

    def validate() -> dict:
        metrics = evaluate_loss(net, validation, vocab, runtime.device, column=0, name="val")
        metrics.update(evaluate_loss(net, teacher_held_out, vocab, runtime.device, column=1, name="teacher"))
        return metrics

    def write_model(metrics: dict) -> None:
        net.save_pretrained(args.out, int8=args.int8_weights)
        stats.update(steps=step, cpu_minutes=round(used_minutes(), 1), **metrics,
                     command="python -m core.xiangqi.train " + " ".join(sys.argv[1:] if argv is None else argv))
        (args.out / "training_stats.json").write_text(json.dumps(stats, ensure_ascii=False, indent=1), encoding="utf-8")

    def save() -> None:
        progress.update(step=step, cpu_minutes=used_minutes())
        state.save(model, optimizer, progress, runtime)

    if args.init and step == 0 and runtime.is_main:  # the starting point, to compare the run's checks with
        training.log_line(runtime, log_file, event="dev", step=0, **validate())
    bar = tqdm(total=100, desc="training (% of schedule)", unit="%", mininterval=30, disable=not runtime.is_main)
    running, stop = None, out_of_budget()
    while not stop:
        epoch, offset = divmod(step, steps_per_epoch)
        for batch in epoch_batches(epoch)[offset:]:
            lr = training.warmup_cosine(step, args.lr, args.warmup, schedule_progress())
            training.set_lr(optimizer, lr)
            rng = random.Random(f"{args.seed}-{step}-{runtime.rank}")  # per step: resuming replays the same draws
            rows = [master[i] for i in batch] + rng.choices(teacher_train, k=rows_from_teachers)
            inputs, input_boards, targets = make_batch(rows, vocab, args.block_size, rng)
            with runtime.autocast():
                logits = model(inputs.to(runtime.device), input_boards.to(runtime.device))
            log_probs, mask = target_log_probs(logits, targets.to(runtime.device))
            loss = -log_probs[mask].mean()
            training.optimizer_step(model, optimizer, loss)
            step += 1
            running = loss.item() if running is None else 0.95 * running + 0.05 * loss.item()
            bar.update(max(0, round(100 * min(1.0, schedule_progress())) - bar.n))
            if step % LOG_EVERY == 0:
                training.log_line(runtime, log_file, event="train", step=step, epoch=round(step / steps_per_epoch, 2),
                                  loss=round(running, 4), lr=round(lr, 7), cpu_minutes=round(used_minutes(), 2))
            if step % EVAL_EVERY == 0 and runtime.is_main:  # counts against --cpu-minutes, like the training
                metrics = validate()
                training.log_line(runtime, log_file, event="dev", step=step, **metrics)
                write_model(metrics)
            finished = out_of_budget()
            if state.stop_if_asked(save, runtime, log_file, step):
                return
            if state.due(300) or finished:
                save()
            if finished:
                stop = True
                break
    bar.close()

    stats.update(replicas_identical=training.replicas_identical(model, runtime), processes=runtime.world_size)
    if runtime.is_main:
        metrics = validate()
        write_model(metrics)
        training.log_line(runtime, log_file, event="done", out=str(args.out), **stats)
    runtime.barrier()
    training.teardown(runtime)


if __name__ == "__main__":
    main()
