"""Tab for the roformer_sim model (placeholder until its model lands)."""

from demos.common import pending


def build() -> None:
    pending("roformer_sim", "Type a sentence to get ranked paraphrases with scores, and compare sentences.")
