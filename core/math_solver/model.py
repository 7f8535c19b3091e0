"""The T5 solver: tokenizer, model configuration, beam search and the answer of the best beam.

Two kinds of checkpoint directory load here:

* the bundled one (``assets/math_solver``): a small ``T5ForConditionalGeneration`` and our
  :class:`CharTokenizer` (``vocab.txt``), one token per character, placeholder ``N0``…``N19``,
  digit and operator, so that numbers and placeholders are never split or merged;
* an mT5 directory laid out like ``google/mt5-small`` (``spiece.model``), loaded as
  ``MT5ForConditionalGeneration`` with ``T5Tokenizer``, for fine-tuning with ``train --init``.

The model writes an equation over placeholders; :mod:`core.math_solver.solution` reads, evaluates and chooses among
the beams, as it does for the tree solver (:mod:`core.math_solver.tree`).
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from pathlib import Path

import torch
from transformers import LogitsProcessor, LogitsProcessorList, MT5ForConditionalGeneration, T5Config, T5ForConditionalGeneration

from core.math_solver import normalize, ranker
from core.math_solver.solution import BeamSolver, fitted_ranker

VOCAB_FILE = "vocab.txt"
SPECIAL_TOKENS = ("<pad>", "</s>", "<unk>")  # ids 0, 1, 2: T5's pad (= decoder start) and eos
EQUATION_TOKENS = tuple(f"N{i}" for i in range(normalize.MAX_PLACEHOLDERS)) + tuple("0123456789.+-*/^()%")
SENTINEL_TOKENS = tuple(f"<extra_id_{i}>" for i in range(16))  # span corruption's masks (``train --denoise``)
MAX_SOURCE_TOKENS = 192
MAX_TARGET_TOKENS = 64


class CharTokenizer:
    """Characters as tokens, except that a placeholder ``N12`` is one token."""

    _PIECE = re.compile(r"N1\d|N\d|\S")

    def __init__(self, tokens: list[str]):
        self.tokens = list(tokens)
        self.ids = {token: i for i, token in enumerate(self.tokens)}
        self.pad_token_id, self.eos_token_id, self.unk_token_id = (self.ids[t] for t in SPECIAL_TOKENS)

    @classmethod
    def build(cls, texts: list[str], min_count: int = 2) -> "CharTokenizer":
        """Specials, equation tokens, then the characters seen at least ``min_count`` times."""
        counts = Counter(piece for text in texts for piece in cls._PIECE.findall(text))
        fixed = list(SPECIAL_TOKENS) + list(EQUATION_TOKENS)
        rest = sorted(c for c, n in counts.items() if n >= min_count and c not in fixed)
        return cls(fixed + rest)

    @classmethod
    def from_pretrained(cls, directory: Path | str) -> "CharTokenizer":
        return cls((Path(directory) / VOCAB_FILE).read_text(encoding="utf-8").split("\n"))

    def save_pretrained(self, directory: Path | str) -> None:
        (Path(directory) / VOCAB_FILE).write_text("\n".join(self.tokens), encoding="utf-8")

    def __len__(self) -> int:
        return len(self.tokens)

    def with_sentinels(self) -> "CharTokenizer":
        """This vocabulary with :data:`SENTINEL_TOKENS` appended (never produced by :meth:`encode`)."""
        return CharTokenizer(self.tokens + [t for t in SENTINEL_TOKENS if t not in self.ids])

    def sentinel_ids(self) -> list[int]:
        return [self.ids[t] for t in SENTINEL_TOKENS if t in self.ids]

    def encode(self, text: str, max_tokens: int) -> list[int]:
        ids = [self.ids.get(piece, self.unk_token_id) for piece in self._PIECE.findall(text)]
        return ids[: max_tokens - 1] + [self.eos_token_id]

    def decode(self, ids: list[int]) -> str:
        specials = {self.pad_token_id, self.eos_token_id}
        return "".join(self.tokens[i] for i in ids if i not in specials)

    def equation_ids(self) -> list[int]:
        """The tokens an equation may contain (and eos): decoding is restricted to these."""
        return [self.eos_token_id] + [self.ids[t] for t in EQUATION_TOKENS]


class SentencePieceTokenizer:
    """The same interface over mT5's ``T5Tokenizer`` (sentencepiece, ``spiece.model``)."""

    def __init__(self, directory: Path | str):
        from transformers import T5Tokenizer

        self.inner = T5Tokenizer.from_pretrained(str(directory))
        self.pad_token_id, self.eos_token_id = self.inner.pad_token_id, self.inner.eos_token_id

    def __len__(self) -> int:
        return len(self.inner)

    def save_pretrained(self, directory: Path | str) -> None:
        self.inner.save_pretrained(str(directory))

    def encode(self, text: str, max_tokens: int) -> list[int]:
        ids = self.inner(text, add_special_tokens=False)["input_ids"]
        return ids[: max_tokens - 1] + [self.eos_token_id]

    def decode(self, ids: list[int]) -> str:
        return self.inner.decode(ids, skip_special_tokens=True).replace(" ", "")

    def equation_ids(self) -> None:
        return None  # sentencepiece pieces mix characters: decoding is not restricted


