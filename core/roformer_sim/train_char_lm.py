"""Train the fluency judge's causal character LM (``core.roformer_sim.char_lm``) on modern prose.

    python -m core.roformer_sim.train_char_lm --cpu-minutes 55 --cpu-bf16 --out runs/char_lm/model   # the bundle's run
    python -m core.roformer_sim.train_char_lm --preset gpu                                           # one GPU, ~6 minutes
    python -m core.roformer_sim.train_char_lm --evaluate runs/char_lm/model                           # dev loss of a checkpoint
    python -m core.roformer_sim.train_char_lm --init runs/char_lm/model --corpus chinese_prose --cpu-minutes 12 --cpu-bf16 \
        --work runs/char_lm/work_cp --out runs/char_lm/model_cp      # continued on everyday registers
    python -m core.roformer_sim.train_char_lm --init runs/char_lm/model --reverse --corpus chinese_prose_and_bank \
        --cpu-minutes 65 --cpu-bf16 --work runs/char_lm/work_back --out runs/char_lm/backward   # a right-to-left LM

Corpora: ``modern_prose`` (default; history and philosophy in modern Chinese), ``chinese_prose`` (C3 dialogues, reviews,
news titles, app descriptions, …; split into sentences, STS test sentences dropped) or ``chinese_prose_and_bank`` (those
sentences and the bank customer questions of ``chinese_sts_extra/bq_train``, the register of most of the judge's real
sentences, less every pair with a sentence the judge is fitted, thresholded or tested on: ``fluency.judge_pool``). The
bundled paraphrase generator reads none of them. One sentence a row (<s> + its first 63 characters + </s> when it fits),
length-bucketed batches, AdamW with warm-up and cosine decay over a CPU-minute budget (or a step count). The prose's
first ``JUDGE_LINES`` lines are never trained on: the fluency judge takes its prose sentences from there
(``fluency.real_sentences``), and an LM that had read them would flatter them. The next ``--dev-lines`` lines are the
dev set: its loss is logged every ``--dev-every`` steps and the best checkpoint is kept (int8, ``core.int8``).
``--init`` continues a checkpoint's weights and vocabulary (the unigram baseline is counted again on the new text).
Resumable: the state is saved to ``--work`` every few minutes and on SIGTERM; the same command continues
(``--cpu-minutes`` and ``--steps`` may grow). The last stdout line is one JSON object of metrics.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import lzma
import math
import random
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from core import checkpoints, training
from core.roformer_sim.char_lm import BOS, EOS, PAD, SPECIAL_TOKENS, UNK, CharLM, CharLMConfig, encode, load, normalize
from core.roformer_sim.data import DATA_DIR, JUDGE_LINES, PROSE_FILE


PRESETS = {
    # 4 x 192, 6000 characters: 2.9 M parameters, 3 MB in int8; 1.6x the steps/s of 4 x 256 on one thread, which a
    # 55-minute budget needs more than width (benchmarks/char_lm_step.py).
    "cpu": {"vocab_size": 6000, "n_layer": 4, "n_head": 4, "n_embd": 192, "batch": 64, "lr": 2e-3, "warmup": 300,
            "dev_every": 1000},
    # One GPU for about 6 wall minutes (not yet run): 4 x 256 (4.7 M parameters, 4.8 MB in int8: still a bundle), 8x the batch.
    "gpu": {"vocab_size": 6000, "n_layer": 4, "n_head": 4, "n_embd": 256, "batch": 512, "lr": 3e-3, "warmup": 300,
            "dev_every": 500, "cpu_minutes": 6.0},
}
SHAPE = ("vocab_size", "n_layer", "n_head", "n_embd", "block_size")
RUN_KEYS = ("prose", "corpus", "init", "reverse", *SHAPE, "batch", "lr", "warmup", "weight_decay", "judge_lines", "dev_lines", "seed", "cpu_bf16")


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--preset", choices=sorted(PRESETS), default="cpu", help="named settings (options given override them)")
    p.add_argument("--corpus", choices=("modern_prose", "chinese_prose", "chinese_prose_and_bank"), default="modern_prose")
    p.add_argument("--prose", type=Path, default=DATA_DIR / PROSE_FILE, help="modern prose: one sentence a line, xz (default %(default)s)")
    p.add_argument("--data-dir", type=Path, default=DATA_DIR, help="chinese_prose: the shared data folder (default %(default)s)")
    p.add_argument("--init", type=Path, default=None, help="continue this checkpoint (its shape and vocabulary)")
    p.add_argument("--reverse", action="store_true", help="a right-to-left LM: every sentence is read (and saved as read) reversed")
    p.add_argument("--work", type=Path, default=checkpoints.REPO_ROOT / "runs" / "char_lm" / "work", help="corpus cache, state, log.jsonl")
    p.add_argument("--out", type=Path, default=checkpoints.REPO_ROOT / "runs" / "char_lm" / "model", help="best checkpoint (int8)")
    p.add_argument("--evaluate", type=Path, default=None, help="only print the dev loss of this checkpoint directory")
    p.add_argument("--vocab-size", type=int, help="special tokens + most frequent characters (default 6000)")
    p.add_argument("--n-layer", type=int, help="default 4")
    p.add_argument("--n-head", type=int, help="default 4")
    p.add_argument("--n-embd", type=int, help="width (default 192)")
    p.add_argument("--block-size", type=int, default=64)
    p.add_argument("--batch", type=int, help="sentences per step and process (default 64)")
    p.add_argument("--lr", type=float, help="peak learning rate (default 2e-3)")
    p.add_argument("--warmup", type=int, help="warm-up steps (default 300)")
    p.add_argument("--weight-decay", type=float, default=0.01)
    p.add_argument("--cpu-minutes", type=float, default=None, help="budget: CPU minutes on the CPU, wall minutes on a GPU")
    p.add_argument("--steps", type=int, default=None, help="budget in optimizer steps (with --cpu-minutes: whichever comes first)")
    p.add_argument("--judge-lines", type=int, default=JUDGE_LINES, help="first prose lines never trained on (the judge's)")
    p.add_argument("--dev-lines", type=int, default=5000, help="prose lines after the judge's held out as the dev set")
    p.add_argument("--dev-every", type=int, help="dev loss and best-checkpoint check every this many steps (default 1000)")
    p.add_argument("--cpu-bf16", action="store_true", help="bf16 autocast on the CPU too (measured: benchmarks/char_lm_step.py)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args(argv)
    training.apply_preset(args, {}, PRESETS[args.preset])
    if args.evaluate is None and args.cpu_minutes is None and args.steps is None:
        p.error("give a budget: --cpu-minutes and/or --steps")
    return args


# ----------------------------------------------------------------------------- corpus


def read_prose(path: Path) -> list[str]:
    with lzma.open(path, "rt", encoding="utf-8") as f:
        return [text for text in (normalize(line) for line in f) if text]


def sts_test_sentences() -> set[str]:
    from core.roformer_sim.data import DATASETS, STS_DIR, read_pairs, test_file

    return {normalize(s) for name in DATASETS for a, b, _ in read_pairs(test_file(STS_DIR, name)) for s in (a, b)}


def read_chinese_prose(data_dir: Path) -> list[str]:
    """The sentences of ``chinese_prose/``, as the judge's word bigram counts split them, STS test sentences dropped."""
    from core.roformer_sim.fluency import SENTENCE_END

    tests = sts_test_sentences()
    sentences = []
    for path in sorted((data_dir / "chinese_prose").glob("*.txt.xz")):
        with lzma.open(path, "rt", encoding="utf-8") as f:
            sentences += [s for line in f for s in (normalize(p) for p in SENTENCE_END.split(line.strip().replace("_", ""))) if s]
    return [s for s in sentences if s not in tests]


