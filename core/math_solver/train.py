"""Train the math solver: problem with placeholders → equation with placeholders.

    python -m core.math_solver.train                       # small T5 from scratch, CPU is fine
    python -m core.math_solver.train --init assets/math_solver --cpu-minutes 60   # continue the bundle
    python -m core.math_solver.train --preset gpu --cpu-minutes 8   # a larger T5 for 8 wall minutes on one GPU
    python -m core.math_solver.train --denoise --texts ../shared/data/math_extra/hmwp/trainset.json.xz \
        --cpu-minutes 20 --out runs/math_solver/denoiser  # self-supervised pretraining, then train --init it
    torchrun --nproc_per_node 2 -m core.math_solver.train  # the same run on 2 processes (DDP)

Training data: Ape210K valid and the full Math23K by default (the Ape210K train set, 200k
problems, is not available here; pass it with ``--train`` when you have it), deduplicated against
the Ape210K test set by problem text, which is never trained on. ``--dev-size`` Math23K problems
that no earlier bundle trained on are held out as the development set (``data.split_dev``); every
choice is made on it. With ``--denoise`` the model learns no equations: it is pretrained by T5's
span corruption (``data.span_corrupt``) on the problem texts of the training split and of ``--texts``
(any format; dev and test problems excluded), and its checkpoint is an ``--init`` for equation training.
The run is resumable: the state is saved to ``--state-dir`` every few minutes
and on SIGTERM, and the same command continues from it.
"""

from __future__ import annotations

import argparse
import copy
import json
import random
import sys
from collections import defaultdict
from pathlib import Path

import torch
from tqdm import tqdm

from core import checkpoints, training
from core.math_solver import data, expression, normalize, model as solver_model

