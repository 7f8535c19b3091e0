"""Fine-tune the fluency judge's char LM into a detector of broken text (``core.roformer_sim.detector``).

    ROFORMER_SIM_CHECKPOINT=<run 10> python -m core.roformer_sim.train_detector --cpu-minutes 40 --cpu-bf16 \
        --work runs/detector/work --out runs/detector/model

Real sentences: those the char LM read (``train_char_lm``'s ``chinese_prose_and_bank``: everyday registers and bank
questions, every sentence of the judge's pools and of the STS tests dropped) and modern prose after the judge's and
the LM's dev lines. Broken ones: the judge's fitted kinds (``fluency.FIT_KINDS``), made fresh each step from other real
sentences (20–30 % of the characters substituted, cut short, characters repeated) or drawn from the samples of the
generator that ``ROFORMER_SIM_CHECKPOINT`` names, at top-p 0.95 and at temperature 1.3, from real sentences of this
corpus (never a judge pool's); with ``--synthetic-only``, the synthetic kinds alone. Never shuffles or splices: those
are the judge's held-out kinds. Each step reads as many
broken as real sentences, with a binary cross-entropy on the detector's pooled break log-odds. Every ``--dev-every``
steps the dev AUCs (held-out real sentences against held-out broken ones of each kind) are logged, and the checkpoint
with the best mean AUC over the kinds is kept (int8). Resumable like ``train_char_lm``: the same command continues.
The last stdout line is one JSON object of metrics.
"""

from __future__ import annotations

import argparse
import json
import lzma
import os
import random
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from core import checkpoints, training
from core.roformer_sim import fluency
from core.roformer_sim.char_lm import load
from core.roformer_sim.data import DATA_DIR, JUDGE_LINES, PROSE_FILE
from core.roformer_sim.detector import CharDetector, padded, rows, whole_scores
from core.roformer_sim.train_char_lm import read_chinese_prose_and_bank, read_prose, start_budget_run

GENERATED = {"generated": (1.0, 0.95), "generated_hot": (fluency.HOT_TEMPERATURE, 1.0)}  # (temperature, top-p)
SYNTHETIC = tuple(k for k in fluency.FIT_KINDS if k not in GENERATED)
RUN_KEYS = ("init", "synthetic_only", "batch", "lr", "warmup", "weight_decay", "prose_lines", "dev_real", "dev_sources", "sources", "per_source", "seed",
            "cpu_bf16")


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--init", type=Path, default=fluency.ASSET_DIR / fluency.CHAR_LM_DIR, help="the char LM to start from (default: the bundled one)")
    p.add_argument("--data-dir", type=Path, default=DATA_DIR)
    p.add_argument("--prose", type=Path, default=DATA_DIR / PROSE_FILE)
    p.add_argument("--prose-lines", type=int, default=60_000, help="modern prose lines read, after the judge's and the LM's dev lines")
    p.add_argument("--dev-real", type=int, default=2_000, help="real sentences held out as dev positives")
    p.add_argument("--dev-sources", type=int, default=1_200, help="real sentences held out to make the dev negatives from")
    p.add_argument("--sources", type=int, default=1_500, help="real sentences the generator samples from (plus a tenth for dev)")
    p.add_argument("--per-source", type=int, default=8, help="generator samples per source and setting")
    p.add_argument("--work", type=Path, default=checkpoints.REPO_ROOT / "runs" / "detector" / "work", help="data cache, state, log.jsonl")
    p.add_argument("--out", type=Path, default=checkpoints.REPO_ROOT / "runs" / "detector" / "model", help="best checkpoint (int8)")
    p.add_argument("--synthetic-only", action="store_true",
                   help="broken sentences of the synthetic kinds only, no generator samples (whose question register a "
                        "detector can learn instead of what is broken)")
    p.add_argument("--batch", type=int, default=64, help="real sentences per step (and as many broken ones)")
    p.add_argument("--lr", type=float, default=3e-4)
    p.add_argument("--warmup", type=int, default=100)
    p.add_argument("--weight-decay", type=float, default=0.01)
    p.add_argument("--cpu-minutes", type=float, default=None, help="budget: CPU minutes on the CPU, wall minutes on a GPU")
    p.add_argument("--steps", type=int, default=None, help="budget in optimizer steps (with --cpu-minutes: whichever comes first)")
    p.add_argument("--dev-every", type=int, default=250)
    p.add_argument("--cpu-bf16", action="store_true", help="bf16 autocast on the CPU")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args(argv)
    if args.cpu_minutes is None and args.steps is None:
        p.error("give a budget: --cpu-minutes and/or --steps")
    return args


