"""The impact function of Perturbed Masking (Wu et al., ACL 2020), batched over masked copies.

    f(e_i, e_j) = || H(x \\ {e_i})_i − H(x \\ {e_i, e_j})_i ||₂

H(x∖S)_i is the mean hidden vector of span e_i when every character of the spans in S is
replaced by [MASK]. Masking {e_i, e_j} is one forward that yields both f(e_i, e_j) and
f(e_j, e_i), so a sentence of m spans needs m single-masked rows plus one row per pair:
2n − 1 rows for the adjacent character pairs of segmentation, m(m+1)/2 for a full matrix.
All rows have the same length, so they go through the encoder in large batches, and the
impacts of every layer come out of the same forward (switching layers never reruns it).

The same rows also give the masked LM's prediction of each masked span. How much better e_i is
predicted with e_j visible, log p(e_i | x∖{e_i}) − log p(e_i | x∖{e_i, e_j}), is the mutual
information of the pair as the LM sees it; the "combined" segmentation rule adds it to the impacts.

Works with any Hugging Face masked LM with a BERT-style head (``cls``) whose directory has a
BERT-style vocab.txt: the bundled character RoFormer and ``bert-base-chinese`` (``model.load``).
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch

from core.perturbed_masking.readout import NO_READOUT, Readout
from core.perturbed_masking.text import normalize

# Used when a checkpoint has no tuned ``segmentation.json`` of its own: Su's setting for
# bert-base-chinese (absolute impact ≥ 8 on the last layer, Euclidean), and for the relative and
# combined rules 1.0 (join where a gap's impact is at least its stronger neighbour's); the fitted rule's
# scores are probabilities.
FALLBACK_THRESHOLDS = {"absolute": 8.0, "relative": 1.0, "combined": 1.0, "fitted": 0.5}
DEFAULTS_FILE = "segmentation.json"
CACHE_SIZE = 256

Span = tuple[int, int]  # [start, end) in characters
Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class SegmentationDefaults:
    """The layer and join rule a checkpoint segments with, and a threshold for each rule."""

    layer: int
    rule: str = "absolute"
    thresholds: dict[str, float] = field(default_factory=lambda: dict(FALLBACK_THRESHOLDS))
    readout: Readout | None = None  # the fitted rule's weights, when the checkpoint has them

    @property
    def threshold(self) -> float:
        return self.threshold_of(self.rule)

    def threshold_of(self, rule: str) -> float:
        """The tuned threshold of ``rule``; the fitted rule only when this checkpoint has a read-out."""
        if rule == "fitted" and self.readout is None:
            raise ValueError(NO_READOUT)
        return self.thresholds[rule]


@dataclass(frozen=True)
class Impacts:
    """What one batch of masked copies tells about a text's spans (NaN where a pair was not requested)."""

    hidden: np.ndarray  # (layers + 1, m, m): f(e_i, e_j) on every hidden layer, 0 = embeddings
    prediction: np.ndarray  # (m, m): log p(e_i | x∖{e_i}) − log p(e_i | x∖{e_i, e_j}): how much e_j helps predict e_i


@dataclass
class Encoder:
    """A loaded encoder with what Perturbed Masking needs from its tokenizer."""

    model: torch.nn.Module  # the base encoder: hidden states of every layer
    head: torch.nn.Module  # its masked-LM head: last hidden state → logits over the vocabulary
    vocab: dict[str, int]
    mask_id: int
    cls_id: int
    sep_id: int
    unk_id: int
    device: torch.device
    max_chars: int  # longest piece one forward may take ([CLS] + chars + [SEP] ≤ positions)
    defaults: SegmentationDefaults
    batch_rows: int = 64  # best CPU throughput is at batch 16–64 (reference/environment.md)
    cache: OrderedDict = field(default_factory=OrderedDict, repr=False)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def num_layers(self) -> int:
        """Hidden-state layers available: 0 = embeddings, 1..L = transformer layers."""
        return self.model.config.num_hidden_layers

    def char_ids(self, text: str) -> list[int]:
        """One id per character: the model never sees WordPiece merges (digit runs stay split)."""
        return [self.vocab.get(ch, self.unk_id) for ch in normalize(text)]


