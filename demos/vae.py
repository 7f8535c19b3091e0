"""Tab for the vae model (placeholder until its model lands)."""

from demos.common import pending


def build() -> None:
    pending("vae", "Draw a digit to see its estimated log-probability under a VAE.")