# ----------------------------------------------------------------------------- data


def prepare(args) -> dict:
    """Real sentences (train, dev), the dev negatives of each kind, the train generator samples and the substitution
    alphabet, cached in ``--work`` (sampling the generator is most of the cost)."""
    cache = args.work / "data.json.xz"
    if cache.is_file():
        with lzma.open(cache, "rt", encoding="utf-8") as f:
            return json.load(f)
    prose = read_prose(args.prose)[JUDGE_LINES + 5_000 : JUDGE_LINES + 5_000 + args.prose_lines]  # past the LM's dev lines
    real = [t for t in dict.fromkeys(read_chinese_prose_and_bank(args.data_dir, args.prose) + prose)
            if fluency.MIN_CHARS <= len(t) <= fluency.MAX_CHARS]
    random.Random(args.seed).shuffle(real)
    held_out, train_real = real[: args.dev_real + args.dev_sources], real[args.dev_real + args.dev_sources :]
    counts: dict[str, int] = {}
    for text in real[:200_000]:
        for ch in text:
            if fluency.is_word_char(ch):
                counts[ch] = counts.get(ch, 0) + 1
    alphabet, weights = list(counts), list(counts.values())
    dev_sources = held_out[args.dev_real :]
    data = {"train_real": train_real, "dev_real": held_out[: args.dev_real], "alphabet": alphabet, "weights": weights,
            "generator": os.environ.get("ROFORMER_SIM_CHECKPOINT", "the bundled generator"), "train_generated": {}, "dev": {}}
    for kind in SYNTHETIC:
        data["dev"][kind] = fluency.negatives(kind, dev_sources, random.Random(f"{args.seed}/dev/{kind}"), alphabet, weights)
    for kind, (temperature, top_p) in GENERATED.items():
        data["train_generated"][kind] = fluency.generated_samples(train_real[: args.sources], args.per_source, args.seed, temperature, top_p)
        data["dev"][kind] = fluency.generated_samples(dev_sources[: max(1, args.sources // 10)], args.per_source, args.seed + 1,
                                                      temperature, top_p)
    args.work.mkdir(parents=True, exist_ok=True)
    partial = cache.with_name(cache.name + ".tmp")
    with lzma.open(partial, "wt", encoding="utf-8") as f:
        json.dump(data, f, ensure_ascii=False)
    os.replace(partial, cache)  # a run stopped while writing leaves no cache that cannot be read
    return data


def broken_batch(data: dict, rng: random.Random, size: int, kinds: tuple[str, ...] = fluency.FIT_KINDS) -> list[str]:
    """``size`` broken sentences, each of one of ``kinds`` drawn uniformly: a synthetic one made from a random real
    sentence, or one of the generator's samples."""
    out = []
    for kind in rng.choices(kinds, k=size):
        if kind in GENERATED:
            out.append(rng.choice(data["train_generated"][kind]))
        else:
            out += fluency.negatives(kind, [rng.choice(data["train_real"])], rng, data["alphabet"], data["weights"])
    return out


def dev_aucs(model: CharDetector, index: dict[str, int], data: dict, kinds: tuple[str, ...] = fluency.FIT_KINDS) -> dict:
    """AUC of the detector's whole score, dev real sentences against each kind of dev broken ones, and the mean over
    the ``kinds`` it is trained on (what picks the checkpoint)."""
    model.eval()
    real = whole_scores(model, index, data["dev_real"])
    result = {kind: round(fluency.auc(real, whole_scores(model, index, texts)), 4) for kind, texts in data["dev"].items()}
    model.train()
    return {**result, "mean": round(float(np.mean([result[kind] for kind in kinds])), 4)}


# ----------------------------------------------------------------------------- run


def main(argv=None) -> dict | None:
    args = parse_args(argv)
    runtime = training.setup(args.seed, args.threads)
    log_file = args.work / "log.jsonl"
    data = prepare(args)
    runtime.started_cpu, runtime.started_wall = time.process_time(), time.monotonic()  # the budget counts training, not sampling
    training.log_line(runtime, log_file, event="data", train_real=len(data["train_real"]), dev_real=len(data["dev_real"]),
                      generator=data["generator"], **{f"train_{k}": len(v) for k, v in data["train_generated"].items()},
                      **{f"dev_{k}": len(v) for k, v in data["dev"].items()})
    kinds = SYNTHETIC if args.synthetic_only else fluency.FIT_KINDS
    lm, index = load(args.init)
    net = CharDetector.from_lm(lm).to(runtime.device).train()
    vocab = list(index)
    optimizer, state, progress, autocast = start_budget_run(net, args, RUN_KEYS, runtime, log_file)
    step, before = progress["step"], progress["minutes"]
    rng = random.Random(f"{args.seed}/{step}")  # a resumed run draws new batches, not the first ones again

    def save() -> None:
        progress.update(step=step, minutes=round(training.budget_minutes(runtime, before), 3))
        state.save(net, optimizer, progress, runtime)

    def used() -> float:
        return training.budget_or_step_progress(training.budget_minutes(runtime, before), args.cpu_minutes, step, args.warmup, args.steps)

    def check_dev() -> None:
        result = dev_aucs(net, index, data, kinds)
        better = progress["best"] is None or result["mean"] > progress["best"]
        if better:
            progress["best"] = result["mean"]
            net.save_pretrained(args.out, vocab, int8=True)
        training.log_line(runtime, log_file, event="dev", step=step, kept=better, **result)

    bar = tqdm(desc="detector", initial=step, mininterval=30, unit=" steps")
    running = None
    while not (bool(args.steps and step >= args.steps) or used() >= 1.0):
        real = rng.sample(data["train_real"], args.batch)
        texts = real + broken_batch(data, rng, args.batch, kinds)
        ids = padded(rows(texts, index, net.config.block_size)).to(runtime.device)
        target = torch.tensor([0.0] * len(real) + [1.0] * (len(texts) - len(real)), device=runtime.device)
        lr = training.warmup_cosine(step, args.lr, args.warmup, used(), floor=0.05)
        training.set_lr(optimizer, lr)
        with autocast:
            loss = F.binary_cross_entropy_with_logits(net.break_logits(ids), target)
        training.optimizer_step(net, optimizer, loss)
        step += 1
        bar.update(1)
        running = loss.item() if running is None else 0.98 * running + 0.02 * loss.item()
        if step % 50 == 0:
            training.log_line(runtime, log_file, event="train", step=step, loss=round(running, 4), lr=round(lr, 7),
                              minutes=round(training.budget_minutes(runtime, before), 2))
        if step % args.dev_every == 0:
            check_dev()
        if state.stop_if_asked(save, runtime, log_file, step):
            return None
        if state.due(300):
            save()
    bar.close()
    if step % args.dev_every or progress["best"] is None:
        check_dev()
    save()
    best, _ = load(args.out, runtime.device, CharDetector)
    metrics = {"dev_auc": dev_aucs(best, index, data, kinds), "steps": step, "minutes": progress["minutes"],
               "generator": data["generator"], "init": str(args.init), "config": training.run_config(args, RUN_KEYS),
               "command": "python -m core.roformer_sim.train_detector " + " ".join(sys.argv[1:] if argv is None else argv)}
    (args.out / "training_metrics.json").write_text(json.dumps(metrics, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    training.log_line(runtime, log_file, event="done", **{k: v for k, v in metrics.items() if k != "config"})
    return metrics


if __name__ == "__main__":
    main()