def checkpoint_defaults(directory: Path) -> tuple[int, SegmentationDefaults]:
    """(layers, segmentation defaults) from the files alone, without loading weights."""
    directory = Path(directory)
    layers = json.loads((directory / "config.json").read_text())["num_hidden_layers"]
    defaults_path = directory / DEFAULTS_FILE
    tuned = json.loads(defaults_path.read_text()) if defaults_path.is_file() else {}
    thresholds = {**FALLBACK_THRESHOLDS, **tuned.get("thresholds", {})}
    readout = Readout.from_json(tuned["readout"]) if "readout" in tuned else None
    return layers, SegmentationDefaults(int(tuned.get("layer", layers)), tuned.get("rule", "absolute"), thresholds, readout)


def mask_rows(ids: Sequence[int], spans: Sequence[Span], rows: Sequence[tuple[int, ...]], mask_id: int, cls_id: int, sep_id: int) -> torch.Tensor:
    """[CLS] ids [SEP] once per row, with the characters of the row's spans replaced by [MASK]."""
    base = torch.tensor([cls_id, *ids, sep_id])
    batch = base.repeat(len(rows), 1)
    for r, masked in enumerate(rows):
        for s in masked:
            start, end = spans[s]
            batch[r, 1 + start : 1 + end] = mask_id
    return batch


def span_means(spans: Sequence[Span], length: int) -> torch.Tensor:
    """(spans, tokens) averaging matrix: row s averages the token vectors of span s."""
    weights = torch.zeros(len(spans), length)
    for s, (start, end) in enumerate(spans):
        weights[s, 1 + start : 1 + end] = 1.0 / (end - start)
    return weights


@torch.inference_mode()
def span_impacts(
    encoder: Encoder,
    text: str,
    spans: Sequence[Span],
    pairs: Sequence[tuple[int, int]],
    progress: Progress | None = None,
    predict: bool = True,
) -> Impacts:
    """Impacts of every layer, and prediction gains, for the requested span pairs.

    ``hidden[l, i, j]`` = f(e_i, e_j) on hidden layer l (0 = embeddings); ``prediction[i, j]`` is how
    much better the masked LM predicts e_i (mean log-probability of its characters) when e_j is
    visible (all NaN with ``predict`` False, which skips the LM head). Both directions of every pair
    are filled, the diagonal is 0 and pairs not requested are NaN.
    """
    m = len(spans)
    if m == 0:
        raise ValueError("no characters to analyse")
    if spans[0][0] != 0 or spans[-1][1] != len(text) or any(a[1] != b[0] or a[0] >= a[1] for a, b in zip(spans, spans[1:])):
        raise ValueError(f"spans {list(spans)} do not tile the {len(text)} characters of the text")
    if len(text) > encoder.max_chars:
        raise ValueError(f"text has {len(text)} characters; this model takes at most {encoder.max_chars} per piece")
    ids = encoder.char_ids(text)
    rows: list[tuple[int, ...]] = [(i,) for i in range(m)] + [tuple(p) for p in pairs]
    batch = mask_rows(ids, spans, rows, encoder.mask_id, encoder.cls_id, encoder.sep_id)
    averaging = span_means(spans, batch.shape[1]).to(encoder.device)
    # Only the span vectors each row is read for: span i of row i, spans i and j of pair rows.
    wanted = [(r, s) for r, masked in enumerate(rows) for s in masked]
    token_ids = torch.tensor([encoder.cls_id, *ids, encoder.sep_id], device=encoder.device)
    vectors, log_probs = [], []
    for start in range(0, len(rows), encoder.batch_rows):
        chunk = batch[start : start + encoder.batch_rows].to(encoder.device)
        hidden = encoder.model(input_ids=chunk, attention_mask=torch.ones_like(chunk), output_hidden_states=True).hidden_states
        means = torch.einsum("st,lbth->lbsh", averaging, torch.stack(hidden))
        local = [(r - start, s) for r, s in wanted if start <= r < start + len(chunk)]
        vectors.append(means[:, [r for r, _ in local], [s for _, s in local]])
        if predict:  # the LM head only where a masked span is read: its characters' log-probabilities, averaged
            owner, row, position = zip(*[(k, r, 1 + c) for k, (r, s) in enumerate(local) for c in range(*spans[s])])
            owner, position = torch.tensor(owner, device=encoder.device), torch.tensor(position, device=encoder.device)
            logits = encoder.head(hidden[-1][torch.tensor(row, device=encoder.device), position]).float()
            char_log_probs = torch.log_softmax(logits, dim=-1).gather(1, token_ids[position, None])[:, 0]
            sums = torch.zeros(len(local), device=encoder.device).index_add_(0, owner, char_log_probs)
            log_probs.append(sums / torch.bincount(owner, minlength=len(local)))
        if progress:
            progress(min(start + len(chunk), len(rows)), len(rows))
    vectors = torch.cat(vectors, dim=1).float()
    log_probs = torch.cat(log_probs).cpu().numpy() if predict else np.full(len(wanted), np.nan)
    # The hidden size is spelt out: a one-word text has no pairs, and -1 cannot be inferred from 0 elements.
    single, paired = vectors[:, :m], vectors[:, m:].reshape(vectors.shape[0], len(pairs), 2, vectors.shape[-1])
    impacts = np.full((vectors.shape[0], m, m), np.nan, dtype=np.float32)
    impacts[:, np.arange(m), np.arange(m)] = 0.0
    gains = np.full((m, m), np.nan, dtype=np.float32)
    gains[np.arange(m), np.arange(m)] = 0.0 if predict else np.nan
    if pairs:
        i = np.array([p[0] for p in pairs])
        j = np.array([p[1] for p in pairs])
        impacts[:, i, j] = (single[:, torch.from_numpy(i)] - paired[:, :, 0]).norm(dim=-1).cpu().numpy()
        impacts[:, j, i] = (single[:, torch.from_numpy(j)] - paired[:, :, 1]).norm(dim=-1).cpu().numpy()
        paired_log_probs = log_probs[m:].reshape(len(pairs), 2)
        gains[i, j] = log_probs[i] - paired_log_probs[:, 0]
        gains[j, i] = log_probs[j] - paired_log_probs[:, 1]
    return Impacts(impacts, gains)


