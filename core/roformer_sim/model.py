"""RoFormer-Sim (SimBERTv2): one RoFormer that both writes similar sentences and embeds them.

Su Jianlin, https://kexue.fm/archives/8454 (RoFormer-Sim) and /8541 (the supervised "-FT" models);
reference code ZhuiyiTechnology/roformer-sim (bert4keras). Built on transformers' RoFormer blocks:

* similarity: sentence vector = Linear(h_[CLS]) with **no activation** (bert4keras ``with_pool='linear'``);
  similarity = cosine. A tanh pooler reproduces none of the published scores.
* generation: UniLM seq2seq on the same weights. ``[CLS] source [SEP]`` is segment 0 and attends
  bidirectionally to itself; the target ``paraphrase [SEP]`` is segment 1 and attends to the whole
  source and causally to itself. The MLM head (tied to the word embeddings) predicts the next token.

Checkpoint layout (the public Hub ports ``junnyu/roformer_chinese_sim_char_*`` and our bundled model
share it): ``config.json``, ``vocab.txt`` (BertTokenizer, char level) and the weights, named
``roformer.*``, ``roformer.pooler.dense.{weight,bias}``, ``cls.predictions.*``. The Hub files are
``pytorch_model.bin`` with ``is_decoder: true`` in the config, which would make every [CLS] vector see
only itself (all similarities ≈ 1), so the flag is always forced off here and every call passes an
explicit 4-D additive mask (transformers 5 adds 4-D masks as they are; booleans would leak).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn
from transformers import BertTokenizer, DynamicCache, RoFormerConfig, RoFormerModel
from transformers.models.roformer.modeling_roformer import RoFormerOnlyMLMHead

from core import int8

SOURCE, TARGET = 0, 1  # token_type_ids of the two UniLM segments
HUB_WEIGHTS = "pytorch_model.bin"
BUNDLED_WEIGHTS = "model.safetensors"
MAX_LEN = 64  # tokens per sentence, as in every roformer-sim script

# Our parameter name -> name in the checkpoint file (the Hub port keeps the pooler inside `roformer`).
FILE_NAMES = {"pooler.weight": "roformer.pooler.dense.weight", "pooler.bias": "roformer.pooler.dense.bias"}
# Parameters that are the same tensor as another one: (alias, owner). Files may store both or only the owner.
TIED = {
    "cls.predictions.decoder.weight": "roformer.embeddings.word_embeddings.weight",
    "cls.predictions.decoder.bias": "cls.predictions.bias",
}
# Rebuilt deterministically (a sinusoid table); the Hub files deleted it in 2021 ("rm encoder.embed_positions").
DERIVED = ("roformer.encoder.embed_positions.weight",)


def additive_mask(allowed: torch.Tensor, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """(B, Q, K) bool "query may see key" -> (B, 1, Q, K) float: 0 where allowed, the dtype's minimum elsewhere."""
    blocked = torch.zeros(allowed.shape, dtype=dtype, device=allowed.device).masked_fill(~allowed, torch.finfo(dtype).min)
    return blocked[:, None]


def unilm_allowed(token_type_ids: torch.Tensor, padding: torch.Tensor) -> torch.Tensor:
    """bert4keras UniLM_Mask: query i sees key j iff cumsum(segments)[j] <= cumsum(segments)[i], and j is not padding.

    Source positions (cumsum 0) see the whole source; the t-th target token (cumsum t) sees the source and
    target tokens 1..t. ``padding`` is 1 for real tokens, 0 for padding.
    """
    idx = torch.cumsum(token_type_ids, dim=1)
    return (idx[:, None, :] <= idx[:, :, None]) & padding[:, None, :].bool()


def bidirectional_allowed(padding: torch.Tensor) -> torch.Tensor:
    """Every query sees every real key: how sentences are embedded."""
    return padding[:, None, :].bool().expand(-1, padding.shape[1], -1)


