"""A small GPT over move tokens (nanoGPT layout) with a KV cache for one forward per ply.

``forward(tokens, boards, cache)`` appends ``tokens`` to what ``cache`` already holds and returns
the next-move logits at every new position; a :class:`KVCache` can be truncated, so taking back a
move costs nothing and playing one costs a single one-token forward. ``boards`` holds the board
tokens of the position after each token (``vocab.board_tokens``); their embeddings are summed
into the token's input, so the model sees the position as well as the moves that led to it.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

from core import int8 as weight_file
from core.xiangqi.vocab import BOARD_VOCAB_SIZE, NO_PIECE, MoveVocab

CONFIG_FILE, WEIGHTS_FILE, VOCAB_FILE = "config.json", "model.safetensors", "vocab.txt"


@dataclass
class GPTConfig:
    vocab_size: int
    block_size: int = 160  # tokens: the result token + up to 159 plies
    n_layer: int = 4
    n_head: int = 4
    n_embd: int = 256
    dropout: float = 0.0
    board_vocab_size: int = BOARD_VOCAB_SIZE
    tactics: dict[str, float] | None = None  # weights of the moves' material features at play time (core.xiangqi.tactics)


class KVCache:
    """Keys and values of every layer for the tokens seen so far: lists of (B, H, T, D)."""

    def __init__(self, n_layer: int):
        self.keys: list[torch.Tensor | None] = [None] * n_layer
        self.values: list[torch.Tensor | None] = [None] * n_layer

    def __len__(self) -> int:
        return 0 if self.keys[0] is None else self.keys[0].shape[2]

    def truncate(self, length: int) -> None:
        """Forget everything after the first ``length`` tokens (used to take back moves)."""
        for i, (k, v) in enumerate(zip(self.keys, self.values)):
            if k is not None:
                self.keys[i], self.values[i] = k[:, :, :length], v[:, :, :length]


class CausalSelfAttention(nn.Module):
    def __init__(self, config: GPTConfig):
        super().__init__()
        self.n_head = config.n_head
        self.qkv = nn.Linear(config.n_embd, 3 * config.n_embd)
        self.proj = nn.Linear(config.n_embd, config.n_embd)
        self.dropout = config.dropout

    def forward(self, x: torch.Tensor, cache: KVCache | None, layer: int) -> torch.Tensor:
        B, T, C = x.shape
        q, k, v = self.qkv(x).split(C, dim=2)
        q, k, v = (t.view(B, T, self.n_head, C // self.n_head).transpose(1, 2) for t in (q, k, v))
        past = 0
        if cache is not None:
            if cache.keys[layer] is not None:
                past = cache.keys[layer].shape[2]
                k = torch.cat([cache.keys[layer], k], dim=2)
                v = torch.cat([cache.values[layer], v], dim=2)
            cache.keys[layer], cache.values[layer] = k, v
        if past == 0:
            mask, causal = None, True
        else:  # new token i may look at all past tokens and new tokens up to itself
            mask = torch.ones(T, past + T, dtype=torch.bool, device=x.device).tril(diagonal=past)
            causal = False
        y = F.scaled_dot_product_attention(
            q, k, v, attn_mask=mask, is_causal=causal, dropout_p=self.dropout if self.training else 0.0
        )
        return self.proj(y.transpose(1, 2).contiguous().view(B, T, C))


class Block(nn.Module):
    def __init__(self, config: GPTConfig):
        super().__init__()
        self.ln_1 = nn.LayerNorm(config.n_embd)
        self.attn = CausalSelfAttention(config)
        self.ln_2 = nn.LayerNorm(config.n_embd)
        self.mlp = nn.Sequential(
            nn.Linear(config.n_embd, 4 * config.n_embd), nn.GELU(), nn.Linear(4 * config.n_embd, config.n_embd)
        )
        self.drop = nn.Dropout(config.dropout)

    def forward(self, x: torch.Tensor, cache: KVCache | None, layer: int) -> torch.Tensor:
        x = x + self.drop(self.attn(self.ln_1(x), cache, layer))
        return x + self.drop(self.mlp(self.ln_2(x)))


def init_gpt2(model: nn.Module, n_layer: int) -> None:
    """GPT-2's initialisation: weights normal(0, 0.02), biases zero, the residual projections scaled down by depth."""
    def init_module(module: nn.Module) -> None:
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)
        if isinstance(module, nn.Linear) and module.bias is not None:
            nn.init.zeros_(module.bias)

    model.apply(init_module)
    for name, p in model.named_parameters():
        if name.endswith("proj.weight") or name.endswith("mlp.2.weight"):
            nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * n_layer))


