"""Tab for the math_solver model (placeholder until its model lands)."""

from demos.common import pending


def build() -> None:
    pending("math_solver", "Paste a primary-school math word problem to get an equation and its exact answer.")
