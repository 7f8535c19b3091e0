"""Train the small character-level Chinese RoFormer masked LM that Perturbed Masking probes.

    python -m core.perturbed_masking.train --out runs/perturbed_masking/final
    python -m core.perturbed_masking.train --init assets/perturbed_masking --steps 6000 --lr 3e-4 --seed 3   # continue the bundle
    python -m core.perturbed_masking.train --init assets/perturbed_masking --extra-prose --steps 4200 --lr 3e-4 --seed 4
    python -m core.perturbed_masking.train --preset gpu          # a larger masked LM, ~8 minutes on one GPU
    torchrun --nproc_per_node 2 -m core.perturbed_masking.train  # the same run on 2 processes (DDP)

Raw text only (no word boundaries are ever seen; ``core.perturbed_masking.data`` lists the sources).
The last ``--dev-lines`` People's Daily lines are held out: they are the segmentation dev set used to
choose the threshold and layer, and the held-out text for MLM accuracy. Clauses that also occur in
the evaluation sets (PKU test, UD GSDSimp dev) are dropped from training. One fixed pass order over
the corpus chunks; each process reads its own share of every step's rows.

Writes a ``RoFormerForMaskedLM`` checkpoint (fp16 safetensors + config.json + vocab.txt for
``BertTokenizer``) that ``core.perturbed_masking.model.load`` reads, with training_metrics.json. The
run is resumable: the state is saved to ``--work`` every few minutes and on SIGTERM, and the same
command continues from it (``--steps`` may grow).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm
from transformers import RoFormerForMaskedLM

from core import training
from core.checkpoints import REPO_ROOT
from core.perturbed_masking import data
from core.perturbed_masking.model import mask_batch, mlm_accuracy, mlm_logits, read_vocab, roformer_config, save_pretrained

# Named settings a run starts from; explicit options override them.
PRESETS = {
    "cpu": {"vocab_size": 7000, "hidden": 256, "embedding": 128, "layers": 4, "heads": 4, "ffn": 1024, "batch": 32,
            "steps": 3000, "lr": 6e-4, "warmup": 200},
    # One modern GPU, about 8 minutes (estimated, not yet measured): a BERT-base-shaped char RoFormer over 4x the
    # corpus passes of the CPU bundle (fp32 ~350 MB: not bundled as is).
    "gpu": {"vocab_size": 7000, "hidden": 768, "embedding": 768, "layers": 12, "heads": 12, "ffn": 3072, "batch": 256,
            "steps": 6000, "lr": 4e-4, "warmup": 500, "dev_every": 1000},
}
SHAPE = ("vocab_size", "hidden", "embedding", "layers", "heads", "ffn", "max_positions", "seq_chars")


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--preset", choices=sorted(PRESETS), default="cpu", help="named settings (options given override them)")
    p.add_argument("--data", type=Path, default=data.DATA_DIR, help="shared data folder (default %(default)s)")
    p.add_argument("--work", type=Path, default=REPO_ROOT / "runs" / "perturbed_masking" / "mlm",
                   help="corpus cache, resumable state and log.jsonl")
    p.add_argument("--out", type=Path, default=REPO_ROOT / "runs" / "perturbed_masking" / "final", help="final fp16 checkpoint dir")
    p.add_argument("--init", type=Path, default=None,
                   help="continue from this checkpoint's weights (e.g. assets/perturbed_masking); use another --seed for a new data order")
    p.add_argument("--extra-prose", action="store_true",
                   help=f"also train on <data>/{data.PROSE_DIR} (9.6 M more characters); with --init the vocabulary stays the init's")
    p.add_argument("--dev-lines", type=int, default=data.DEV_LINES, help="last People's Daily lines held out (dev set)")
    p.add_argument("--vocab-size", type=int, help="special tokens + most frequent characters (default 7000)")
    p.add_argument("--hidden", type=int, help="width (default 256)")
    p.add_argument("--embedding", type=int, help="factorised embedding width (default 128: keeps the fp16 bundle under 9.5 MB)")
    p.add_argument("--layers", type=int, help="default 4")
    p.add_argument("--heads", type=int, help="default 4")
    p.add_argument("--ffn", type=int, help="feed-forward width (default 1024)")
    p.add_argument("--max-positions", type=int, default=128, help="room for the paraphrase model's sentence pairs")
    p.add_argument("--seq-chars", type=int, default=data.SEQ_CHARS, help="characters per training chunk (+[CLS] +[SEP] = 64 tokens)")
    p.add_argument("--batch", type=int, help="chunks per step and process (default 32)")
    p.add_argument("--steps", type=int, help="optimizer steps (default 3000); may grow when resuming")
    p.add_argument("--lr", type=float, help="peak learning rate (default 6e-4)")
    p.add_argument("--warmup", type=int, help="warm-up steps (default 200)")
    p.add_argument("--weight-decay", type=float, default=0.01)
    p.add_argument("--mask-rate", type=float, default=data.MASK_RATE)
    p.add_argument("--dev-every", type=int, help="log held-out MLM accuracy every this many steps (default 250)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    args = p.parse_args(argv)
    training.apply_preset(args, {"dev_every": 250}, PRESETS[args.preset])
    return args


# ----------------------------------------------------------------------------- masking


def mlm_loss(model: RoFormerForMaskedLM, inputs: torch.Tensor, chosen: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    return torch.nn.functional.cross_entropy(mlm_logits(model, inputs, chosen).float(), targets)


# ----------------------------------------------------------------------------- corpus and model


def prepare(args, runtime: training.Runtime) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Vocabulary, training ids and held-out ids, cached in ``--work`` (built by rank 0 when missing)."""
    cache = args.work / "corpus.npz"
    if runtime.is_main and not cache.is_file():
        train_lines, dev = data.split_people_daily(data.people_daily_lines(data.people_daily_path()), args.dev_lines)
        excluded = data.evaluation_clauses(args.data)
        sources = {"people_daily": train_lines, **data.read_sources(args.data), **(data.read_prose(args.data) if args.extra_prose else {})}
        chunks = {name: data.pack_chunks(lines, args.seq_chars, excluded) for name, lines in sources.items()}
        training.log_line(runtime, args.work / "log.jsonl", event="corpus",
                          sources={name: {"chunks": len(c), "chars": sum(map(len, c))} for name, c in chunks.items()})
        all_chunks = [c for cs in chunks.values() for c in cs]
        # A continued run keeps its init's vocabulary (its embeddings): new characters read as [UNK].
        vocab = read_vocab(args.init) if args.init is not None else data.build_vocab(all_chunks, args.vocab_size)
        index = {tok: i for i, tok in enumerate(vocab)}
        seq_len = args.seq_chars + 2
        args.work.mkdir(parents=True, exist_ok=True)
        (args.work / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
        np.savez(cache, train=data.encode(all_chunks, index, seq_len),
                 dev=data.encode(data.pack_chunks(dev, args.seq_chars, set()), index, seq_len))
    runtime.barrier()  # the other ranks read what rank 0 wrote
    corpus = np.load(cache)
    return read_vocab(args.work), corpus["train"], corpus["dev"]


def initial_model(args, vocab: list[str]) -> RoFormerForMaskedLM:
    """Fresh weights, or those of a checkpoint written by this script (same vocabulary and shape)."""
    model = RoFormerForMaskedLM(roformer_config(len(vocab), args.hidden, args.embedding, args.layers, args.heads, args.ffn,
                                                args.max_positions))
    if args.init is not None:
        if read_vocab(args.init) != vocab:
            raise ValueError(f"{args.init}/vocab.txt differs from the vocabulary built from this corpus")
        model.load_state_dict({k: v.float() for k, v in RoFormerForMaskedLM.from_pretrained(args.init).state_dict().items()})
    return model


def run_config(args) -> dict:
    """What a resumed run must share with the run that saved the state (``--steps`` may grow)."""
    keep = ("data", "init", "extra_prose", "dev_lines", *SHAPE, "batch", "steps", "lr", "warmup", "weight_decay", "mask_rate", "seed")
    return {key: str(value) if isinstance(value, Path) else value for key, value in vars(args).items() if key in keep}


def main(argv=None) -> dict | None:
    args = parse_args(argv)
    runtime = training.setup(args.seed, args.threads)
    log_file = args.work / "log.jsonl"
    vocab, train_ids, dev_ids = prepare(args, runtime)
    training.log_line(runtime, log_file, event="data", vocab=len(vocab), train_chunks=len(train_ids), dev_chunks=len(dev_ids))

    net = initial_model(args, vocab).train()
    model = training.wrap(training.Objective(net, mlm_loss), runtime)
    decay = [p for p in net.parameters() if p.ndim >= 2]
    no_decay = [p for p in net.parameters() if p.ndim < 2]
    optimizer = torch.optim.AdamW(
        [{"params": decay, "weight_decay": args.weight_decay}, {"params": no_decay, "weight_decay": 0.0}], lr=args.lr
    )
    state = training.RunState(args.work / "state.pt", run_config(args), may_change=("steps",))
    progress = state.resume(net, optimizer, runtime) or {"step": 0}
    step = progress["step"]
    if step:
        training.log_line(runtime, log_file, event="resumed", step=step)
    order = np.random.default_rng(args.seed).permutation(len(train_ids))  # one fixed pass order, the same on every rank

    def save() -> None:
        progress.update(step=step)
        state.save(net, optimizer, progress, runtime)

    bar = tqdm(total=args.steps, initial=step, desc="mlm", mininterval=30, disable=not runtime.is_main)
    running = None
    while step < args.steps:
        # Global batch number step * processes + rank: one process reads the rows N processes read together.
        first_row = (step * runtime.world_size + runtime.rank) * args.batch
        rows = np.take(order, range(first_row, first_row + args.batch), mode="wrap")
        ids = torch.from_numpy(train_ids[rows].astype(np.int64))
        generator = torch.Generator().manual_seed((args.seed * 1_000_003 + step) * runtime.world_size + runtime.rank)
        inputs, chosen = mask_batch(ids, args.mask_rate, len(vocab), generator)
        lr = training.warmup_cosine(step, args.lr, args.warmup, training.step_progress(step, args.warmup, args.steps), floor=0.0)
        training.set_lr(optimizer, lr)
        with runtime.autocast():
            loss = model(inputs.to(runtime.device), chosen.to(runtime.device), ids[chosen].to(runtime.device))
        training.optimizer_step(model, optimizer, loss)
        step += 1
        bar.update(1)
        running = loss.item() if running is None else 0.98 * running + 0.02 * loss.item()
        if step % 100 == 0:
            training.log_line(runtime, log_file, event="train", step=step, total=args.steps, loss=round(running, 4), lr=round(lr, 7),
                              cpu_minutes=round(training.budget_minutes(runtime), 1))
        if step % args.dev_every == 0 and runtime.is_main:
            training.log_line(runtime, log_file, event="dev", step=step, **mlm_accuracy(net, dev_ids[:512], args.mask_rate))
        if state.stop_if_asked(save, runtime, log_file, step):
            return None
        if state.due(300) or step >= args.steps:
            save()
    bar.close()

    identical = training.replicas_identical(net, runtime)
    metrics = None
    if runtime.is_main:
        metrics = {**mlm_accuracy(net, dev_ids, args.mask_rate), "steps": step, "init": str(args.init) if args.init else None,
                   "config": run_config(args), "processes": runtime.world_size,
                   "command": "python -m core.perturbed_masking.train " + " ".join(sys.argv[1:] if argv is None else argv)}
        save_pretrained(net, vocab, args.out, half=True)
        (args.out / "training_metrics.json").write_text(json.dumps(metrics, indent=1, ensure_ascii=False))
        training.log_line(runtime, log_file, event="done", out=str(args.out), replicas_identical=identical,
                          **{k: v for k, v in metrics.items() if k != "config"})
    runtime.barrier()
    training.teardown(runtime)
    return metrics


if __name__ == "__main__":
    main()
