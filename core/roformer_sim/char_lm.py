"""A small causal character LM of prose: the fluency judge's in-context evidence (nanoGPT layout).

A word bigram model sees two words at a time; word salad made of real words (明天晚上日早上出外一般) and the joint of two
spliced half sentences pass it. A left-to-right Transformer over characters reads the whole prefix, so a character
that does not continue it scores low wherever it sits. The judge (``core.roformer_sim.fluency``) reads three numbers
per text from it (``lm_summary``): the mean log probability per character, the worst window's, and the mean gain over
the character's unigram log probability (kept in the model, so rare but fitting characters are not punished); and a
fourth (``context_gain``): how much what stands before each point helps predict what follows it. A right-to-left LM
(``CharLMConfig.reverse``) gives the same numbers read from the end, and with a left-to-right one
``both_ways_worst_window``: where both are surprised at once.

Independence: the LMs are trained on prose and questions (``python -m core.roformer_sim.train_char_lm``: modern prose,
then the everyday registers of ``chinese_prose/`` and the bank questions of ``bq_train``, which the generator never
read), never on the paraphrase generator's pairs or objective, and the generator and its decoding never use them.

The Transformer blocks are the xiangqi GPT's (``core.xiangqi.model.Block``); this file adds the character vocabulary,
the unigram baseline and scoring.
"""

from __future__ import annotations

import json
import unicodedata
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from core import int8 as weight_file
from core.xiangqi.model import Block, init_gpt2

CONFIG_FILE, WEIGHTS_FILE, VOCAB_FILE = "config.json", "model.safetensors", "vocab.txt"
PAD, UNK, BOS, EOS = "<pad>", "<unk>", "<s>", "</s>"
SPECIAL_TOKENS = (PAD, UNK, BOS, EOS)
WINDOW = 3  # characters per window of ``lm_summary``'s worst window: the joint of a splice spans about this many


@dataclass
class CharLMConfig:
    vocab_size: int
    block_size: int = 64  # tokens: <s> + up to 63 characters (the judge's texts are 4 to 40)
    n_layer: int = 4
    n_head: int = 4
    n_embd: int = 256
    dropout: float = 0.0
    reverse: bool = False  # reads each text right to left: a second view of a splice's joint, from its other side


def normalize(text: str) -> str:
    """NFKC (full-width Latin, digits and punctuation to half-width), lower case, no spaces: what the LM reads."""
    return "".join(unicodedata.normalize("NFKC", text).lower().split())


class CharLM(nn.Module):
    model_type = "char-lm"  # config.json's; ``load`` refuses a folder of another kind

    def __init__(self, config: CharLMConfig):
        super().__init__()
        self.config = config
        self.tok_emb = nn.Embedding(config.vocab_size, config.n_embd)
        self.pos_emb = nn.Embedding(config.block_size, config.n_embd)
        self.blocks = nn.ModuleList(Block(config) for _ in range(config.n_layer))
        self.ln_f = nn.LayerNorm(config.n_embd)
        self.head = nn.Linear(config.n_embd, config.vocab_size, bias=False)
        self.head.weight = self.tok_emb.weight  # tied
        # log P(token) in the training text (set by the trainer): the baseline of the judge's gain over unigram
        self.register_buffer("unigram_log_probs", torch.zeros(config.vocab_size))
        init_gpt2(self, config.n_layer)

    def hidden(self, ids: torch.Tensor) -> torch.Tensor:
        """The last layer's normalized states (B, T, n_embd): each position has read ``ids`` up to itself."""
        T = ids.shape[1]
        if T > self.config.block_size:
            raise ValueError(f"{T} tokens exceed the character LM's context of {self.config.block_size}")
        x = self.tok_emb(ids) + self.pos_emb(torch.arange(T, device=ids.device))
        for block in self.blocks:
            x = block(x, None, 0)
        return self.ln_f(x)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        """Logits (B, T, vocab) of the next token after each of ``ids`` (B, T)."""
        return self.head(self.hidden(ids))

    def save_pretrained(self, directory: Path, vocab: Sequence[str], int8: bool = True) -> None:
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        (directory / CONFIG_FILE).write_text(json.dumps({"model_type": self.model_type, **asdict(self.config)}, indent=2) + "\n", encoding="utf-8")
        weight_file.write({k: v for k, v in self.state_dict().items() if k != "head.weight"}, directory / WEIGHTS_FILE, int8=int8)
        (directory / VOCAB_FILE).write_text("\n".join(vocab) + "\n", encoding="utf-8")


