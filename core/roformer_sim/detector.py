"""A character detector of broken text: the fluency judge's char LM with a head that says where a sentence stops
being Chinese.

The char LM (``char_lm``) gives the judge probabilities, and the judge learns only how to weigh a few summaries of
them. The detector reads the same way (left to right, each position seeing the text up to itself), but its head is
trained to answer the judge's own question: at each character, has the text read so far stopped being fluent? The
text's score pools those answers with a log-mean-exp: a soft maximum (one broken place is enough) that does not grow
with the text's length. ``train_detector`` fine-tunes it from the char LM on real sentences against the judge's
fitted kinds of negative (``fluency.FIT_KINDS``: substitutions, cut sentences, repeats, the generator's samples),
never on the kinds the judge is tested on (shuffles, splices).

Independence: it reads the char LM's text and the generator's samples, never the generator's pairs, objective or
weights, and the generator never uses it.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import torch
import torch.nn as nn

from core.roformer_sim.char_lm import PAD, CharLM, CharLMConfig, encode, normalize


class CharDetector(CharLM):
    model_type = "char-detector"

    def __init__(self, config: CharLMConfig):
        super().__init__(config)
        self.break_head = nn.Linear(config.n_embd, 1)
        nn.init.zeros_(self.break_head.weight)
        nn.init.zeros_(self.break_head.bias)

    @classmethod
    def from_lm(cls, lm: CharLM) -> CharDetector:
        """A detector that starts from ``lm``'s weights (its break head at zero: every text scores 0 at first)."""
        detector = cls(lm.config)
        detector.load_state_dict(lm.state_dict(), strict=False)
        return detector

    def break_logits(self, ids: torch.Tensor) -> torch.Tensor:
        """(B,): the log-odds that each row of ``ids`` (from ``encode``, right-padded with PAD = 0) is broken: the
        log-mean-exp of the per-position logits over its tokens after <s>."""
        logits = self.break_head(self.hidden(ids))[..., 0].float()[:, 1:]
        real = ids[:, 1:] != 0
        pooled = torch.logsumexp(logits.masked_fill(~real, -math.inf), dim=1)
        return pooled - torch.log(real.sum(dim=1).clamp(min=1).float())


def rows(texts: Sequence[str], index: dict[str, int], block_size: int) -> list[list[int]]:
    """Each text as the detector reads it: <s>, its first ``block_size`` - 2 (normalized) characters, </s> (the
    detector reads every token, so the end mark must fit in the context too)."""
    if index[PAD] != 0:
        raise ValueError("the detector pads with id 0, which must be <pad>")
    return [encode(normalize(text)[: block_size - 2], index, block_size) for text in texts]


def padded(batch: Sequence[Sequence[int]]) -> torch.Tensor:
    width = max(len(r) for r in batch)
    out = torch.zeros(len(batch), width, dtype=torch.long)
    for i, r in enumerate(batch):
        out[i, : len(r)] = torch.tensor(r)
    return out


@torch.inference_mode()
def whole_scores(model: CharDetector, index: dict[str, int], texts: Sequence[str], batch_size: int = 256) -> np.ndarray:
    """(len(texts),): minus the break log-odds of each text (higher = more fluent), batched by length."""
    encoded = rows(texts, index, model.config.block_size)
    out = np.zeros(len(texts))
    order = sorted(range(len(texts)), key=lambda i: len(encoded[i]))
    device = model.tok_emb.weight.device
    for start in range(0, len(order), batch_size):
        chunk = order[start : start + batch_size]
        out[chunk] = -model.break_logits(padded([encoded[i] for i in chunk]).to(device)).cpu().numpy()
    return out
