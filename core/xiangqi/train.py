"""Train the move GPT on master games: ``python -m core.xiangqi.train --help``.

What makes a small model learn the most per CPU minute here:
* one token per move (sequences of ~86 tokens instead of ~344 characters);
* the position after each move as board tokens summed into its input (``vocab.board_tokens``),
  so the model need not rebuild the board from the moves;
* each game is mirrored left-right with probability 1/2 (the rules are symmetric in files a<->i);
* batches of games of similar length, so little compute goes to padding;
* the learning-rate schedule runs on a CPU-time budget (``--budget-minutes``), so the cosine
  decay ends exactly when the budget is spent, whatever else shares the machine; ``--max-steps``
  makes the schedule step-based instead (for exact reruns or a GPU).
The result token is replaced by ``[UNKNOWN]`` in a quarter of the games, so the model also
predicts moves when the result is not given. With ``--lessons``, a share of every batch comes
from tactical lessons (``core.xiangqi.lessons``): the model's own games, labelled with the
search mode's move. The run is resumable: rerun the same command.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from tqdm import tqdm

from core.checkpoints import ASSETS_DIR, device as default_device
from core.xiangqi.data import DEFAULT_GAMES, DEFAULT_WORK_DIR, cached_games
from core.xiangqi.model import GPTConfig, MoveGPT, load_model, save_checkpoint
from core.xiangqi.lessons import load_lessons
from core.xiangqi.vocab import NO_PIECE, NO_TARGET, UNKNOWN, MoveVocab, mirrored_board_tokens

MIRRORED_BOARD_TOKENS = torch.tensor(mirrored_board_tokens())

LOG_EVERY, EVAL_EVERY = 25, 200
LESSON_VALIDATION_EVERY = 20  # lesson game i is held out when i % 20 == 0


def length_bucketed_batches(games: list[list[int]], batch_size: int, rng: random.Random) -> list[list[int]]:
    """Shuffle, sort each window of 50 batches by length, cut into batches, shuffle the batches."""
    order = list(range(len(games)))
    rng.shuffle(order)
    window = batch_size * 50
    batches = []
    for start in range(0, len(order), window):
        chunk = sorted(order[start : start + window], key=lambda i: len(games[i]))
        batches += [chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size)]
    rng.shuffle(batches)
    return batches


def make_batch(
    games: list[list[int]], boards: list[torch.Tensor], vocab: MoveVocab, block_size: int,
    rng: random.Random | None = None, targets: list[list[int]] | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Inputs, their board tokens and next-token targets (PAD-filled, NO_TARGET where there is nothing to predict).

    Each move is the target of the token before it, unless ``targets[i]`` (aligned with ``games[i][1:]``) says
    otherwise, as a lesson's teacher moves do. With ``rng`` (training), games are mirrored and their result hidden
    at random.
    """
    unknown = vocab.index[UNKNOWN]
    length = min(block_size, max(len(g) - 1 for g in games))
    inputs = torch.full((len(games), length), vocab.pad_id, dtype=torch.long)
    input_boards = torch.full((len(games), length, boards[0].shape[1]), NO_PIECE, dtype=torch.long)
    batch_targets = torch.full((len(games), length), NO_TARGET, dtype=torch.long)
    for row, (game, game_boards) in enumerate(zip(games, boards)):
        wanted = game[1:] if targets is None else targets[row]
        game, wanted, game_boards = game[: length + 1], wanted[:length], game_boards[:length].long()
        if rng is not None:
            if rng.random() < 0.5:
                game, game_boards = [vocab.mirror_ids[t] for t in game], MIRRORED_BOARD_TOKENS[game_boards]
                wanted = [t if t == NO_TARGET else vocab.mirror_ids[t] for t in wanted]
            if rng.random() < 0.25:
                game = [unknown] + game[1:]
        inputs[row, : len(game) - 1] = torch.tensor(game[:-1])
        input_boards[row, : len(game) - 1] = game_boards[: len(game) - 1]
        batch_targets[row, : len(wanted)] = torch.tensor(wanted)
    return inputs, input_boards, batch_targets


