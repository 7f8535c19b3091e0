"""The statically binarized MNIST splits (Larochelle & Murray 2011), read from ../shared/data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from core.checkpoints import REPO_ROOT
from core.vae.model import N_PIXELS

# Defaults as the commands show them; relative paths are read from the repo root when the
# current directory does not have them, so the commands work from anywhere.
TRAIN_FILE = "../shared/data/binarized_mnist/binarized_mnist_train.mat"
VALID_FILE = "../shared/data/binarized_mnist/binarized_mnist_valid.mat"


def resolve(path: str | Path) -> Path:
    path = Path(path)
    return path if path.is_absolute() or path.exists() else REPO_ROOT / path


def load_images(path: str | Path, limit: int | None = None) -> torch.Tensor:
    """(N, 784) uint8 {0, 1} images from a MATLAB file holding them under the key 'X'."""
    from scipy.io import loadmat

    path = resolve(path)
    if not path.is_file():
        raise ValueError(f"data file not found: {path}")
    images = np.asarray(loadmat(str(path))["X"])
    if images.ndim != 2 or images.shape[1] != N_PIXELS or not np.isin(images, (0, 1)).all():
        raise ValueError(f"{path}: expected an (N, {N_PIXELS}) array of 0/1 pixels under 'X', got {images.shape}")
    if limit is not None:
        images = images[:limit]
    return torch.from_numpy(images.astype(np.uint8))