def load(directory: Path, device: torch.device | str = "cpu", model_class: type[CharLM] | None = None) -> tuple[CharLM, dict[str, int]]:
    """The model (fp32, eval mode) and its character index, from a directory written by ``save_pretrained``: a
    ``CharLM``, or a model of ``model_class`` (a subclass, e.g. the detector of ``core.roformer_sim.detector``)."""
    directory = Path(directory)
    model_class = model_class or CharLM
    raw = json.loads((directory / CONFIG_FILE).read_text(encoding="utf-8"))
    if raw.get("model_type", CharLM.model_type) != model_class.model_type:
        raise ValueError(f"{directory} holds a {raw.get('model_type')!r} model, not a {model_class.model_type!r} one")
    config = CharLMConfig(**{k: v for k, v in raw.items() if k in CharLMConfig.__dataclass_fields__})
    vocab = (directory / VOCAB_FILE).read_text(encoding="utf-8").split("\n")[: config.vocab_size]
    if len(vocab) != config.vocab_size:
        raise ValueError(f"{directory}: vocab.txt has {len(vocab)} tokens, config says {config.vocab_size}")
    model = model_class(config)
    state = weight_file.read(directory / WEIGHTS_FILE)
    missing = set(model.state_dict()) - set(state) - {"head.weight"}
    if missing:
        raise ValueError(f"{directory}: checkpoint lacks weights {sorted(missing)}")
    model.load_state_dict(state, strict=False)  # head.weight is tied to tok_emb.weight
    return model.to(device).eval(), {tok: i for i, tok in enumerate(vocab)}


# ---------------------------------------------------------------- scoring


def encode(text: str, index: dict[str, int], block_size: int) -> list[int]:
    """<s>, the characters (unknown ones as <unk>) and </s>; a text longer than the context keeps its first
    ``block_size`` characters and no </s> (the model sees <s> + block_size - 1 of them, and predicts one more)."""
    ids = [index[BOS], *(index.get(ch, index[UNK]) for ch in text)]
    return ids[: block_size + 1] if len(ids) > block_size else [*ids, index[EOS]]


def reading_order(model: CharLM, text: str) -> str:
    """The text as the model reads it: reversed for a right-to-left LM."""
    return text[::-1] if model.config.reverse else text


@torch.inference_mode()
def token_log_probs(model: CharLM, rows: Sequence[Sequence[int]], batch_size: int = 256) -> list[np.ndarray]:
    """For each row of ids from ``encode``, log P(token | the tokens before it) of every token after <s>.

    Rows are right-padded into batches; the model is causal, so padding never changes a real token's probability."""
    device = model.tok_emb.weight.device
    out: list[np.ndarray] = [np.zeros(0)] * len(rows)
    order = sorted(range(len(rows)), key=lambda r: len(rows[r]))
    for start in range(0, len(order), batch_size):
        chunk = order[start : start + batch_size]
        width = max(len(rows[r]) for r in chunk)
        ids = torch.zeros(len(chunk), width, dtype=torch.long)
        for i, r in enumerate(chunk):
            ids[i, : len(rows[r])] = torch.tensor(rows[r])
        ids = ids.to(device)
        logp = torch.log_softmax(model(ids[:, :-1]).float(), dim=-1).gather(2, ids[:, 1:, None])[..., 0].cpu().numpy()
        for i, r in enumerate(chunk):
            out[r] = logp[i, : len(rows[r]) - 1].astype(np.float64)
    return out


def lm_summary(log_probs: np.ndarray, unigram: np.ndarray, window: int = WINDOW) -> tuple[float, float, float]:
    """(mean log probability per token, the lowest mean over ``window`` consecutive tokens, mean gain of the log
    probability over the token's unigram log probability); NaN for no tokens."""
    if len(log_probs) == 0:
        return (np.nan,) * 3
    width = min(window, len(log_probs))
    windows = np.convolve(log_probs, np.ones(width) / width, mode="valid")
    return float(log_probs.mean()), float(windows.min()), float((log_probs - unigram).mean())