@torch.no_grad()
def evaluate_loss(model: MoveGPT, games: list[list[int]], boards: list[torch.Tensor], vocab: MoveVocab, dev,
                  batch_size: int = 64, targets: list[list[int]] | None = None, name: str = "val") -> dict:
    """Mean next-move cross-entropy and top-1 accuracy over the given games (full vocabulary)."""
    if not games:
        return {}
    model.eval()
    total_loss, correct, count = 0.0, 0, 0
    for start in range(0, len(games), batch_size):
        inputs, input_boards, batch_targets = make_batch(
            games[start : start + batch_size], boards[start : start + batch_size], vocab, model.config.block_size,
            targets=None if targets is None else targets[start : start + batch_size])
        inputs, batch_targets = inputs.to(dev), batch_targets.to(dev)
        logits = model(inputs, input_boards.to(dev))
        mask = batch_targets != NO_TARGET
        total_loss += F.cross_entropy(logits[mask], batch_targets[mask], reduction="sum").item()
        correct += (logits[mask].argmax(-1) == batch_targets[mask]).sum().item()
        count += mask.sum().item()
    model.train()
    return {f"{name}_loss": total_loss / count, f"{name}_top1": correct / count, f"{name}_positions": count}


def learning_rate(progress: float, peak: float, warmup: float = 0.03, floor: float = 0.1) -> float:
    """Linear warm-up over the first 3% of the run, then cosine decay to 10% of the peak."""
    if progress < warmup:
        return peak * progress / warmup
    cosine = 0.5 * (1 + math.cos(math.pi * min(1.0, (progress - warmup) / (1 - warmup))))
    return peak * (floor + (1 - floor) * cosine)


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--games", type=Path, default=DEFAULT_GAMES, help="CCPD games in ICCS (JSONL, .xz ok)")
    p.add_argument("--work-dir", type=Path, default=DEFAULT_WORK_DIR, help="cache, resumable state, log")
    p.add_argument("--out", type=Path, default=ASSETS_DIR / "xiangqi", help="checkpoint directory to write")
    p.add_argument("--init", type=Path, default=None,
                   help="start from the weights of this checkpoint (e.g. assets/xiangqi) instead of random ones; "
                        "--layers/--heads/--embd/--block-size are then taken from it")
    p.add_argument("--lessons", type=Path, nargs="*", default=[],
                   help="lesson files of core.xiangqi.lessons (positions labelled with the search mode's move), "
                        "mixed into every batch; 1 lesson game in 20 is held out to measure agreement with the teacher")
    p.add_argument("--lesson-share", type=float, default=0.25, help="fraction of each batch drawn from the lessons")
    p.add_argument("--budget-minutes", type=float, default=17.0, help="CPU minutes of training (schedule length)")
    p.add_argument("--max-steps", type=int, default=0, help="step-based schedule instead of the CPU budget")
    p.add_argument("--layers", type=int, default=4)
    p.add_argument("--heads", type=int, default=4)
    p.add_argument("--embd", type=int, default=192)
    p.add_argument("--block-size", type=int, default=160, help="context in tokens (result token + plies)")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--weight-decay", type=float, default=0.1)
    p.add_argument("--eval-games", type=int, default=300, help="validation games for the periodic check")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    p.add_argument("--seed", type=int, default=0)
    return p.parse_args(argv)


