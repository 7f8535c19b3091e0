"""Train the bundled RoFormer-Sim: a small char RoFormer that generates and scores similar sentences.

    python -m core.roformer_sim.train --init assets/perturbed_masking --out assets/roformer_sim

Stage 1 (Su, kexue.fm/archives/8454; roformer-sim train/stage1.py): every pair (a, b) gives the rows
``[CLS] a [SEP] b [SEP]`` and ``[CLS] b [SEP] a [SEP]``; loss = cross-entropy of the target segment
under the UniLM mask + in-batch contrastive loss (scale 20) on the pooled [CLS] vectors, where each
row's positive is its mirror row. Pairs: positive pairs of the train/valid splits, and "noised
sentence" pairs (whole-word masked sentence -> the sentence) from in-domain sentences and raw text
(reviews, news). As in the original, the source side of every row is noised with probability 0.5.
Stage 2 (blog 8541, replacing its [u, v, |u-v|] head by CoSENT, blog 8847): supervised fine-tuning on
the labelled train/valid pairs, one dataset per batch (CoSENT ranks labels within a batch, and the
scales differ: 0/1 vs STS-B 0-5; datasets drawn in proportion to the square root of their size), with
a small generation batch each step so the generator survives.

Only ``*.train*.data`` and ``*.valid.data`` files are read; a small stratified part of them is held out
to log dev Spearman. Never the test splits: those are for ``core.roformer_sim.evaluate``.
The state is saved every ``--save-every`` steps to ``--work``; rerunning the same command resumes.
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import time
import zipfile
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm
from transformers import BertTokenizer

from core import checkpoints
from core.roformer_sim import evaluate
from core.roformer_sim.model import SOURCE, TARGET, RoFormerSim, Sim, load_weights, read_weights, save, sim_config

DATA_DIR = checkpoints.SHARED_DATA
TRAIN_FILES = {  # dataset -> its train/valid files (ATEC's full train split is not available here)
    "ATEC": ["ATEC.train.partial.data", "ATEC.valid.data"],
    "BQ": ["BQ.valid.data"],
    "LCQMC": ["LCQMC.valid.data"],
    "STS-B": ["STS-B.train.data", "STS-B.valid.data"],
}
PUNCTUATION = set("\n。！？!?；;，, …~～")


@dataclass
class TrainConfig:
    stage1_steps: int = 300
    stage2_steps: int = 400
    pairs_per_batch: int = 32  # stage 1: 64 UniLM rows (both directions)
    noised_share: float = 0.25  # share of stage-1 pairs that are (noised sentence, sentence)
    cosent_pairs: int = 64  # stage 2: labelled pairs per batch
    stage2_gen_pairs: int = 8  # stage 2: positive pairs per batch kept on the generation loss
    lr1: float = 3e-4
    lr2: float = 1.5e-4
    warmup: int = 100
    weight_decay: float = 0.01
    scale: float = 20.0  # contrastive and CoSENT temperature (Su: 20)
    max_chars: int = 40  # per sentence; the test sentences are short questions
    dev_pairs: int = 400  # held out per dataset (from the train/valid files) for the dev log
    seed: int = 0


# ----------------------------------------------------------------------------- data


def labelled_pairs(sts_dir: Path) -> dict[str, list[tuple[str, str, float]]]:
    out = {}
    for name, files in TRAIN_FILES.items():
        out[name] = []
        for file in files:
            assert ".test." not in file, "test splits are never trained on"
            out[name] += evaluate.read_pairs(sts_dir / name / file)
    return out


def split_dev(pairs: dict[str, list], n_dev: int, seed: int) -> tuple[dict[str, list], dict[str, list]]:
    train, dev = {}, {}
    for name, rows in pairs.items():
        rows = rows[:]
        random.Random(seed).shuffle(rows)
        dev[name], train[name] = rows[:n_dev], rows[n_dev:]
    return train, dev


def first_piece(text: str, max_chars: int) -> str:
    """The text up to its first sentence-level punctuation mark (Su keeps only the first piece)."""
    for i, ch in enumerate(text):
        if ch in PUNCTUATION and i >= 4:
            return text[:i]
    return text[:max_chars]


def raw_sentences(data_dir: Path, max_chars: int) -> list[str]:
    """Short clauses of reviews and news (ChineseNlpCorpus): the noised-sentence pairs' raw text."""
    corpus = data_dir / "chinese_nlp_corpus"
    texts = []
    for name in ("waimai_10k.csv", "ChnSentiCorp_htl_all.csv"):
        with open(corpus / name, encoding="utf-8-sig", newline="") as f:
            texts += [row["review"] for row in csv.DictReader(f)]
    with zipfile.ZipFile(corpus / "dh_msra.zip") as z:
        lines = z.read(z.namelist()[0]).decode("utf-8").split("\n\n")
    texts += ["".join(line.split("\t")[0] for line in block.splitlines() if line) for block in lines]
    pieces = {first_piece(t.strip(), max_chars) for t in texts}
    return sorted(p for p in pieces if 6 <= len(p) <= max_chars)


