"""VAE tab: draw a 7 on the sketchpad (the brush is picked when the tab opens) and read its log p(x); then score a
clicked example."""

from __future__ import annotations

import re

from playwright.sync_api import expect

SCORE = re.compile(r"log p\(x\) ≈ -\d+\.\d+ ± \d+\.\d+ nats")


def draw_seven(page) -> None:
    # Nobody clicks the brush: the tab picks it when the sketchpad opens.
    expect(page.locator('#vae-sketchpad button[aria-label="Brush"]')).to_have_class(re.compile("highlight"))
    canvas = page.locator("#vae-sketchpad canvas").first
    canvas.wait_for(state="visible")
    box = canvas.bounding_box()
    points = [(0.3, 0.2), (0.7, 0.2), (0.45, 0.85)]  # a 7 in canvas-relative coordinates
    page.mouse.move(box["x"] + points[0][0] * box["width"], box["y"] + points[0][1] * box["height"])
    page.mouse.down()
    for (x0, y0), (x1, y1) in zip(points, points[1:]):
        for step in range(1, 16):
            t = step / 15
            page.mouse.move(box["x"] + (x0 + t * (x1 - x0)) * box["width"], box["y"] + (y0 + t * (y1 - y0)) * box["height"])
    page.mouse.up()


def exercise(page) -> None:
    expect(page.locator("#vae-samples img")).to_be_visible(timeout=30_000)  # drawn on page load, before any click
    draw_seven(page)
    page.locator("#vae-score-sketch").click()
    score = page.locator("#vae-score")
    expect(score).to_contain_text(SCORE, timeout=90_000)
    expect(score).to_contain_text("bits/dim")
    expect(score).to_contain_text("validation digits")

    page.get_by_text("not a digit", exact=True).click()  # the synthetic out-of-distribution example
    expect(score).to_contain_text("out of distribution", timeout=90_000)
    expect(page.locator("#vae-histogram svg").get_by_text("your digit")).to_be_visible()
    expect(page.locator("#vae-upload")).to_be_visible(timeout=30_000)  # the clicked example is shown where it was loaded (queued behind scoring on a busy machine)
