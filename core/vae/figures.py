"""The histogram of validation log-likelihoods with one drawing marked (SVG, see ``core.svg``)."""

from __future__ import annotations

from core import svg
from core.vae.density import Reference

BINS = 60


def histogram(reference: Reference, log_likelihood: float | None = None, percentile: float | None = None) -> str:
    label = "your digit" + (f": {percentile:.1f}th percentile" if percentile is not None else "")
    return svg.histogram(reference.log_likelihoods, bins=BINS,
                         title=f"{len(reference.log_likelihoods):,} validation digits, K = {reference.k:,}",
                         x_label="log p(x) in nats (higher = more probable)", y_label="validation digits",
                         marker=log_likelihood, marker_label=label)
