"""The histogram of validation log-likelihoods with one drawing marked (matplotlib, no GUI)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")  # render off-screen: the app runs on servers without a display

import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from core.vae.density import Reference  # noqa: E402


def histogram(reference: Reference, log_likelihood: float | None = None, percentile: float | None = None) -> Figure:
    figure, axes = plt.subplots(figsize=(6.4, 3.2), dpi=100, layout="constrained")
    axes.hist(reference.log_likelihoods, bins=60, color="#8aa9d6", edgecolor="white", linewidth=0.4)
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
    plt.close(figure)  # gr.Plot renders the Figure object; keep pyplot's global list empty
    return figure
