"""The histogram of validation log-likelihoods with one drawing marked (matplotlib, no GUI)."""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure  # a Figure outside pyplot: no global state shared by concurrent requests

from core.vae.density import Reference

BINS = 60


def histogram(reference: Reference, log_likelihood: float | None = None, percentile: float | None = None) -> Figure:
    # Fixed margins (this figure's size and labels never change) and one filled outline instead of a
    # patch per bin: a layout engine and 60 patches were most of a score's rendering time.
    figure = Figure(figsize=(6.4, 3.2), dpi=100)
    figure.subplots_adjust(left=0.1, right=0.98, bottom=0.15, top=0.9)
    axes = figure.subplots()
    axes.stairs(*np.histogram(reference.log_likelihoods, bins=BINS), fill=True, color="#8aa9d6")
    axes.set_xlabel("log p(x) in nats (higher = more probable)")
    axes.set_ylabel("validation digits")
    axes.set_title(f"{len(reference.log_likelihoods):,} validation digits, K = {reference.k:,}", fontsize=10)
    if log_likelihood is not None:
        axes.axvline(log_likelihood, color="#c0392b", linewidth=2)
        label = "your digit" + (f": {percentile:.1f}th percentile" if percentile is not None else "")
        axes.annotate(label, xy=(log_likelihood, axes.get_ylim()[1] * 0.9), xytext=(6 if log_likelihood < reference.log_likelihoods.mean() else -6, 0), textcoords="offset points",
                      color="#c0392b", ha="left" if log_likelihood < reference.log_likelihoods.mean() else "right")
        low, high = axes.get_xlim()
        axes.set_xlim(min(low, log_likelihood - 5), max(high, log_likelihood + 5))
    return figure