def sim_config(raw: dict) -> RoFormerConfig:
    """The RoFormer config of a checkpoint, with the settings that must hold for RoFormer-Sim."""
    activation = raw.get("pooler_activation", "linear")
    if activation != "linear":
        raise ValueError(f"pooler_activation {activation!r} is not RoFormer-Sim's (it uses a linear pooler)")
    if raw.get("type_vocab_size", 2) < 2:
        raise ValueError("RoFormer-Sim needs type_vocab_size >= 2 (source and target segments)")
    # Forced off: with is_decoder the encoder would be causal; cross-attention does not exist in UniLM.
    return RoFormerConfig(**{**raw, "is_decoder": False, "add_cross_attention": False, "pooler_activation": "linear"})


class RoFormerSim(nn.Module):
    """RoFormer encoder + linear [CLS] pooler + MLM head, all sharing one set of layers."""

    def __init__(self, config: RoFormerConfig):
        super().__init__()
        self.config = config
        self.roformer = RoFormerModel(config)  # embeddings + encoder (transformers' RoFormer has no pooler)
        self.pooler = nn.Linear(config.hidden_size, config.hidden_size)
        self.cls = RoFormerOnlyMLMHead(config)
        # Tie the output projection to the input embeddings and its bias to the head's bias, as in BERT.
        self.cls.predictions.decoder.weight = self.roformer.embeddings.word_embeddings.weight
        self.cls.predictions.decoder.bias = self.cls.predictions.bias

    def hidden_states(
        self,
        input_ids: torch.Tensor,
        token_type_ids: torch.Tensor,
        mask: torch.Tensor,
        cache: DynamicCache | None = None,
    ) -> torch.Tensor:
        """Last-layer states (B, L, H). ``mask`` is 4-D additive over (queries, cached + new keys).

        Calling embeddings and encoder directly (not RoFormerModel.forward) keeps transformers from
        building its own mask and lets the cache work without ``is_decoder``; rotary positions continue
        from the cache length, so a generated token sits at len(source) + t as in full recompute.
        """
        h = self.roformer.embeddings(input_ids=input_ids, token_type_ids=token_type_ids)
        if hasattr(self.roformer, "embeddings_project"):
            h = self.roformer.embeddings_project(h)
        return self.roformer.encoder(h, attention_mask=mask, past_key_values=cache, use_cache=cache is not None)[0]

    def sentence_vectors(self, input_ids: torch.Tensor, padding: torch.Tensor) -> torch.Tensor:
        """Pooled (not normalised) vectors of single sentences ``[CLS] text [SEP]``, full attention."""
        segments = torch.full_like(input_ids, SOURCE)
        h = self.hidden_states(input_ids, segments, additive_mask(bidirectional_allowed(padding), self.dtype))
        return self.pooler(h[:, 0])

    def unilm(self, input_ids: torch.Tensor, token_type_ids: torch.Tensor, padding: torch.Tensor) -> torch.Tensor:
        """Last-layer states (B, L, H) of a full UniLM pass over ``[CLS] a [SEP] b [SEP]``.

        Apply ``cls`` only where logits are needed (the head is the costliest layer of a small model);
        ``pooler(h[:, 0])`` is the source's sentence vector, since [CLS] sees only the source segment.
        """
        mask = additive_mask(unilm_allowed(token_type_ids, padding), self.dtype)
        return self.hidden_states(input_ids, token_type_ids, mask)

    @property
    def dtype(self) -> torch.dtype:
        return self.pooler.weight.dtype

    @property
    def device(self) -> torch.device:
        return self.pooler.weight.device


@dataclass
class Sim:
    """A loaded RoFormer-Sim: the network and its tokenizer (what every function in this package takes)."""

    model: RoFormerSim
    tokenizer: BertTokenizer

    @property
    def device(self) -> torch.device:
        return self.model.device

    def tokenize(self, texts: list[str], max_len: int = MAX_LEN) -> tuple[torch.Tensor, torch.Tensor]:
        """``[CLS] text [SEP]`` ids and padding mask (1 = real token), truncated to ``max_len`` tokens."""
        enc = self.tokenizer(texts, max_length=max_len, truncation=True, padding=True, return_tensors="pt")
        return enc["input_ids"].to(self.device), enc["attention_mask"].to(self.device)


# ---------------------------------------------------------------- checkpoints (Hub and bundled layouts)


