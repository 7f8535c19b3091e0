"""The masked LM that Perturbed Masking probes: the bundled character RoFormer, or any Hugging Face
masked LM with a BERT-style head (``cls``) and a BERT-style vocab.txt, such as ``bert-base-chinese``.

Checkpoint layout (what ``save_pretrained`` writes and ``load`` reads, like the Hub repositories):
``config.json`` + ``model.safetensors`` of a ``RoFormerForMaskedLM``, ``vocab.txt`` (one token per
line, the special tokens first) and ``tokenizer_config.json`` for ``BertTokenizer``, plus the tuned
``segmentation.json`` that ``core.perturbed_masking.evaluate tune --write`` adds.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from transformers import AutoModelForMaskedLM, BertTokenizer, RoFormerConfig, RoFormerForMaskedLM

from core.perturbed_masking.impact import Encoder, checkpoint_defaults

SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
PAD, UNK, CLS, SEP, MASK = range(len(SPECIAL_TOKENS))


def roformer_config(vocab_size: int, hidden: int, embedding: int, layers: int, heads: int, ffn: int, max_positions: int) -> RoFormerConfig:
    """The character RoFormer's config; factorised embeddings (``embedding`` < ``hidden``) keep the fp16 file small."""
    return RoFormerConfig(
        vocab_size=vocab_size,
        embedding_size=embedding,
        hidden_size=hidden,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        intermediate_size=ffn,
        max_position_embeddings=max_positions,
        type_vocab_size=2,  # the paraphrase model (UniLM segments) starts from these weights
        pad_token_id=PAD,
        hidden_dropout_prob=0.0,  # a short single-epoch run does not overfit
        attention_probs_dropout_prob=0.0,
    )


def read_vocab(directory: Path) -> list[str]:
    """The tokens of a ``vocab.txt`` (one per line)."""
    return (Path(directory) / "vocab.txt").read_text(encoding="utf-8").split("\n")[:-1]


def save_pretrained(model: RoFormerForMaskedLM, vocab: list[str], directory: Path, half: bool = False) -> None:
    """A directory ``load`` (and ``BertTokenizer`` / ``RoFormerForMaskedLM.from_pretrained``) read."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    to_save = RoFormerForMaskedLM(model.config).eval()
    to_save.load_state_dict(model.state_dict())
    if half:
        to_save = to_save.half()
    to_save.save_pretrained(directory)
    (directory / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    (directory / "tokenizer_config.json").write_text(
        json.dumps({"tokenizer_class": "BertTokenizer", "do_lower_case": True, "model_max_length": model.config.max_position_embeddings})
    )


def load(directory: Path, device: torch.device | str = "cpu") -> Encoder:
    """Read a checkpoint directory (bundled or a Hub snapshot): encoder + masked-LM head + vocab + defaults."""
    device = torch.device(device)
    tokenizer = BertTokenizer.from_pretrained(directory)
    masked_lm = AutoModelForMaskedLM.from_pretrained(directory, dtype=torch.float32).to(device).eval()
    if not hasattr(masked_lm, "cls"):  # BERT-style models (BERT, RoFormer, …) keep the MLM head in `cls`
        raise ValueError(f"{directory}: {type(masked_lm).__name__} has no BERT-style masked-LM head (`cls`)")
    model = masked_lm.base_model
    return Encoder(
        model=model,
        head=masked_lm.cls,
        vocab=tokenizer.get_vocab(),
        mask_id=tokenizer.mask_token_id,
        cls_id=tokenizer.cls_token_id,
        sep_id=tokenizer.sep_token_id,
        unk_id=tokenizer.unk_token_id,
        device=device,
        max_chars=min(model.config.max_position_embeddings, 512) - 2,
        defaults=checkpoint_defaults(directory)[1],
    )


# ----------------------------------------------------------------------------- masked-LM scoring (trainer and evaluate)


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


@torch.no_grad()
def mlm_accuracy(model: RoFormerForMaskedLM, ids: np.ndarray, mask_rate: float, batch: int = 128) -> dict:
    """Accuracy and loss on a fixed masking (seed 1234) of held-out chunks."""
    model.eval()
    device = next(model.parameters()).device
    generator = torch.Generator().manual_seed(1234)
    correct = total = 0
    loss = 0.0
    for start in range(0, len(ids), batch):
        rows = torch.from_numpy(ids[start : start + batch].astype(np.int64))
        inputs, chosen = mask_batch(rows, mask_rate, model.config.vocab_size, generator)
        logits = mlm_logits(model, inputs.to(device), chosen.to(device)).float()
        targets = rows[chosen].to(device)
        correct += (logits.argmax(-1) == targets).sum().item()
        loss += torch.nn.functional.cross_entropy(logits, targets, reduction="sum").item()
        total += len(targets)
    model.train()
    return {"mlm_accuracy": round(correct / total, 4), "mlm_loss": round(loss / total, 4), "masked_tokens": total}
