"""Where each model's files come from, and a load-once cache of loaded models.

Resolution order for a model's checkpoint directory:
  1. the environment override ``<MODEL>_CHECKPOINT`` (a local directory or a Hub id),
  2. the bundled directory ``assets/<model>/`` (trained by this repository),
  3. the model's default Hub id, when the Hub may be used (``HF_HUB_OFFLINE`` unset).

The source ``"bundled"`` (a tab's first model choice, or ``--checkpoint bundled``) is this server's
own model: steps 1 and 2. This module is the only place that decides it; tabs and commands pass
the choice through unchanged.

Every loader in ``core`` takes a *local directory* laid out like the Hub repository, so the
Hub path and the bundled path run the same code; tests build tiny replicas of the Hub layout.

The Hub is only tried when it can answer: ``HF_HUB_OFFLINE`` unset and its host name resolving
within a second (a machine without network fails at once instead of waiting on download retries).
"""

from __future__ import annotations

import os
import socket
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, TypeVar
from urllib.parse import urlparse

REPO_ROOT = Path(__file__).resolve().parent.parent
ASSETS_DIR = REPO_ROOT / "assets"
# Public datasets live beside the checkout (never inside it); every command takes them as arguments.
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"
BUNDLED = "bundled"

T = TypeVar("T")


@dataclass(frozen=True)
class ModelSpec:
    name: str  # package name in core/ and folder name in assets/
    title: str  # human name, used in messages
    train_command: str  # how to produce the bundled checkpoint
    hub_ids: tuple[str, ...] = ()  # public checkpoints a user may pick, first = default
    hub_patterns: tuple[str, ...] = ("*.json", "*.txt", "*.model", "*.safetensors", "*.bin")

    @property
    def env_var(self) -> str:
        return f"{self.name.upper()}_CHECKPOINT"

    @property
    def asset_dir(self) -> Path:
        return ASSETS_DIR / self.name


MODELS: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        ModelSpec(
            "roformer_sim",
            "RoFormer-Sim paraphrase & similarity",
            "python -m core.roformer_sim.train",
            hub_ids=(
                "junnyu/roformer_chinese_sim_char_ft_small",
                "junnyu/roformer_chinese_sim_char_ft_base",
                "junnyu/roformer_chinese_sim_char_small",
                "junnyu/roformer_chinese_sim_char_base",
            ),
        ),
        ModelSpec("math_solver", "T5 math word-problem solver", "python -m core.math_solver.train"),
        ModelSpec("xiangqi", "Xiangqi GPT", "python -m core.xiangqi.train"),
        ModelSpec(
            "perturbed_masking",
            "Chinese masked LM for Perturbed Masking",
            "python -m core.perturbed_masking.train",
            hub_ids=("bert-base-chinese",),
        ),
        ModelSpec("vae", "MNIST VAE", "python -m core.vae.train"),
    )
}


class CheckpointNotFound(FileNotFoundError):
    """No checkpoint for a model in any of the places it may come from.

    ``str()`` names every place looked at and how to train one (for the log and the command line);
    ``user_message`` says the same in plain words for a web page, without server paths or commands.
    """

    def __init__(self, details: str, user_message: str):
        super().__init__(details)
        self.user_message = user_message


HUB_LOOKUP_SECONDS = 1.0  # a host name that does not resolve in this time counts as no network
HUB_RECHECK_SECONDS = 60.0  # how long one reachability answer is trusted
_hub_answer: tuple[float, bool] | None = None  # (monotonic time, reachable) of the last lookup


def hub_allowed() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "0").strip().lower() in ("", "0", "false", "no")


def _resolves(host: str, timeout: float) -> bool:
    """Whether ``host`` resolves within ``timeout`` seconds (getaddrinfo has no timeout of its own)."""
    answer: list[bool] = []

    def lookup() -> None:
        try:
            socket.getaddrinfo(host, 443)
            answer.append(True)
        except OSError:
            answer.append(False)

    worker = threading.Thread(target=lookup, daemon=True)
    worker.start()
    worker.join(timeout)
    return bool(answer and answer[0])


def hub_host() -> str:
    return urlparse(os.environ.get("HF_ENDPOINT", "https://huggingface.co")).hostname or "huggingface.co"


def hub_reachable() -> bool:
    """The Hub may be used (``HF_HUB_OFFLINE`` unset) and its host resolves; remembered for a minute."""
    global _hub_answer
    if not hub_allowed():
        return False
    now = time.monotonic()
    if _hub_answer is None or now - _hub_answer[0] > HUB_RECHECK_SECONDS:
        _hub_answer = (now, _resolves(hub_host(), HUB_LOOKUP_SECONDS))
    return _hub_answer[1]


def spec(model: str) -> ModelSpec:
    if model not in MODELS:
        raise ValueError(f"unknown model {model!r}; known: {', '.join(MODELS)}")
    return MODELS[model]


def _is_checkpoint_dir(path: Path) -> bool:
    return path.is_dir() and (path / "config.json").is_file()


def _download(hub_id: str, patterns: tuple[str, ...]) -> Path:
    from huggingface_hub import snapshot_download

    return Path(snapshot_download(hub_id, allow_patterns=list(patterns)))


def override(model: str) -> str:
    """The ``<MODEL>_CHECKPOINT`` setting ('' when unset)."""
    return os.environ.get(spec(model).env_var, "").strip()