def main(argv=None) -> None:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    dev = default_device()
    vocab = MoveVocab.build()
    games = cached_games(args.games, vocab, args.work_dir)
    print(json.dumps({"train_games": len(games.train), "validation_games": len(games.validation),
                      "dropped": dict(games.dropped)}), flush=True)
    eval_games, eval_boards = games.validation[: args.eval_games], games.validation_boards[: args.eval_games]
    if not 0 <= args.lesson_share < 1:
        raise ValueError(f"--lesson-share must be at least 0 and below 1, got {args.lesson_share}")
    lesson_games, lesson_boards, lesson_targets = load_lessons(args.lessons)
    lesson_train = [i for i in range(len(lesson_games)) if i % LESSON_VALIDATION_EVERY]
    lesson_eval = list(range(0, len(lesson_games), LESSON_VALIDATION_EVERY))
    lesson_rows = round(args.batch_size * args.lesson_share) if lesson_train else 0
    if lesson_games:
        print(json.dumps({"lesson_games": len(lesson_train), "held_out_lesson_games": len(lesson_eval),
                          "lesson_rows_per_batch": lesson_rows}), flush=True)

    if args.init:
        model, init_vocab = load_model(args.init, dev)
        if init_vocab.tokens != vocab.tokens:
            raise ValueError(f"{args.init} has another move vocabulary than this code builds")
        config = model.config
    else:
        config = GPTConfig(len(vocab), args.block_size, args.layers, args.heads, args.embd)
        model = MoveGPT(config).to(dev)
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.dim() < 2]
    optimizer = torch.optim.AdamW(
        [{"params": decay, "weight_decay": args.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
        lr=args.lr, betas=(0.9, 0.95),
    )
    state_path = args.work_dir / "train_state.pt"
    step, cpu_used, epoch = 0, 0.0, 0
    if state_path.is_file():
        state = torch.load(state_path, map_location=dev)
        if state["config"] != vars(config):
            raise ValueError(f"{state_path} was written for another model shape; move it away to start over")
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        step, cpu_used, epoch = state["step"], state["cpu_used"], state["epoch"]
        print(f"resumed at step {step} ({cpu_used / 60:.1f} CPU minutes used)", flush=True)

    def progress() -> float:
        return step / args.max_steps if args.max_steps else cpu_used / (60 * args.budget_minutes)

    def validate() -> dict:
        metrics = evaluate_loss(model, eval_games, eval_boards, vocab, dev)
        if lesson_eval:
            metrics.update(evaluate_loss(model, [lesson_games[i] for i in lesson_eval], [lesson_boards[i] for i in lesson_eval],
                                         vocab, dev, targets=[lesson_targets[i] for i in lesson_eval], name="lesson"))
        return metrics

    def save(metrics: dict) -> None:
        torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(), "config": vars(config),
                    "step": step, "cpu_used": cpu_used, "epoch": epoch}, state_path)
        save_checkpoint(model, vocab, args.out, extra={"training": {
            "step": step, "cpu_minutes": round(cpu_used / 60, 1), "train_games": len(games.train),
            "mirrored": True, **({"lesson_games": len(lesson_train), "lesson_share": args.lesson_share} if lesson_rows else {}),
            **metrics}})

    if args.init and step == 0:  # the starting point, to compare the run's checks with
        print(json.dumps({"step": 0, **validate()}), flush=True)
    model.train()
    bar = tqdm(total=100, desc="training (% of schedule)", unit="%", mininterval=10)
    while progress() < 1.0:
        rng = random.Random(args.seed * 1000 + epoch)  # a fixed order per epoch makes resuming exact
        batches = length_bucketed_batches(games.train, args.batch_size - lesson_rows, rng)
        skip = step - epoch * len(batches) if step > epoch * len(batches) else 0
        for batch_ids in batches[skip:]:
            started = time.process_time()
            lr = learning_rate(progress(), args.lr)
            for group in optimizer.param_groups:
                group["lr"] = lr
            lesson_ids = random.Random(f"{args.seed}-{step}").choices(lesson_train, k=lesson_rows)
            inputs, input_boards, targets = make_batch(
                [games.train[i] for i in batch_ids] + [lesson_games[i] for i in lesson_ids],
                [games.train_boards[i] for i in batch_ids] + [lesson_boards[i] for i in lesson_ids],
                vocab, args.block_size, rng,
                targets=[games.train[i][1:] for i in batch_ids] + [lesson_targets[i] for i in lesson_ids])
            logits = model(inputs.to(dev), input_boards.to(dev))
            loss = F.cross_entropy(logits.view(-1, logits.shape[-1]), targets.to(dev).view(-1), ignore_index=NO_TARGET)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            step += 1
            cpu_used += time.process_time() - started
            bar.n = round(100 * min(1.0, progress()))
            bar.refresh()
            if step % LOG_EVERY == 0:
                print(json.dumps({"step": step, "epoch": epoch, "loss": round(loss.item(), 4), "lr": round(lr, 6),
                                  "cpu_minutes": round(cpu_used / 60, 2)}), flush=True)
            if step % EVAL_EVERY == 0:
                metrics = validate()
                print(json.dumps({"step": step, **metrics}), flush=True)
                save(metrics)
            if progress() >= 1.0:
                break
        else:
            epoch += 1
    metrics = validate()
    save(metrics)
    print(json.dumps({"step": step, "final": True, **metrics}), flush=True)


if __name__ == "__main__":
    main()