def whole_word_noise(text: str, tokenizer: BertTokenizer, rng: random.Random) -> list[str]:
    """BART-style noise of Su's stage 1: each jieba word with prob 15% -> 80% all [MASK], 10% random chars, 10% kept."""
    import jieba

    tokens = []
    for word in jieba.lcut(text):
        chars = tokenizer.tokenize(word)
        if rng.random() < 0.15:
            roll = rng.random()
            if roll < 0.8:
                chars = ["[MASK]"] * len(chars)
            elif roll < 0.9:
                chars = [tokenizer.convert_ids_to_tokens(rng.randrange(5, len(tokenizer))) for _ in chars]
        tokens += chars
    return tokens


@dataclass
class Batch:
    ids: torch.Tensor
    segments: torch.Tensor
    padding: torch.Tensor


def unilm_rows(pairs: list[tuple[str, str]], tokenizer: BertTokenizer, rng: random.Random, max_chars: int) -> Batch:
    """Rows 2i and 2i+1 are a->b and b->a of pair i; each source is noised with probability 0.5.

    A pair (x, None) is a noised-sentence pair: source = noise(x), target = x, both directions the same way.
    """
    rows = []
    for a, b in pairs:
        a = a[:max_chars]
        for source, target in ((a, b[:max_chars]), (b[:max_chars], a)) if b is not None else ((a, a), (a, a)):
            noisy = b is None or rng.random() < 0.5
            src = whole_word_noise(source, tokenizer, rng) if noisy else tokenizer.tokenize(source)
            src_ids = tokenizer.convert_tokens_to_ids(["[CLS]"] + src + ["[SEP]"])
            tgt_ids = tokenizer.convert_tokens_to_ids(tokenizer.tokenize(target) + ["[SEP]"])
            rows.append((src_ids, tgt_ids))
    width = max(len(s) + len(t) for s, t in rows)
    ids = torch.zeros(len(rows), width, dtype=torch.long)
    segments = torch.zeros_like(ids)
    padding = torch.zeros_like(ids)
    for i, (s, t) in enumerate(rows):
        ids[i, : len(s) + len(t)] = torch.tensor(s + t)
        segments[i, len(s) : len(s) + len(t)] = TARGET
        padding[i, : len(s) + len(t)] = 1
    return Batch(ids, segments, padding)


# ----------------------------------------------------------------------------- losses


def generation_loss(model: RoFormerSim, batch: Batch, h: torch.Tensor) -> torch.Tensor:
    """Next-token cross-entropy over the target segment only (MLM head applied only there)."""
    predicts = (batch.segments[:, 1:] == TARGET) & (batch.padding[:, 1:] == 1)  # position t predicts token t+1
    logits = model.cls(h[:, :-1][predicts])
    return F.cross_entropy(logits.float(), batch.ids[:, 1:][predicts])


def contrastive_loss(vectors: torch.Tensor, scale: float) -> torch.Tensor:
    """In-batch softmax over cosines; row 2i's positive is 2i+1 and back; self-similarity excluded."""
    v = F.normalize(vectors.float(), dim=-1)
    sims = (v @ v.T).masked_fill(torch.eye(len(v), dtype=torch.bool, device=v.device), -1e12)
    labels = torch.arange(len(v), device=v.device) ^ 1
    return F.cross_entropy(sims * scale, labels)


def cosent_loss(cosines: torch.Tensor, labels: torch.Tensor, scale: float) -> torch.Tensor:
    """CoSENT: log(1 + sum over pairs (i, j) with label_i < label_j of exp(scale * (cos_i - cos_j)))."""
    diff = scale * (cosines[:, None] - cosines[None, :])
    wrong_order = labels[:, None] < labels[None, :]
    return torch.logsumexp(torch.cat([diff.new_zeros(1), diff[wrong_order]]), dim=0)


