"""Draw the tab's clickable examples: synthetic pen strokes, not copies of MNIST.

    python -m core.vae.examples --out assets/vae/examples

Each example is a 280x280 black-on-white PNG drawn with thick strokes, like a sketchpad drawing;
one is deliberately not a digit, to show the out-of-distribution warning.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from PIL import Image, ImageDraw

SIDE = 280
PEN = 28  # shrinks (about 10x, into the 20x20 box) to the 2-3 pixel strokes of MNIST digits

# Strokes as polylines in a 0..1 square (x right, y down); arcs as (box, start°, end°).
DRAWINGS: dict[str, dict[str, list]] = {
    "zero": {"arcs": [((0.3, 0.15, 0.7, 0.85), 0, 360)]},
    "one": {"lines": [[(0.42, 0.25), (0.55, 0.15), (0.52, 0.85)]]},
    "two": {"arcs": [((0.3, 0.15, 0.7, 0.5), 180, 30)], "lines": [[(0.67, 0.42), (0.3, 0.85), (0.72, 0.85)]]},
    "four": {"lines": [[(0.55, 0.15), (0.28, 0.6), (0.75, 0.6)], [(0.6, 0.35), (0.6, 0.88)]]},
    "seven": {"lines": [[(0.28, 0.18), (0.72, 0.18), (0.45, 0.86)]]},
    "not_a_digit": {"lines": [[(0.12, 0.12), (0.88, 0.12), (0.88, 0.88), (0.12, 0.88), (0.12, 0.12)], [(0.12, 0.12), (0.88, 0.88)], [(0.88, 0.12), (0.12, 0.88)]]},
}


def draw(strokes: dict[str, list]) -> Image.Image:
    image = Image.new("L", (SIDE, SIDE), 255)
    pen = ImageDraw.Draw(image)
    for polyline in strokes.get("lines", []):
        pen.line([(x * SIDE, y * SIDE) for x, y in polyline], fill=0, width=PEN, joint="curve")
    for (x0, y0, x1, y1), start, end in strokes.get("arcs", []):
        pen.arc([x0 * SIDE, y0 * SIDE, x1 * SIDE, y1 * SIDE], start, end, fill=0, width=PEN)
    return image


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default="assets/vae/examples")
    out = Path(p.parse_args(argv).out)
    out.mkdir(parents=True, exist_ok=True)
    for name, strokes in DRAWINGS.items():
        draw(strokes).save(out / f"{name}.png", optimize=True)
        print(out / f"{name}.png")


if __name__ == "__main__":
    main()