def sources(model: str) -> list[str]:
    """The choices a tab offers: the bundled model (the override, or assets/<model>/) when there is one,
    then the public Hub ids (usable when ``hub_reachable()``)."""
    s = spec(model)
    found = [BUNDLED] if override(model) or _is_checkpoint_dir(s.asset_dir) else []
    return found + list(s.hub_ids)


def _candidates(model: str, source: str | None) -> list[str]:
    """Where to look, in order; the entry ``BUNDLED`` stands for assets/<model>/ itself."""
    if source not in (None, BUNDLED):
        return [source]
    own = ([override(model)] if override(model) else []) + [BUNDLED]
    return own + list(spec(model).hub_ids[:1]) if source is None else own


def locate(model: str, source: str | None = None) -> Path:
    """Local directory of a model's checkpoint.

    ``source`` None follows the resolution order; ``"bundled"`` is its first two steps (the override,
    else assets/<model>/); anything else is a local directory or a Hub id.
    """
    s = spec(model)
    candidates = _candidates(model, source)
    looked: list[str] = []  # every place, with paths: for the log and the command line
    reasons: list[str] = []  # the same in plain words for a web page
    for cand in candidates:
        if cand == BUNDLED:
            looked.append(f"bundled directory {s.asset_dir}")
            if _is_checkpoint_dir(s.asset_dir):
                return s.asset_dir
            reasons.append("the bundled model is not installed on this server")
            continue
        path = Path(cand).expanduser()
        if path.exists() or cand.startswith((".", "/", "~")):
            looked.append(f"directory {path} (needs config.json)")
            if _is_checkpoint_dir(path):
                return path
            reasons.append("the configured checkpoint directory holds no model")
            continue
        needs_network = f"{cand} comes from the Hugging Face Hub and needs network"
        if not hub_allowed():
            looked.append(f"Hub {cand} (skipped: HF_HUB_OFFLINE is set)")
            reasons.append(f"{needs_network}, which this server does not use")
            continue
        if not hub_reachable():
            looked.append(f"Hub {cand} (skipped: {hub_host()} does not resolve)")
            reasons.append(f"{needs_network}, and this server cannot reach the Hub")
            continue
        try:
            return _download(cand, s.hub_patterns)
        except Exception as exc:  # network, auth, missing repo: all end up in the message
            looked.append(f"Hub {cand} ({type(exc).__name__}: {exc})")
            reasons.append(f"{cand} could not be downloaded from the Hugging Face Hub (it needs network; try again later)")
    raise CheckpointNotFound(
        f"No checkpoint for the {s.title} ({model}). Looked in: {'; '.join(looked)}. "
        f"Train one with `{s.train_command}` (writes {s.asset_dir}), or set {s.env_var} "
        "to a checkpoint directory or a Hub id.",
        f"The {s.title} is not available: {'; '.join(reasons)}.",
    )


def device() -> "torch.device":  # noqa: F821 - torch imported lazily to keep imports cheap
    """CUDA when available, else CPU; ``DEMO_DEVICE`` overrides (e.g. ``cpu``, ``cuda:1``)."""
    import torch

    wanted = os.environ.get("DEMO_DEVICE", "").strip()
    if wanted:
        return torch.device(wanted)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


_cache: dict[str, object] = {}
_cache_guard = threading.Lock()
_key_locks: dict[str, threading.Lock] = {}


def cached(key: str, factory: Callable[[], T]) -> T:
    """Return the object stored under ``key``, building it with ``factory`` exactly once.

    Concurrent callers of the same key wait for the first build instead of loading twice;
    different keys load in parallel. A failed build is not cached, so a later call retries.
    """
    with _cache_guard:
        if key in _cache:
            return _cache[key]  # type: ignore[return-value]
        lock = _key_locks.setdefault(key, threading.Lock())
    with lock:
        with _cache_guard:
            if key in _cache:
                return _cache[key]  # type: ignore[return-value]
        value = factory()
        with _cache_guard:
            _cache[key] = value
        return value


def load(model: str, loader: Callable[[Path, "torch.device"], T], source: str | None = None) -> T:  # noqa: F821
    """Locate a checkpoint and load it once per process with ``loader(directory, device)``."""
    dev = device()
    key = f"{model}|{source or 'default'}|{dev}"
    return cached(key, lambda: loader(locate(model, source), dev))


def clear_cache() -> None:
    with _cache_guard:
        _cache.clear()


def model_card(model: str, source: str | None = None) -> str:
    """The MODEL_CARD.md of the bundled model (or of the override's directory), or a short note."""
    s = spec(model)
    if source in (None, BUNDLED) and override(model):
        source = override(model)
        card = Path(source).expanduser() / "MODEL_CARD.md"
        if card.is_file():
            return card.read_text(encoding="utf-8")
        if Path(source).expanduser().exists() or source.startswith((".", "/", "~")):
            return f"This server's {s.title} is a checkpoint set by its operator ({s.env_var}); it has no model card."
    if source in (None, BUNDLED):
        card = s.asset_dir / "MODEL_CARD.md"
        if card.is_file():
            return card.read_text(encoding="utf-8")
        return f"No bundled {s.title} yet: train it with `{s.train_command}`."
    return f"Public checkpoint `{source}` from the Hugging Face Hub (https://huggingface.co/{source})."