# ----------------------------------------------------------------------------- model set-up


def init_model(init: Path, device: torch.device) -> Sim:
    """Start from a RoFormer masked LM (no pooler: it starts as the identity, i.e. the raw [CLS] state)
    or from a RoFormer-Sim checkpoint (pooler included)."""
    raw = json.loads((init / "config.json").read_text(encoding="utf-8"))
    model = RoFormerSim(sim_config(raw))
    weights = read_weights(init)
    if "roformer.pooler.dense.weight" not in weights:
        with torch.no_grad():
            model.pooler.weight.copy_(torch.eye(model.config.hidden_size))
            model.pooler.bias.zero_()
    load_weights(model, weights, allow_missing=("pooler.weight", "pooler.bias"))
    tokenizer = BertTokenizer(vocab=str(init / "vocab.txt"), do_lower_case=True)
    return Sim(model.float().to(device), tokenizer)


def encode_train(sim: Sim, texts: list[str], max_chars: int) -> torch.Tensor:
    ids, padding = sim.tokenize([t[:max_chars] for t in texts])
    return sim.model.sentence_vectors(ids, padding)


def dev_spearman(sim: Sim, dev: dict[str, list]) -> dict[str, float]:
    sim.model.eval()
    scores = {name: round(evaluate.spearman(evaluate.similarity_scores(sim, rows), [r[2] for r in rows]), 2) for name, rows in dev.items()}
    sim.model.train()
    scores["avg"] = round(float(np.mean(list(scores.values()))), 2)
    return scores


def lr_at(step: int, total: int, peak: float, warmup: int) -> float:
    """Linear warm-up, then linear decay to 10% of the peak."""
    if step < warmup:
        return peak * (step + 1) / warmup
    return peak * (1.0 - 0.9 * (step - warmup) / max(total - warmup, 1))


# ----------------------------------------------------------------------------- training


def check_resumable(state: dict, wanted: dict, state_path: Path) -> None:
    """A state may only be resumed by the run that wrote it; only the run's length may grow."""
    if "run" not in state:
        raise ValueError(f"{state_path} does not say which run wrote it (an older version): pass another --work or delete it")
    saved = state["run"]
    changed = [k for k in wanted if k != "stage2_steps" and saved.get(k) != wanted[k]]
    if changed:
        raise ValueError(f"{state_path} was written by a different run ("
                         + ", ".join(f"{k}: {saved.get(k)!r} there, {wanted[k]!r} now" for k in changed)
                         + "): pass another --work or delete it")