def context_gain(log_probs: np.ndarray, suffix_log_probs: Sequence[np.ndarray], window: int = WINDOW) -> float:
    """How much the text before each split point raises the log probability of the next ``window`` tokens, averaged
    over split points: ``log_probs`` are the text's own (``token_log_probs``), ``suffix_log_probs[i - 1]`` those of the
    tokens from i on read after <s> alone (i = 1, 2, ...). A sentence's beginning predicts its rest; the second half of a
    splice, or the next word of word salad, gains little from what stands before it. 0.0 with no split point."""
    gains = [log_probs[i : i + window].sum() - suffix[:window].sum() for i, suffix in enumerate(suffix_log_probs, start=1)]
    return float(np.mean(gains)) if gains else 0.0


Reading = tuple[list[int], np.ndarray]  # a text's ids as the LM reads it (``encode``) and their log probs (``token_log_probs``)


def read(model: CharLM, index: dict[str, int], texts: Sequence[str]) -> list[Reading]:
    """Each (normalized) text as the model reads it, cut to its first ``block_size`` - 1 characters (so the whole cut
    text is read, with </s>, in either direction): the ids and their log probabilities, one batched pass. The
    summaries below all start from these readings, so a judge reads each text once per LM."""
    rows = [encode(reading_order(model, text[: model.config.block_size - 1]), index, model.config.block_size) for text in texts]
    return list(zip(rows, token_log_probs(model, rows)))


def context_gains(model: CharLM, readings: Sequence[Reading], window: int = WINDOW) -> np.ndarray:
    """``context_gain`` of each text read by ``read``: an array (len(readings),). Costs one LM row of ``window`` + 1
    tokens per character of each text (batched; the model is causal, so a suffix's first ``window`` log probabilities
    need no more of it)."""
    suffixes = [[row[0], *row[i + 1 : i + 1 + window]] for row, _ in readings for i in range(1, len(row) - 2)]
    suffix_log_probs = iter(token_log_probs(model, suffixes))
    return np.asarray([context_gain(log_probs, [next(suffix_log_probs) for _ in range(1, len(row) - 2)], window)
                       for row, log_probs in readings], dtype=np.float64)


def text_summaries(model: CharLM, readings: Sequence[Reading]) -> np.ndarray:
    """``lm_summary`` of each text read by ``read``: an array (len(readings), 3)."""
    unigram = model.unigram_log_probs.cpu().numpy().astype(np.float64)
    return np.asarray([lm_summary(lp, unigram[np.asarray(row[1:], dtype=np.int64)]) for row, lp in readings],
                      dtype=np.float64).reshape(len(readings), 3)


def both_ways_worst_window(forward_log_probs: np.ndarray, backward_log_probs: np.ndarray, window: int = WINDOW) -> float:
    """The lowest mean over ``window`` consecutive characters of (log P(character | what stands before it) + log P(character
    | what stands after it)): ``forward_log_probs`` from a left-to-right LM and ``backward_log_probs`` from a right-to-left
    one, each in its own reading order of the same characters (``token_log_probs``, </s> last). At a splice's joint both
    LMs are surprised at the same place; a character that only one of them finds odd is not enough. NaN for no
    characters."""
    if len(forward_log_probs) != len(backward_log_probs):
        raise ValueError(f"the two LMs read {len(forward_log_probs)} and {len(backward_log_probs)} tokens: not the same characters")
    n = len(forward_log_probs) - 1  # characters, </s> dropped
    if n <= 0:
        return float("nan")
    per_character = forward_log_probs[:n] + backward_log_probs[:n][::-1]
    width = min(window, n)
    return float(np.convolve(per_character, np.ones(width) / width, mode="valid").min())


def both_ways_worst_windows(forward: Sequence[Reading], backward: Sequence[Reading]) -> np.ndarray:
    """``both_ways_worst_window`` of each text, from a left-to-right and a right-to-left LM's ``read`` of the same texts:
    an array (len(forward),)."""
    return np.asarray([both_ways_worst_window(f, b) for (_, f), (_, b) in zip(forward, backward, strict=True)], dtype=np.float64)
