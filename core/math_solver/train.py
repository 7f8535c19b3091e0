"""Train the math solver: problem with placeholders → equation with placeholders.

    python -m core.math_solver.train                       # small T5 from scratch, CPU is fine
    python -m core.math_solver.train --init google/mt5-small --train FILE ... --lr 3e-4   # GPU

Training data: Ape210K valid and both Math23K files by default (the Ape210K train set, 200k
problems, is not available here; pass it with ``--train`` when you have it), deduplicated against
the Ape210K test set by problem text, which is never trained on. A few hundred problems are held
out as a development set. The run is resumable: the state is saved to ``--state-dir`` every few
minutes and on exit, and the same command continues from it.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import random
import signal
import threading
import time
from pathlib import Path

import torch
from tqdm import tqdm

from core import checkpoints
from core.math_solver import data, expression, normalize, model as solver_model

log = logging.getLogger("math_solver.train")


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--train", nargs="+", type=Path, default=[data.APE_VALID, *data.MATH23K_FILES],
                   help="Ape210K (.ape.json lines) or Math23K (JSON array) files to train on")
    p.add_argument("--test", type=Path, default=data.APE_TEST,
                   help="test file whose problems are removed from training (by text)")
    p.add_argument("--out", type=Path, default=Path("runs/math_solver/model"), help="checkpoint directory written at the end")
    p.add_argument("--state-dir", type=Path, default=Path("runs/math_solver/state"), help="resumable training state")
    p.add_argument("--init", default=None,
                   help="start from a pretrained (m)T5 checkpoint: Hub id such as google/mt5-small or a local directory")
    p.add_argument("--epochs", type=float, default=30)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--dropout", type=float, default=0.0, help="dropout of the small model trained from scratch")
    p.add_argument("--lr", type=float, default=3e-4,
                   help="peak learning rate (1e-3 made the small T5 from scratch stall at a high training loss)")
    p.add_argument("--warmup", type=int, default=100, help="warm-up steps")
    p.add_argument("--dev-size", type=int, default=200, help="training problems held out to measure progress")
    p.add_argument("--dev-every", type=int, default=0, help="log the greedy dev accuracy every this many steps (0: only at the end)")
    p.add_argument("--cpu-minutes", type=float, default=None,
                   help="compute budget: stop (and save) after this much process CPU time; the learning-rate "
                        "schedule then ends at whichever comes first, the budget or the last epoch")
    p.add_argument("--save-fp16", action="store_true", help="write half-precision weights (for bundling)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    return p.parse_args(argv)


def length_bucketed_batches(lengths: list[int], batch_size: int, rng: random.Random) -> list[list[int]]:
    """Shuffled batches of similar length (little padding), in random order."""
    order = list(range(len(lengths)))
    rng.shuffle(order)
    pool = batch_size * 50
    batches = []
    for start in range(0, len(order), pool):
        chunk = sorted(order[start : start + pool], key=lengths.__getitem__)
        batches += [chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size)]
    rng.shuffle(batches)
    return batches


def pad(rows: list[list[int]], value: int) -> torch.Tensor:
    out = torch.full((len(rows), max(map(len, rows))), value, dtype=torch.long)
    for i, row in enumerate(rows):
        out[i, : len(row)] = torch.tensor(row)
    return out


def learning_rate(step: int, peak: float, warmup: int, progress: float) -> float:
    """Linear warm-up, then cosine decay to 10% of the peak as ``progress`` goes from 0 to 1."""
    if step < warmup:
        return peak * (step + 1) / warmup
    return peak * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, progress))))


def dev_accuracy(solver: solver_model.Solver, examples: list[data.Example], batch_size: int = 64) -> float:
    """Greedy answer accuracy on held-out training-distribution problems."""
    correct = 0
    for start in range(0, len(examples), batch_size):
        chunk = examples[start : start + batch_size]
        problems = [normalize.encode_problem(e.text) for e in chunk]
        for example, solution in zip(chunk, solver.solve_many(problems, beams=1)):
            gold = expression.evaluate_tree(expression.substitute(expression.parse(example.target), solution.problem.values))
            best = solution.best
            correct += best is not None and best.value == gold
    return correct / max(1, len(examples))


def initial_model(args, examples: list[data.Example]):
    """(model, tokenizer): a fresh small T5 with a vocabulary from the training problems, or --init."""
    if args.init:
        directory = checkpoints.locate("math_solver", args.init)
        return solver_model.load_model(directory), solver_model.load_tokenizer(directory)
    tokenizer = solver_model.CharTokenizer.build([e.source for e in examples])
    return solver_model.T5ForConditionalGeneration(solver_model.small_config(len(tokenizer), args.dropout)), tokenizer


def main(argv=None) -> None:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    device = checkpoints.device()

    test_texts = {item["original_text"].strip() for item in data.read_problems(args.test)} if args.test.is_file() else set()
    examples, dropped = data.build_training_set(args.train, test_texts)
    random.Random(args.seed).shuffle(examples)
    dev, train = examples[: args.dev_size], examples[args.dev_size :]
    stats = {"train": len(train), "dev": len(dev), "dropped": dict(dropped.most_common())}
    log.info("data: %s", json.dumps(stats, ensure_ascii=False))

    args.state_dir.mkdir(parents=True, exist_ok=True)
    state_file = args.state_dir / "state.pt"
    net, tokenizer = initial_model(args, train)
    net.to(device).train()
    optimizer = torch.optim.AdamW(net.parameters(), lr=args.lr, weight_decay=0.01)
    sources = [tokenizer.encode(e.source, solver_model.MAX_SOURCE_TOKENS) for e in train]
    targets = [tokenizer.encode(e.target, solver_model.MAX_TARGET_TOKENS) for e in train]
    steps_per_epoch = math.ceil(len(train) / args.batch_size)
    total = int(args.epochs * steps_per_epoch)

    step, cpu_before = 0, 0.0
    if state_file.is_file():
        state = torch.load(state_file, map_location=device)
        net.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        step, cpu_before = state["step"], state["cpu_seconds"]
        log.info("resumed at step %d (%.1f CPU minutes trained)", step, cpu_before / 60)

    def cpu_minutes() -> float:
        return (cpu_before + time.process_time() - cpu_started) / 60

    def progress() -> float:
        by_budget = cpu_minutes() / args.cpu_minutes if args.cpu_minutes else 0.0
        return max(by_budget, (step - args.warmup) / max(1, total - args.warmup))

    def save_state():
        torch.save({"model": net.state_dict(), "optimizer": optimizer.state_dict(), "step": step,
                    "cpu_seconds": cpu_minutes() * 60}, state_file)

    cpu_started, last_save, running, out_of_time = time.process_time(), time.time(), None, False
    interrupted = threading.Event()  # SIGTERM (e.g. `kill`): save the state and stop; rerun to resume
    signal.signal(signal.SIGTERM, lambda *_: interrupted.set())
    bar = tqdm(total=total, initial=step, desc="train", mininterval=30)
    while step < total:
        epoch, offset = divmod(step, steps_per_epoch)
        batches = length_bucketed_batches([len(s) for s in sources], args.batch_size, random.Random(args.seed * 1000 + epoch))
        for batch in batches[offset:]:
            for group in optimizer.param_groups:
                group["lr"] = learning_rate(step, args.lr, args.warmup, progress())
            labels = pad([targets[i] for i in batch], -100)
            input_ids = pad([sources[i] for i in batch], tokenizer.pad_token_id)
            loss = net(input_ids=input_ids.to(device), attention_mask=(input_ids != tokenizer.pad_token_id).long().to(device),
                       labels=labels.to(device)).loss
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
            optimizer.step()
            step += 1
            bar.update(1)
            running = loss.item() if running is None else 0.98 * running + 0.02 * loss.item()
            if step % 100 == 0:
                log.info("step %d/%d epoch %.2f loss %.4f lr %.2e cpu %.1f min", step, total, step / steps_per_epoch,
                         running, optimizer.param_groups[0]["lr"], cpu_minutes())
            if args.dev_every and step % args.dev_every == 0:  # counts against --cpu-minutes, like the training
                log.info("step %d dev accuracy (greedy) %.4f", step, dev_accuracy(solver_model.Solver(net, tokenizer, device), dev))
                net.train()  # the Solver put the model in eval mode
            out_of_time = bool(args.cpu_minutes) and cpu_minutes() >= args.cpu_minutes
            if time.time() - last_save > 300 or step >= total or out_of_time:
                save_state()
                last_save = time.time()
            if interrupted.is_set():
                save_state()
                log.info("interrupted at step %d: state saved in %s, rerun the same command to resume", step, state_file)
                return
            if step >= total or out_of_time:
                break
        if out_of_time:
            log.info("stopping: --cpu-minutes %.1f reached", args.cpu_minutes)
            break
    bar.close()

    net.eval()
    stats["steps"], stats["cpu_minutes"] = step, round(cpu_minutes(), 1)
    stats["dev_accuracy_greedy"] = round(dev_accuracy(solver_model.Solver(net, tokenizer, device), dev), 4)
    log.info("dev accuracy (greedy, %d problems): %.4f", len(dev), stats["dev_accuracy_greedy"])
    args.out.mkdir(parents=True, exist_ok=True)
    if args.save_fp16:
        net.half()
    net.save_pretrained(args.out)
    tokenizer.save_pretrained(args.out)
    (args.out / "training_stats.json").write_text(json.dumps(stats, ensure_ascii=False, indent=1), encoding="utf-8")
    log.info("wrote %s: %s", args.out, json.dumps(stats, ensure_ascii=False))


if __name__ == "__main__":
    main()
