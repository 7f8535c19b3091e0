"""How probable is one digit? Repeated importance-sampled estimates, and where it falls among the data.

Everything the tab shows about a drawing comes from :func:`score_digit`; the reference
distribution is the validation set's per-image log p̂(x) written by ``core.vae.evaluate
--histogram-out`` into the checkpoint directory.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from core.vae.model import N_PIXELS, VAE, estimate_log_likelihood, load, nats_to_bits_per_dim

HISTOGRAM_FILE = "valid_log_likelihoods.json"  # in the checkpoint directory, written by core.vae.evaluate --histogram-out

MAX_K = 5000
OUT_OF_DISTRIBUTION_PERCENTILE = 1.0  # below the lowest 1 % of validation digits: warn


@dataclass(frozen=True)
class Estimate:
    k: int
    mean_nats: float  # mean over repeats of log p̂(x)
    std_nats: float  # spread over repeats: how much one estimate with this K can be trusted
    mean_elbo_nats: float

    @property
    def bits_per_dim(self) -> float:
        return nats_to_bits_per_dim(-self.mean_nats)

    @property
    def std_bits_per_dim(self) -> float:
        return nats_to_bits_per_dim(self.std_nats)


@dataclass(frozen=True)
class Reference:
    """Sorted validation log-likelihoods and how they were computed."""

    log_likelihoods: np.ndarray
    k: int
    data: str

    def percentile(self, log_likelihood: float) -> float:
        """Percentage of reference digits at most as probable as this one."""
        return 100.0 * np.searchsorted(self.log_likelihoods, log_likelihood, side="right") / len(self.log_likelihoods)


def load_reference(directory: str | Path) -> Reference:
    path = Path(directory) / HISTOGRAM_FILE
    if not path.is_file():
        raise ValueError(f"no validation log-likelihoods at {path}: run `python -m core.vae.evaluate --histogram-out {path}`")
    record = json.loads(path.read_text(encoding="utf-8"))
    return Reference(np.sort(np.asarray(record["log_likelihoods"], dtype=np.float64)), int(record["k"]), record["data"])


def is_out_of_distribution(percentile: float) -> bool:
    return percentile < OUT_OF_DISTRIBUTION_PERCENTILE


def check_k(k: int) -> int:
    try:
        whole = int(k)
    except (TypeError, ValueError, OverflowError):  # None, NaN, infinity
        whole = 0
    if not 1 <= whole <= MAX_K:
        raise ValueError(f"K must be a whole number between 1 and {MAX_K}, got {k!r}")
    return whole


@torch.no_grad()
def estimate(model: VAE, digit: np.ndarray, k: int, repeats: int = 5) -> Estimate:
    """``repeats`` independent K-sample estimates of log p(x) for one 28x28 binary digit."""
    k = check_k(k)
    if repeats < 2:
        raise ValueError("need at least 2 repeats to show a spread")
    digit = np.asarray(digit)
    if digit.size != N_PIXELS:
        raise ValueError(f"expected a 28x28 digit, got shape {digit.shape}")
    device = next(model.parameters()).device
    x = torch.as_tensor(digit.reshape(1, N_PIXELS), dtype=torch.float32, device=device).expand(repeats, -1)
    log_px, elbo = estimate_log_likelihood(model, x, k)
    return Estimate(k, log_px.mean().item(), log_px.std().item(), elbo.mean().item())


@torch.no_grad()
def reconstruct(model: VAE, digit: np.ndarray) -> np.ndarray:
    """(28, 28) Bernoulli means decoded from the encoder's mean for one digit."""
    device = next(model.parameters()).device
    x = torch.as_tensor(np.asarray(digit).reshape(1, N_PIXELS), dtype=torch.float32, device=device)
    return model.reconstruct(x).cpu().numpy().reshape(28, 28)


def tightening(model: VAE, digit: np.ndarray, k: int, repeats: int = 5) -> list[Estimate]:
    """Estimates at K = 1, 10, 100, … up to k: the bound rises and its spread shrinks as K grows."""
    ks = [10**i for i in range(len(str(check_k(k)))) if 10**i < k] + [k]
    return [estimate(model, digit, each, repeats) for each in ks]


def tile(images: np.ndarray, columns: int) -> np.ndarray:
    """(N, 784) values in [0, 1] → one (rows·28, columns·28) grid image, blank cells at the end."""
    n = len(images)
    rows = -(-n // columns)
    grid = np.zeros((rows * 28, columns * 28), dtype=np.float32)
    for i, image in enumerate(np.asarray(images).reshape(n, 28, 28)):
        r, c = divmod(i, columns)
        grid[r * 28 : (r + 1) * 28, c * 28 : (c + 1) * 28] = image
    return grid


def load_with_reference(directory: str | Path, device: torch.device | str = "cpu") -> tuple[VAE, Reference | None]:
    """The model and, when the checkpoint ships one, its validation reference distribution."""
    reference = load_reference(directory) if (Path(directory) / HISTOGRAM_FILE).is_file() else None
    return load(directory, device), reference