def small_config(vocab_size: int, dropout: float = 0.0) -> T5Config:
    """The bundled model: T5.1.1-style (gated-GELU, no tied bias tricks), ~4M parameters, fp16 ≤ 9.5 MB."""
    return T5Config(
        vocab_size=vocab_size,
        d_model=256,
        d_kv=64,
        d_ff=512,
        num_layers=3,
        num_decoder_layers=2,  # equations are short; the encoder does the reading
        num_heads=4,
        feed_forward_proj="gated-gelu",
        dropout_rate=dropout,  # a CPU budget allows ~15 epochs: fitting, not overfitting, is the limit
        tie_word_embeddings=True,
        pad_token_id=0,
        eos_token_id=1,
        decoder_start_token_id=0,
    )


def load_tokenizer(directory: Path | str):
    directory = Path(directory)
    if (directory / VOCAB_FILE).is_file():
        return CharTokenizer.from_pretrained(directory)
    return SentencePieceTokenizer(directory)


def load_model(directory: Path | str) -> torch.nn.Module:
    """``T5ForConditionalGeneration`` or ``MT5ForConditionalGeneration``, as the config says."""
    model_type = json.loads((Path(directory) / "config.json").read_text(encoding="utf-8"))["model_type"]
    model_class = MT5ForConditionalGeneration if model_type == "mt5" else T5ForConditionalGeneration
    return model_class.from_pretrained(str(directory), dtype=torch.float32)


# ---------------------------------------------------------------------------------------------
# Solving


class OnlyTokens(LogitsProcessor):
    """Forbid every token outside ``allowed`` (the model may only write equation symbols)."""

    def __init__(self, allowed: list[int], vocab_size: int):
        self.blocked = torch.ones(vocab_size, dtype=torch.bool)
        self.blocked[allowed] = False

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        return scores.masked_fill(self.blocked[: scores.shape[-1]].to(scores.device), -math.inf)


class Solver(BeamSolver):
    default_beams = 3

    def __init__(self, model: torch.nn.Module, tokenizer, device: torch.device | str = "cpu",
                 beam_ranker: ranker.Ranker | None = None, directory: Path | None = None):
        super().__init__(model, tokenizer, device, beam_ranker, directory)
        allowed = tokenizer.equation_ids()
        self.restrict = LogitsProcessorList([OnlyTokens(allowed, model.config.vocab_size)] if allowed else [])

    def batch_inputs(self, sources: list[str]) -> dict[str, torch.Tensor]:
        encoded = [self.tokenizer.encode(s, MAX_SOURCE_TOKENS) for s in sources]
        width = max(map(len, encoded))
        ids = torch.full((len(encoded), width), self.tokenizer.pad_token_id, dtype=torch.long)
        for row, seq in enumerate(encoded):
            ids[row, : len(seq)] = torch.tensor(seq)
        return {"input_ids": ids.to(self.device), "attention_mask": (ids != self.tokenizer.pad_token_id).long().to(self.device)}

    @torch.inference_mode()
    def generate(self, sources: list[str], beams: int) -> list[list[tuple[str, float, float]]]:
        """The ``beams`` best equations (text, mean log-prob per token, sequence log-prob) for each source."""
        out = self.model.generate(
            **self.batch_inputs(sources),
            num_beams=beams,
            num_return_sequences=beams,
            max_new_tokens=MAX_TARGET_TOKENS,
            do_sample=False,
            logits_processor=self.restrict,
            output_scores=True,
            return_dict_in_generate=True,
        )
        # Generated tokens up to the first eos, included: beam search divides the sequence log-prob by this
        # (length_penalty 1). Finished beams are padded with eos, greedy output with pad.
        generated = out.sequences[:, 1:]
        ended = generated == self.tokenizer.eos_token_id
        lengths = torch.where(ended.any(1), ended.int().argmax(1) + 1, (generated != self.tokenizer.pad_token_id).sum(1))
        if beams > 1:
            scores = out.sequences_scores
        else:  # greedy search has no sequence scores: average the chosen tokens' log-probabilities
            steps = self.model.compute_transition_scores(out.sequences, out.scores, normalize_logits=True)
            kept = steps.isfinite() & (out.sequences[:, 1:] != self.tokenizer.pad_token_id)
            scores = steps.where(kept, 0).sum(1) / lengths
        texts = [self.tokenizer.decode(seq.tolist()) for seq in out.sequences]
        found = list(zip(texts, scores.tolist(), (scores * lengths).tolist()))
        return [found[i : i + beams] for i in range(0, len(found), beams)]


def load(directory: Path | str, device: torch.device | str = "cpu") -> Solver:
    """Loader for ``core.checkpoints.load("math_solver", load)``; with the directory's ``ranker.json`` when it was
    fitted to this model's beams (its weights fingerprint matches), else answering by the rule."""
    model = load_model(directory)
    return Solver(model, load_tokenizer(directory), device, fitted_ranker(directory, model), Path(directory))