class MoveGPT(nn.Module):
    def __init__(self, config: GPTConfig):
        super().__init__()
        self.config = config
        self.tok_emb = nn.Embedding(config.vocab_size, config.n_embd)
        self.pos_emb = nn.Embedding(config.block_size, config.n_embd)
        self.board_emb = nn.Embedding(config.board_vocab_size, config.n_embd, padding_idx=NO_PIECE)
        self.blocks = nn.ModuleList(Block(config) for _ in range(config.n_layer))
        self.ln_f = nn.LayerNorm(config.n_embd)
        self.head = nn.Linear(config.n_embd, config.vocab_size, bias=False)
        self.head.weight = self.tok_emb.weight  # tied: a move's input and output vectors agree
        init_gpt2(self, config.n_layer)
        nn.init.zeros_(self.board_emb.weight[NO_PIECE])  # init_gpt2 drew the padding row too; it must add nothing

    def new_cache(self) -> KVCache:
        return KVCache(self.config.n_layer)

    def save_pretrained(self, directory: Path, int8: bool = False) -> None:
        """config.json + safetensors (fp16, or int8 rows: ``core.int8``) + vocab.txt: the layout :func:`load` and the assets use.

        The vocabulary is fixed by the code (``MoveVocab.build``: every geometric move), so it is
        written from there."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        config = {"model_type": "xiangqi-move-gpt", **asdict(self.config)}
        (directory / CONFIG_FILE).write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
        state = {k: v for k, v in self.state_dict().items() if k != "head.weight"}
        weight_file.write(state, directory / WEIGHTS_FILE, int8=int8)
        MoveVocab.build().save(directory / VOCAB_FILE)

    def forward(self, tokens: torch.Tensor, boards: torch.Tensor, cache: KVCache | None = None) -> torch.Tensor:
        """Logits (B, T, vocab) of the next token after each of ``tokens`` (B, T).

        ``boards`` (B, T, slots) holds the board tokens of the position after each token.
        """
        past = len(cache) if cache is not None else 0
        B, T = tokens.shape
        if past + T > self.config.block_size:
            raise ValueError(f"{past + T} tokens exceed the model's context of {self.config.block_size}")
        if boards.shape[:2] != tokens.shape:
            raise ValueError(f"boards {tuple(boards.shape)} do not match tokens {tuple(tokens.shape)}")
        positions = torch.arange(past, past + T, device=tokens.device)
        # A bag sum never materialises the (B, T, slots, C) looked-up embeddings, forward or backward: much cheaper.
        board = F.embedding_bag(boards.reshape(-1, boards.shape[2]), self.board_emb.weight, mode="sum", padding_idx=NO_PIECE)
        x = self.tok_emb(tokens) + self.pos_emb(positions) + board.view(B, T, -1)
        for layer, block in enumerate(self.blocks):
            x = block(x, cache, layer)
        return self.head(self.ln_f(x))


def load(directory: Path, device: torch.device | str = "cpu") -> tuple[MoveGPT, MoveVocab]:
    """Read a checkpoint directory written by :meth:`MoveGPT.save_pretrained` (weights back in fp32)."""
    directory = Path(directory)
    raw = json.loads((directory / CONFIG_FILE).read_text(encoding="utf-8"))
    fields = GPTConfig.__dataclass_fields__
    config = GPTConfig(**{k: v for k, v in raw.items() if k in fields})
    vocab = MoveVocab.load(directory / VOCAB_FILE)
    if len(vocab) != config.vocab_size:
        raise ValueError(f"{directory}: vocab.txt has {len(vocab)} tokens, config says {config.vocab_size}")
    model = MoveGPT(config)
    state = weight_file.read(directory / WEIGHTS_FILE)
    model.load_state_dict(state, strict=False)  # head.weight is tied to tok_emb.weight
    missing = set(model.state_dict()) - set(state) - {"head.weight"}
    if missing:
        raise ValueError(f"{directory}: checkpoint lacks weights {sorted(missing)}")
    return model.to(device).eval(), vocab