def cached_impacts(encoder: Encoder, text: str, spans: Sequence[Span], full: bool, progress: Progress | None = None) -> Impacts:
    """``span_impacts`` for adjacent pairs (``full`` False) or all pairs, memoised per sentence.

    Prediction gains are only computed for adjacent pairs: segmentation uses them, trees do not.
    """
    key = (text, tuple(spans), full)
    with encoder.lock:
        if key in encoder.cache:
            encoder.cache.move_to_end(key)
            return encoder.cache[key]
    m = len(spans)
    pairs = [(i, j) for i in range(m) for j in range(i + 1, m)] if full else [(i, i + 1) for i in range(m - 1)]
    impacts = span_impacts(encoder, text, spans, pairs, progress, predict=not full)
    with encoder.lock:
        encoder.cache[key] = impacts
        while len(encoder.cache) > CACHE_SIZE:
            encoder.cache.popitem(last=False)
    return impacts


def char_spans(text: str) -> list[Span]:
    return [(i, i + 1) for i in range(len(text))]


def word_spans(words: Sequence[str]) -> list[Span]:
    spans, start = [], 0
    for word in words:
        spans.append((start, start + len(word)))
        start += len(word)
    return spans


def adjacent_impacts(encoder: Encoder, text: str, progress: Progress | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Mean two-way impact between characters k and k + 1 on every layer, (layers + 1, n − 1), and their
    mean two-way prediction gain, (n − 1,): 2n − 1 rows."""
    impacts = cached_impacts(encoder, text, char_spans(text), full=False, progress=progress)
    k = np.arange(len(text) - 1)
    two_way = lambda matrix: (matrix[..., k, k + 1] + matrix[..., k + 1, k]) / 2
    return two_way(impacts.hidden), two_way(impacts.prediction)


def word_matrix(encoder: Encoder, words: Sequence[str], progress: Progress | None = None) -> np.ndarray:
    """(layers + 1, m, m) impact matrix between words (m(m+1)/2 rows)."""
    return cached_impacts(encoder, "".join(words), word_spans(words), full=True, progress=progress).hidden
