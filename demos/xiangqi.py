"""Tab for the xiangqi model (placeholder until its model lands)."""

from demos.common import pending


def build() -> None:
    pending("xiangqi", "Play Chinese chess against a small GPT trained on master games.")