def bank_questions(pairs: list[tuple[str, str, float]], excluded: set[str]) -> list[str]:
    """Both (normalized) questions of each pair, unless either is ``excluded``: a pair's two questions say the same
    thing, so an LM that read one would flatter the other."""
    return [q for a, b, _ in pairs for q in (normalize(a), normalize(b)) if not {normalize(a), normalize(b)} & excluded]


def read_chinese_prose_and_bank(data_dir: Path, prose_file: Path) -> list[str]:
    from core.roformer_sim.data import read_pairs
    from core.roformer_sim.fluency import judge_pool

    sts_dir, extra_dir = data_dir / "chinese_sts", data_dir / "chinese_sts_extra"
    excluded = judge_pool(sts_dir, extra_dir, prose_file) | sts_test_sentences()
    return read_chinese_prose(data_dir) + bank_questions(read_pairs(extra_dir / "bq_train.tsv.xz"), excluded)


def build_vocab(lines: list[str], size: int, vocab: list[str] | None = None) -> tuple[list[str], np.ndarray]:
    """The special tokens and the ``size - 4`` most frequent characters (or the given ``vocab``); and log P(token)
    over what the LM predicts (characters, unknown ones as <unk>, and </s>), the judge's unigram baseline."""
    counts = Counter(ch for line in lines for ch in line)
    vocab = vocab or [*SPECIAL_TOKENS, *(ch for ch, _ in counts.most_common(size - len(SPECIAL_TOKENS)))]
    known = set(vocab)
    frequency = np.zeros(len(vocab))
    for i, tok in enumerate(vocab):
        frequency[i] = counts.get(tok, 0)
    frequency[vocab.index(UNK)] = sum(c for ch, c in counts.items() if ch not in known)
    frequency[vocab.index(EOS)] = len(lines)
    frequency = np.maximum(frequency, 1)  # PAD and BOS are never predicted, and a given vocab may hold unseen characters
    return vocab, np.log(frequency / frequency.sum())