def train(args: argparse.Namespace, cfg: TrainConfig) -> None:
    torch.set_num_threads(args.threads)
    device = checkpoints.device()
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    state_path = work / "state.pt"
    sim = init_model(Path(args.init), device)
    model = sim.model.train()
    train_pairs, dev = split_dev(labelled_pairs(Path(args.sts_dir)), cfg.dev_pairs, cfg.seed)
    positives = [(a, b) for name, rows in train_pairs.items() for a, b, y in rows if evaluate.is_positive(name, y)]
    sentences = sorted({t for rows in train_pairs.values() for a, b, _ in rows for t in (a, b)})
    raw = raw_sentences(Path(args.data_dir), cfg.max_chars) + sentences
    print(f"positive pairs {len(positives)}, noised-sentence pool {len(raw)}, labelled pairs "
          + ", ".join(f"{k} {len(v)}" for k, v in train_pairs.items()), flush=True)

    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.lr1, weight_decay=cfg.weight_decay)
    step, log = 0, []
    run = {"init": str(args.init), **asdict(cfg)}
    if state_path.exists():
        state = torch.load(state_path, map_location=device, weights_only=False)
        check_resumable(state, run, state_path)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        step, log = state["step"], state["log"]
        print(f"resumed at step {step}", flush=True)
    total = cfg.stage1_steps + cfg.stage2_steps
    datasets = list(train_pairs)
    # sqrt of the sizes: the small sets (STS-B, BQ, LCQMC) count as much as ATEC in the test average
    weights = np.sqrt([len(train_pairs[d]) for d in datasets])
    started, cpu_started = time.time(), time.process_time()  # CPU time: the machine is shared
    bar = tqdm(range(step, total), initial=step, total=total, desc="roformer_sim")
    for step in bar:
        rng = random.Random(cfg.seed * 1_000_003 + step)  # per-step stream: resuming replays the same batches
        stage1 = step < cfg.stage1_steps
        if stage1:
            lr = lr_at(step, cfg.stage1_steps, cfg.lr1, cfg.warmup)
            n_noised = int(cfg.pairs_per_batch * cfg.noised_share)
            pairs = rng.sample(positives, cfg.pairs_per_batch - n_noised) + [(t, None) for t in rng.sample(raw, n_noised)]
            batch = unilm_rows(pairs, sim.tokenizer, rng, cfg.max_chars)
            batch = Batch(*(t.to(device) for t in (batch.ids, batch.segments, batch.padding)))
            h = model.unilm(batch.ids, batch.segments, batch.padding)
            gen = generation_loss(model, batch, h)
            other = contrastive_loss(model.pooler(h[:, 0]), cfg.scale)
        else:
            lr = lr_at(step - cfg.stage1_steps, cfg.stage2_steps, cfg.lr2, cfg.warmup)
            name = rng.choices(datasets, weights=weights)[0]
            rows = rng.sample(train_pairs[name], cfg.cosent_pairs)
            u = encode_train(sim, [r[0] for r in rows], cfg.max_chars)
            v = encode_train(sim, [r[1] for r in rows], cfg.max_chars)
            cosines = F.cosine_similarity(u.float(), v.float(), dim=-1)
            other = cosent_loss(cosines, torch.tensor([r[2] for r in rows], device=device), cfg.scale)
            gen = torch.zeros((), device=device)
            if cfg.stage2_gen_pairs:
                batch = unilm_rows(rng.sample(positives, cfg.stage2_gen_pairs), sim.tokenizer, rng, cfg.max_chars)
                batch = Batch(*(t.to(device) for t in (batch.ids, batch.segments, batch.padding)))
                gen = generation_loss(model, batch, model.unilm(batch.ids, batch.segments, batch.padding))
        for group in optimizer.param_groups:
            group["lr"] = lr
        loss = gen + other
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        bar.set_postfix(stage=1 if stage1 else 2, gen=f"{gen.item():.3f}", sim=f"{other.item():.3f}")
        done = step + 1
        if done % args.log_every == 0:
            log.append({"step": done, "stage": 1 if stage1 else 2, "gen": round(gen.item(), 4), "sim": round(other.item(), 4),
                        "lr": lr, "minutes": round((time.time() - started) / 60, 2),
                        "cpu_minutes": round((time.process_time() - cpu_started) / 60, 2)})
            print(json.dumps(log[-1]), flush=True)
        if done in (cfg.stage1_steps, total) or done % args.dev_every == 0:
            log.append({"step": done, "dev_spearman": dev_spearman(sim, dev)})
            print(json.dumps(log[-1], ensure_ascii=False), flush=True)
        if done % args.save_every == 0 or done == total:
            torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(), "step": done, "log": log, "run": run},
                       state_path)
    model.eval()
    save(sim, args.out)
    (Path(args.out) / "training_log.json").write_text(
        json.dumps({"config": asdict(cfg), "init": str(args.init), "log": log}, indent=1, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    print(f"wrote {args.out}", flush=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--init", default=str(checkpoints.ASSETS_DIR / "perturbed_masking"),
                        help="RoFormer masked-LM (or RoFormer-Sim) checkpoint directory to start from")
    parser.add_argument("--out", default=str(checkpoints.ASSETS_DIR / "roformer_sim"), help="checkpoint directory to write")
    parser.add_argument("--work", default=str(checkpoints.REPO_ROOT / "runs" / "roformer_sim"), help="resumable state")
    parser.add_argument("--sts-dir", default=str(DATA_DIR / "chinese_sts"), help="Su's chinese_sts folder (train/valid files)")
    parser.add_argument("--data-dir", default=str(DATA_DIR), help="shared data folder (raw text in chinese_nlp_corpus/)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--log-every", type=int, default=25)
    parser.add_argument("--dev-every", type=int, default=1000)
    parser.add_argument("--save-every", type=int, default=100)
    for name, value in asdict(TrainConfig()).items():
        parser.add_argument("--" + name.replace("_", "-"), type=type(value), default=value)
    args = parser.parse_args(argv)
    cfg = TrainConfig(**{name: getattr(args, name) for name in asdict(TrainConfig())})
    train(args, cfg)


if __name__ == "__main__":
    main()
