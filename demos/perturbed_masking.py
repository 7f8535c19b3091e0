"""Tab for the perturbed_masking model (placeholder until its model lands)."""

from demos.common import pending


def build() -> None:
    pending("perturbed_masking", "Paste a sentence to see an unsupervised word segmentation, impact matrix and parse tree.")
