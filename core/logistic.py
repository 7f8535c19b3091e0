"""Logistic regression on standardised features, fitted with L-BFGS: small learned rules over a model's evidence.

The math solver's beam ranker and the segmentation tab's fitted read-out are both this: a dozen to a few dozen
numbers per item, thousands of items, a weight each. Features are standardised with the training rows' mean and
standard deviation (a constant feature keeps scale 1, so it stays 0); a missing value (NaN) counts as the mean.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch


@dataclass(frozen=True)
class Logistic:
    mean: tuple[float, ...]
    scale: tuple[float, ...]
    weights: tuple[float, ...]
    bias: float

    def probabilities(self, rows) -> np.ndarray:
        """Probability of the positive label for each row of ``rows`` (n × features)."""
        x = np.asarray(rows, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] != len(self.weights):
            raise ValueError(f"expected rows of {len(self.weights)} features, got an array of shape {x.shape}")
        standardised = np.nan_to_num((x - np.asarray(self.mean)) / np.asarray(self.scale), nan=0.0)
        return 1.0 / (1.0 + np.exp(-(standardised @ np.asarray(self.weights) + self.bias)))


def fields(saved: dict) -> dict:
    """The :class:`Logistic` fields of a saved (JSON) record, as the dataclass holds them."""
    return {"mean": tuple(saved["mean"]), "scale": tuple(saved["scale"]), "weights": tuple(saved["weights"]),
            "bias": float(saved["bias"])}


def fit(rows, labels, l2: float) -> Logistic:
    """Minimise the mean cross-entropy of ``labels`` (0/1) plus ``l2`` × the squared weights (not the bias)."""
    x, y = np.asarray(rows, dtype=np.float64), np.asarray(labels, dtype=np.float64)
    if x.ndim != 2 or len(x) < 2 or len(x) != len(y):
        raise ValueError(f"need at least two rows and as many labels as rows, got {len(x)} rows and {len(y)} labels")
    mean, spread = np.nanmean(x, axis=0), np.nanstd(x, axis=0)
    scale = np.where(spread > 1e-6, spread, 1.0)
    inputs = torch.tensor(np.nan_to_num((x - mean) / scale, nan=0.0))
    targets = torch.tensor(y)
    weights = torch.zeros(x.shape[1], dtype=torch.float64, requires_grad=True)
    bias = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    optimizer = torch.optim.LBFGS([weights, bias], max_iter=500, line_search_fn="strong_wolfe")

    def loss() -> torch.Tensor:
        optimizer.zero_grad()
        value = torch.nn.functional.binary_cross_entropy_with_logits(inputs @ weights + bias, targets) + l2 * weights.square().sum()
        value.backward()
        return value

    optimizer.step(loss)
    return Logistic(tuple(mean.tolist()), tuple(scale.tolist()), tuple(weights.detach().tolist()), float(bias.item()))