def prepare(args, runtime: training.Runtime) -> tuple[list[str], np.ndarray, tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """Vocabulary, unigram log probs, and (flat ids, row offsets) of train and dev, cached in ``--work``. With ``--init``
    the text is encoded with that checkpoint's vocabulary, and the cache is named after it (ids of another vocabulary
    would score a model as nonsense)."""
    given_vocab = list(load(args.init)[1]) if args.init else None
    name = f"v{args.vocab_size}-b{args.block_size}-j{args.judge_lines}-d{args.dev_lines}" if args.corpus == "modern_prose" else \
        f"{args.corpus}-v{args.vocab_size}-b{args.block_size}-d{args.dev_lines}"
    if args.reverse:
        name += "-reversed"
    if given_vocab:
        name += "-vocab" + hashlib.sha256("\n".join(given_vocab).encode("utf-8")).hexdigest()[:12]
    cache = args.work / f"corpus-{name}.npz"
    if runtime.is_main and not cache.is_file():
        if args.corpus == "modern_prose":  # its first lines are the judge's
            lines = read_prose(args.prose)[args.judge_lines :]
        else:
            lines = read_chinese_prose(args.data_dir) if args.corpus == "chinese_prose" else \
                read_chinese_prose_and_bank(args.data_dir, args.prose)
            random.Random(0).shuffle(lines)  # the files are by source: the dev slice samples them all
        if args.reverse:
            lines = [line[::-1] for line in lines]
        dev_lines, train_lines = lines[: args.dev_lines], lines[args.dev_lines :]
        vocab, unigram = build_vocab(train_lines, args.vocab_size, given_vocab)
        index = {tok: i for i, tok in enumerate(vocab)}

        def flat(texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
            rows = [encode(t, index, args.block_size) for t in texts]
            return np.concatenate([np.asarray(r, dtype=np.int16) for r in rows]), np.cumsum([0, *map(len, rows)])

        (train_ids, train_offsets), (dev_ids, dev_offsets) = flat(train_lines), flat(dev_lines)
        args.work.mkdir(parents=True, exist_ok=True)
        np.savez(cache, vocab=np.asarray(vocab), unigram=unigram, train_ids=train_ids, train_offsets=train_offsets,
                 dev_ids=dev_ids, dev_offsets=dev_offsets)
    runtime.barrier()
    with np.load(cache) as corpus:
        return ([str(t) for t in corpus["vocab"]], corpus["unigram"], (corpus["train_ids"], corpus["train_offsets"]),
                (corpus["dev_ids"], corpus["dev_offsets"]))


def batch_tensor(flat_ids: np.ndarray, offsets: np.ndarray, rows) -> torch.Tensor:
    """Right-padded (len(rows), longest) ids of the chosen rows."""
    width = max(offsets[r + 1] - offsets[r] for r in rows)
    out = np.zeros((len(rows), width), dtype=np.int64)
    for i, r in enumerate(rows):
        out[i, : offsets[r + 1] - offsets[r]] = flat_ids[offsets[r] : offsets[r + 1]]
    return torch.from_numpy(out)


def lm_loss(model: CharLM, ids: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy of every real next token (padding targets ignored)."""
    logits = model(ids[:, :-1])
    return F.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), ids[:, 1:].reshape(-1), ignore_index=0)


@torch.no_grad()
def dev_loss(model: CharLM, corpus: tuple[np.ndarray, np.ndarray], device: torch.device, limit: int | None = None) -> dict:
    """Nats and bits per predicted token (characters and </s>) over the dev rows."""
    flat_ids, offsets = corpus
    rows = list(range(len(offsets) - 1))[:limit]
    model.eval()
    total, count = 0.0, 0
    for start in range(0, len(rows), 256):
        ids = batch_tensor(flat_ids, offsets, rows[start : start + 256]).to(device)
        n = int((ids[:, 1:] != 0).sum())
        total += lm_loss(model, ids).item() * n
        count += n
    model.train()
    return {"dev_nats_per_token": round(total / count, 4), "dev_bits_per_token": round(total / count / math.log(2), 4), "dev_tokens": count}


def epoch_batches(lengths: np.ndarray, batch: int, seed: int, epoch: int) -> list[list[int]]:
    """The epoch's length-bucketed batches, the same for a given seed and epoch (so a resumed run continues the order)."""
    return training.length_bucketed_batches(lengths.tolist(), batch, random.Random(seed * 1_000_003 + epoch))


def start_budget_run(net: torch.nn.Module, args, run_keys: tuple[str, ...], runtime: training.Runtime, log_file: Path):
    """AdamW (no weight decay on vectors), the run's resumable state in ``--work`` (its budget may grow between
    resumptions), its progress (saved, logged as a resumption, or fresh) and the autocast context of a step."""
    decay = [p for p in net.parameters() if p.ndim >= 2]
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": args.weight_decay},
                                   {"params": [p for p in net.parameters() if p.ndim < 2], "weight_decay": 0.0}],
                                  lr=args.lr, betas=(0.9, 0.98))
    state = training.RunState(args.work / "state.pt", training.run_config(args, run_keys), may_change=("cpu_minutes", "steps"))
    progress = state.resume(net, optimizer, runtime) or {"step": 0, "minutes": 0.0, "best": None}
    if progress["step"]:
        training.log_line(runtime, log_file, event="resumed", step=progress["step"], minutes=progress["minutes"])
    autocast = (torch.autocast("cpu", dtype=torch.bfloat16) if args.cpu_bf16 and runtime.device.type == "cpu"
                else runtime.autocast())
    return optimizer, state, progress, autocast


# ----------------------------------------------------------------------------- run


def main(argv=None) -> dict | None:
    args = parse_args(argv)
    runtime = training.setup(args.seed, args.threads)
    if args.evaluate is not None:
        args.init = args.evaluate  # the dev text in the checkpoint's own vocabulary and reading order
        model, _ = load(args.evaluate, runtime.device)
        args.reverse = model.config.reverse
        _, _, _, dev = prepare(args, runtime)
        metrics = {**dev_loss(model, dev, runtime.device), "checkpoint": str(args.evaluate)}
        print(json.dumps(metrics))
        return metrics
    log_file = args.work / "log.jsonl"
    vocab, unigram, (train_ids, train_offsets), dev = prepare(args, runtime)
    lengths = np.diff(train_offsets)
    training.log_line(runtime, log_file, event="data", vocab=len(vocab), train_rows=len(lengths), train_tokens=int(lengths.sum()),
                      dev_rows=len(dev[1]) - 1)

    if args.init is not None:
        net, _ = load(args.init)
        net.config.reverse = args.reverse  # a left-to-right checkpoint may start a right-to-left LM: its characters carry over
        net.train()
    else:
        net = CharLM(CharLMConfig(len(vocab), args.block_size, args.n_layer, args.n_head, args.n_embd, reverse=args.reverse))
    net.unigram_log_probs.copy_(torch.from_numpy(unigram))
    model = training.wrap(training.Objective(net, lm_loss), runtime)
    optimizer, state, progress, autocast = start_budget_run(net, args, RUN_KEYS, runtime, log_file)
    step, before = progress["step"], progress["minutes"]

    def save() -> None:
        progress.update(step=step, minutes=round(training.budget_minutes(runtime, before), 3))
        state.save(net, optimizer, progress, runtime)

    def used() -> float:
        """Progress of the decay phase: budget minutes or steps used, whichever is further (1 = done)."""
        return training.budget_or_step_progress(training.budget_minutes(runtime, before), args.cpu_minutes, step, args.warmup, args.steps)

    def done() -> bool:
        return bool(args.steps and step >= args.steps) or used() >= 1.0

    def check_dev() -> None:
        result = dev_loss(net, dev, runtime.device, limit=2000)
        better = progress["best"] is None or result["dev_nats_per_token"] < progress["best"]
        if better:
            progress["best"] = result["dev_nats_per_token"]
            net.save_pretrained(args.out, vocab, int8=True)
        training.log_line(runtime, log_file, event="dev", step=step, kept=better, **result)

    batches = epoch_batches(lengths, args.batch, args.seed, 0)  # every epoch has as many batches (the pools are fixed)
    epoch = 0
    bar = tqdm(desc="char LM", initial=step, mininterval=30, disable=not runtime.is_main, unit=" steps")
    running = None
    while not done():
        global_batch = step * runtime.world_size + runtime.rank
        if global_batch // len(batches) != epoch:
            epoch = global_batch // len(batches)
            batches = epoch_batches(lengths, args.batch, args.seed, epoch)
        ids = batch_tensor(train_ids, train_offsets, batches[global_batch % len(batches)]).to(runtime.device)
        lr = training.warmup_cosine(step, args.lr, args.warmup, used(), floor=0.05)
        training.set_lr(optimizer, lr)
        with autocast:
            loss = model(ids)
        training.optimizer_step(model, optimizer, loss)
        step += 1
        bar.update(1)
        running = loss.item() if running is None else 0.98 * running + 0.02 * loss.item()
        if step % 100 == 0:
            training.log_line(runtime, log_file, event="train", step=step, epoch=epoch, loss=round(running, 4), lr=round(lr, 7),
                              minutes=round(training.budget_minutes(runtime, before), 2))
        if step % args.dev_every == 0 and runtime.is_main:
            check_dev()
        if state.stop_if_asked(save, runtime, log_file, step):
            return None
        if state.due(300):
            save()
    bar.close()
    if runtime.is_main and (step % args.dev_every or progress["best"] is None):  # a budget spent before the first check still saves
        check_dev()
    save()
    metrics = None
    if runtime.is_main:
        best, _ = load(args.out, runtime.device)
        metrics = {**dev_loss(best, dev, runtime.device), "steps": step, "minutes": progress["minutes"],
                   "parameters": sum(p.numel() for p in net.parameters()), "config": training.run_config(args, RUN_KEYS),
                   "command": "python -m core.roformer_sim.train_char_lm " + " ".join(sys.argv[1:] if argv is None else argv)}
        (args.out / "training_metrics.json").write_text(json.dumps(metrics, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        training.log_line(runtime, log_file, event="done", **{k: v for k, v in metrics.items() if k != "config"})
    training.teardown(runtime)
    return metrics


if __name__ == "__main__":
    main()