# Named settings a run starts from; explicit options override them.
PRESETS = {
    "cpu": {"batch_size": 16, "lr": 3e-4, "epochs": 30},
    # One GPU: a 2x wider, deeper T5 (fp32 weights ~200 MB, not bundled as is). On an H200 (2026-12-04, another
    # run sharing the GPU) 4 wall minutes gave 1,573 steps and 44.9% greedy dev accuracy, still rising; peak lr 1e-3
    # diverged (NaN loss) there, 5e-4 gave 42.8%.
    "gpu": {"batch_size": 128, "lr": 3e-4, "epochs": 60, "d_model": 512, "layers": 6, "decoder_layers": 4,
            "heads": 8, "d_ff": 2048, "dropout": 0.1, "warmup": 300, "cpu_minutes": None, "dev_every": 2000},
}


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--preset", choices=sorted(PRESETS), default="cpu", help="named settings (options given override them)")
    p.add_argument("--train", nargs="+", type=Path, default=list(data.DEFAULT_TRAIN),
                   help="Ape210K / Math23K / HMWP / CM17K files to train on (JSON lines or arrays, plain or .xz; "
                        "HMWP / CM17K last, so that their copies of earlier problems are dropped)")
    p.add_argument("--test", type=Path, default=data.APE_TEST,
                   help="test file whose problems are removed from training (by text)")
    p.add_argument("--out", type=Path, default=Path("runs/math_solver/model"), help="checkpoint directory written at the end")
    p.add_argument("--state-dir", type=Path, default=Path("runs/math_solver/state"), help="resumable training state and log")
    p.add_argument("--init", default=None,
                   help="start from a checkpoint: assets/math_solver (continue the bundle), a local (m)T5 directory, "
                        "or a Hub id such as google/mt5-small")
    p.add_argument("--epochs", type=float)
    p.add_argument("--batch-size", type=int, help="per process")
    p.add_argument("--lr", type=float, help="peak learning rate (1e-3 made the small T5 from scratch stall)")
    p.add_argument("--warmup", type=int, help="warm-up steps (default 100)")
    p.add_argument("--dropout", type=float, help="dropout of a model trained from scratch (default 0)")
    p.add_argument("--d-model", type=int, help="width of a model trained from scratch (default 256)")
    p.add_argument("--layers", type=int, help="encoder layers of a model trained from scratch (default 3)")
    p.add_argument("--decoder-layers", type=int, help="decoder layers (default 2)")
    p.add_argument("--heads", type=int, help="attention heads (default 4)")
    p.add_argument("--d-ff", type=int, help="feed-forward width (default 512)")
    p.add_argument("--denoise", action="store_true",
                   help="self-supervised pretraining by span corruption of the problem texts instead of equation training")
    p.add_argument("--texts", nargs="+", type=Path, default=[],
                   help="with --denoise: more problem files (any format) whose texts are denoised too")
    p.add_argument("--dev-size", type=int, default=data.DEV_SIZE, help="new Math23K problems held out as the development set")
    p.add_argument("--dev-every", type=int, help="log the greedy dev accuracy every this many steps (0: only at the end)")
    p.add_argument("--cpu-minutes", type=float,
                   help="compute budget: stop (and save) after this much process CPU time (wall time on a GPU); the learning-rate "
                        "schedule then ends at whichever comes first, the budget or the last epoch")
    p.add_argument("--keep-best", action="store_true",
                   help="write the checkpoint with the best greedy dev accuracy (checked every --dev-every steps and at the end)")
    p.add_argument("--save-fp16", action="store_true", help="write half-precision weights (for bundling)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    args = p.parse_args(argv)
    defaults = {"epochs": 30, "batch_size": 16, "lr": 3e-4, "warmup": 100, "dropout": 0.0, "d_model": 256, "layers": 3,
                "decoder_layers": 2, "heads": 4, "d_ff": 512, "dev_every": 0, "cpu_minutes": None}
    training.apply_preset(args, defaults, PRESETS[args.preset])
    if args.texts and not args.denoise:
        p.error("--texts are read only with --denoise (equations are learnt from --train)")
    if args.denoise and (args.keep_best or args.dev_every):
        p.error("--denoise measures no dev accuracy: drop --keep-best and --dev-every")
    return args


def pad(rows: list[list[int]], value: int) -> torch.Tensor:
    out = torch.full((len(rows), max(map(len, rows))), value, dtype=torch.long)
    for i, row in enumerate(rows):
        out[i, : len(row)] = torch.tensor(row)
    return out


def dev_accuracy(solver: solver_model.Solver, examples: list[data.Example], batch_size: int = 64) -> dict[str, float]:
    """Greedy answer accuracy on held-out problems, overall and per source file."""
    correct, counts = defaultdict(int), defaultdict(int)
    for start in range(0, len(examples), batch_size):
        chunk = examples[start : start + batch_size]
        problems = [normalize.encode_problem(e.text) for e in chunk]
        for example, solution in zip(chunk, solver.solve_many(problems, beams=1)):
            gold = expression.evaluate_tree(expression.substitute(expression.parse(example.target), solution.problem.values))
            right = solution.best is not None and solution.best.value == gold
            for key in ("all", example.origin):
                correct[key] += right
                counts[key] += 1
    return {key: round(correct[key] / counts[key], 4) for key in counts}


def scratch_config(args, vocab_size: int):
    config = solver_model.small_config(vocab_size, args.dropout)
    config.d_model, config.d_ff, config.num_heads = args.d_model, args.d_ff, args.heads
    config.num_layers, config.num_decoder_layers = args.layers, args.decoder_layers
    config.d_kv = args.d_model // args.heads
    return config


def initial_model(args, texts: list[str]):
    """(model, tokenizer): a fresh T5 with a vocabulary from the training ``texts`` (and the span-corruption
    sentinels with --denoise), or --init."""
    if args.init:
        directory = checkpoints.locate("math_solver", args.init)
        model, tokenizer = solver_model.load_model(directory), solver_model.load_tokenizer(directory)
    else:
        tokenizer = solver_model.CharTokenizer.build(texts)
        tokenizer = tokenizer.with_sentinels() if args.denoise else tokenizer
        model = solver_model.T5ForConditionalGeneration(scratch_config(args, len(tokenizer)))
    if args.denoise and not (isinstance(tokenizer, solver_model.CharTokenizer) and tokenizer.sentinel_ids()):
        raise ValueError(f"--denoise needs a vocabulary with span-corruption sentinels; {args.init} has none")
    return model, tokenizer


def denoising_pairs(sources: list[list[int]], sentinels: list[int], eos: int, rng: random.Random):
    """(inputs, labels) of :func:`data.span_corrupt` for encoded texts that end in eos."""
    pairs = [data.span_corrupt(ids[:-1], sentinels, rng) for ids in sources]
    return [source + [eos] for source, _ in pairs], [target + [eos] for _, target in pairs]


@torch.no_grad()
def denoising_loss(net, tokenizer, sources: list[list[int]], batch_size: int = 64) -> float:
    """Mean span-corruption loss on held-out texts, the same masks every time (seed 0)."""
    net.eval()
    rng, total = random.Random(0), 0.0
    for start in range(0, len(sources), batch_size):
        inputs, labels = denoising_pairs(sources[start : start + batch_size], tokenizer.sentinel_ids(), tokenizer.eos_token_id, rng)
        input_ids = pad(inputs, tokenizer.pad_token_id)
        loss = net(input_ids=input_ids, attention_mask=(input_ids != tokenizer.pad_token_id).long(), labels=pad(labels, -100)).loss
        total += loss.item() * len(inputs)
    net.train()
    return round(total / len(sources), 4)


# What a resumed run must share with the run that saved the state (budgets may grow).
RUN_KEYS = ("train", "test", "init", "denoise", "texts", "batch_size", "lr", "warmup", "dropout", "d_model", "layers", "decoder_layers",
            "heads", "d_ff", "dev_size", "seed")


def main(argv=None) -> None:
    args = parse_args(argv)
    runtime = training.setup(args.seed, args.threads)
    log_file = args.state_dir / "log.jsonl"

    train, dev, dropped = data.training_and_dev(args.train, args.test, args.dev_size)
    random.Random(args.seed).shuffle(train)
    stats = {"train": len(train), "dev": len(dev), "dropped": dict(dropped.most_common()),
             "train_per_source": {k: sum(e.origin == k for e in train) for k in sorted({e.origin for e in train})}}
    texts = [e.source for e in train]
    if args.denoise:
        seen = data.test_texts(args.test) | {e.text for e in train + dev}
        more, more_dropped = data.unlabeled_sources(args.texts, seen)
        texts += more
        stats.update(denoise_texts=len(texts), texts_dropped=dict(more_dropped.most_common()))
    training.log_line(runtime, log_file, event="data", **stats)

    score_key = "dev_denoising_loss" if args.denoise else "dev_accuracy_greedy"
    net, tokenizer = initial_model(args, texts)
    model = training.wrap(net.train(), runtime)
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.01)
    sources = [tokenizer.encode(text, solver_model.MAX_SOURCE_TOKENS) for text in texts]
    if args.denoise:
        sources = [ids for ids in sources if len(ids) > 2]  # span corruption needs two tokens besides eos
        dev_sources = [tokenizer.encode(e.source, solver_model.MAX_SOURCE_TOKENS) for e in dev]
    else:
        targets = [tokenizer.encode(e.target, solver_model.MAX_TARGET_TOKENS) for e in train]

    def batch_pairs(batch: list[int], step: int) -> tuple[list[list[int]], list[list[int]]]:
        if not args.denoise:
            return [sources[i] for i in batch], [targets[i] for i in batch]
        rng = random.Random(args.seed * 1_000_003 + step)  # the same masks when a run resumes
        return denoising_pairs([sources[i] for i in batch], tokenizer.sentinel_ids(), tokenizer.eos_token_id, rng)

    def epoch_batches(epoch: int) -> list[list[int]]:
        rng = random.Random(args.seed * 1000 + epoch)  # the same on every rank, then sharded
        return training.shard(training.length_bucketed_batches([len(s) for s in sources], args.batch_size, rng), runtime)

    steps_per_epoch = len(epoch_batches(0))
    total = int(args.epochs * steps_per_epoch)
    state, progress = training.resume_epoch_run(args, RUN_KEYS, model, optimizer, runtime, log_file)
    step, cpu_before = progress["step"], progress["cpu_minutes"]

    def schedule_progress() -> float:
        return training.budget_or_step_progress(training.budget_minutes(runtime, cpu_before), args.cpu_minutes, step, args.warmup, total)

    def save() -> None:
        progress.update(step=step, cpu_minutes=training.budget_minutes(runtime, cpu_before))
        state.save(model, optimizer, progress, runtime)

    def write_model(directory: Path, scores: dict | float) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        (copy.deepcopy(net).half() if args.save_fp16 else net).save_pretrained(directory)
        tokenizer.save_pretrained(directory)
        stats.update(steps=step, cpu_minutes=round(training.budget_minutes(runtime, cpu_before), 1), **{score_key: scores},
                     command="python -m core.math_solver.train " + " ".join(sys.argv[1:] if argv is None else argv))
        (directory / "training_stats.json").write_text(json.dumps(stats, ensure_ascii=False, indent=1), encoding="utf-8")

    def log_dev() -> None:
        """Greedy dev accuracy; with --keep-best the best checkpoint so far is written to --out."""
        if runtime.is_main:
            scores = dev_accuracy(solver_model.Solver(net, tokenizer, runtime.device), dev)
            training.log_line(runtime, log_file, event="dev", step=step, dev_accuracy_greedy=scores)
            if args.keep_best and scores["all"] > progress["best_dev"]:
                progress["best_dev"] = scores["all"]
                write_model(args.out, scores)
                training.log_line(runtime, log_file, event="best", step=step, out=str(args.out))
            net.train()  # the Solver put the model in eval mode
        runtime.barrier()

    bar = tqdm(total=total, initial=step, desc="train", mininterval=30, disable=not runtime.is_main)
    running, stop = None, False
    while step < total and not stop:
        epoch, offset = divmod(step, steps_per_epoch)
        for batch in epoch_batches(epoch)[offset:]:
            lr = training.warmup_cosine(step, args.lr, args.warmup, schedule_progress())
            training.set_lr(optimizer, lr)
            inputs, labels = batch_pairs(batch, step)
            labels = pad(labels, -100).to(runtime.device)
            input_ids = pad(inputs, tokenizer.pad_token_id).to(runtime.device)
            with runtime.autocast():
                loss = model(input_ids=input_ids, attention_mask=(input_ids != tokenizer.pad_token_id).long(), labels=labels).loss
            training.optimizer_step(model, optimizer, loss)
            step += 1
            bar.update(1)
            running = loss.item() if running is None else 0.98 * running + 0.02 * loss.item()
            if step % 100 == 0:
                training.log_line(runtime, log_file, event="train", step=step, total=total,
                                  epoch=round(step / steps_per_epoch, 2), loss=round(running, 4), lr=round(lr, 7),
                                  cpu_minutes=round(training.budget_minutes(runtime, cpu_before), 1))
            if args.dev_every and step % args.dev_every == 0:  # counts against --cpu-minutes, like the training
                log_dev()
            out_of_budget = runtime.any_true(bool(args.cpu_minutes) and training.budget_minutes(runtime, cpu_before) >= args.cpu_minutes)
            if state.stop_if_asked(save, runtime, log_file, step):
                return
            if state.due(300) or step >= total or out_of_budget:
                save()
            if step >= total or out_of_budget:
                stop = True
                break
    bar.close()

    stats.update(replicas_identical=training.replicas_identical(model, runtime), processes=runtime.world_size)
    if runtime.is_main:
        if args.denoise:
            scores = denoising_loss(net, tokenizer, dev_sources)
        else:
            scores = dev_accuracy(solver_model.Solver(net, tokenizer, runtime.device), dev)
        if not args.keep_best or scores["all"] > progress["best_dev"]:
            write_model(args.out, scores)
        training.log_line(runtime, log_file, event="done", out=str(args.out), **{"final_" + score_key: scores},
                          best_dev=progress["best_dev"], **stats)
    runtime.barrier()
    training.teardown(runtime)


if __name__ == "__main__":
    main()