def file_name(param: str) -> str:
    return FILE_NAMES.get(param, param)


def read_weights(directory: Path) -> dict[str, torch.Tensor]:
    """The raw tensors of a checkpoint directory, whichever of the two file formats it has."""
    if (directory / BUNDLED_WEIGHTS).is_file():
        return int8.read(directory / BUNDLED_WEIGHTS)  # fp16 or int8 (``core.int8``), back in fp32
    if (directory / HUB_WEIGHTS).is_file():
        return torch.load(directory / HUB_WEIGHTS, map_location="cpu", weights_only=True)
    raise FileNotFoundError(f"{directory} has neither {BUNDLED_WEIGHTS} nor {HUB_WEIGHTS}")


def load_weights(model: RoFormerSim, weights: dict[str, torch.Tensor], allow_missing: tuple[str, ...] = ()) -> None:
    """Copy ``weights`` (file names) into ``model``; every tensor must be used and every parameter set.

    Tied aliases may be absent (the owner is loaded) or present (then they must equal the owner, since
    one tensor cannot hold two values). ``allow_missing`` names parameters that keep their fresh
    initialisation (the pooler when starting from a plain masked LM).
    """
    params = dict(model.state_dict())
    by_file = {file_name(p): p for p in params}
    unused = sorted(set(weights) - set(by_file))
    if unused:
        raise ValueError(f"checkpoint tensors that RoFormer-Sim has no place for: {unused[:8]} ({len(unused)} in all)")
    missing = sorted(
        p for p in params if file_name(p) not in weights and p not in TIED and p not in DERIVED and p not in allow_missing
    )
    if missing:
        raise ValueError(f"checkpoint lacks {missing[:8]} ({len(missing)} in all)")
    with torch.no_grad():
        for name, tensor in weights.items():
            param = by_file[name]
            if param in TIED:
                owner = weights.get(file_name(TIED[param]))
                if owner is not None and not torch.equal(owner.float(), tensor.float()):
                    raise ValueError(f"{name} differs from {TIED[param]}, but the two are one tied tensor")
                continue
            target = params[param]
            if target.shape != tensor.shape:
                raise ValueError(f"{name}: checkpoint shape {tuple(tensor.shape)} != model shape {tuple(target.shape)}")
            target.copy_(tensor.to(target.dtype))


def load(directory: str | Path, device: torch.device | str = "cpu") -> Sim:
    """Load a RoFormer-Sim checkpoint directory (Hub ``pytorch_model.bin`` or bundled safetensors)."""
    directory = Path(directory)
    config = sim_config(json.loads((directory / "config.json").read_text(encoding="utf-8")))
    model = RoFormerSim(config)
    load_weights(model, read_weights(directory))
    # Lower-case like the original char vocab; `vocab=` (transformers 5 ignores `vocab_file=`).
    tokenizer = BertTokenizer(vocab=str(directory / "vocab.txt"), do_lower_case=True)
    if len(tokenizer.get_vocab()) != config.vocab_size:
        raise ValueError(f"vocab.txt has {len(tokenizer.get_vocab())} entries, config says {config.vocab_size}")
    return Sim(model.to(device).eval(), tokenizer)


def save_pretrained(sim: Sim, directory: str | Path, dtype: torch.dtype = torch.float16) -> None:
    """Write the bundled layout: config.json, model.safetensors (Hub key names, tied aliases left out), vocab.txt."""
    from safetensors.torch import save_file

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    state = sim.model.state_dict()
    tensors = {
        file_name(p): t.detach().to("cpu", dtype).contiguous() for p, t in state.items() if p not in TIED and p not in DERIVED
    }
    save_file(tensors, str(directory / BUNDLED_WEIGHTS))
    config = sim.model.config.to_dict()
    config.update(architectures=["RoFormerSim"], pooler_activation="linear")
    (directory / "config.json").write_text(json.dumps(config, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    vocab = sorted(sim.tokenizer.get_vocab().items(), key=lambda kv: kv[1])
    (directory / "vocab.txt").write_text("".join(token + "\n" for token, _ in vocab), encoding="utf-8")
