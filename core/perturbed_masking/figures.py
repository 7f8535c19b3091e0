"""Pictures for the tab as SVG (see ``core.svg``): gap-impact bars, impact heatmap, trees and arcs."""

from __future__ import annotations

from html import escape
from typing import Sequence

import numpy as np

from core import svg
from core.perturbed_masking import segment
from core.perturbed_masking.impact import word_spans
from core.perturbed_masking.trees import Tree

CHAR_PX = 18  # width of one Chinese character in the SVG pictures
GAP_PX = 14

SCORE_LABELS = {"absolute": "mean two-way impact", "relative": "impact ÷ stronger neighbour's",
                "combined": "relative + prediction contrast", "fitted": "fitted probability of one word"}


def gap_bars(text: str, scores: np.ndarray, threshold: float, rule: str, breaks: frozenset[int] = frozenset()) -> str:
    """Bar per gap between characters k and k+1 (its join score under ``rule``), coloured by the decision: bars above
    the line join, except at punctuation; digits and Latin letters join whatever their bars (``segment.script_run``)
    unless a typed space parts them (``breaks``)."""
    values = np.nan_to_num(scores, nan=0.0)
    joined = segment.join_decisions(text, np.nan_to_num(scores, nan=-np.inf), threshold, breaks)
    return svg.bar_chart(
        [f"{text[k]}{text[k + 1]}" for k in range(len(values))], values,
        [svg.BLUE if join else svg.RED for join in joined],
        title="Adjacent characters: blue = same word, red = boundary", y_label=SCORE_LABELS[rule],
        threshold=threshold, threshold_label=f"threshold {threshold:.3g}")


def heatmap(words: Sequence[str], matrix: np.ndarray) -> str:
    """Impact of the column word on the row word."""
    return svg.heatmap(words, matrix, title="f(i, j): how much masking j moves i", x_label="masked word j",
                       y_label="word i (its vector is read)")


def word_positions(words: Sequence[str]) -> list[tuple[float, float]]:
    """(left, centre) x of each word laid out on one line."""
    positions, x = [], 10.0
    for word in words:
        width = CHAR_PX * max(1, len(word))
        positions.append((x, x + width / 2))
        x += width + GAP_PX
    return positions


def dependency_svg(words: Sequence[str], heads: Sequence[int]) -> str:
    """Arcs above the words from each head to its dependents; ROOT drawn as a line from the top."""
    positions = word_positions(words)
    spans = [abs(h - d) for d, h in enumerate(heads, start=1) if h]
    top = 30 + 22 * max(spans, default=1)
    baseline = top + 24
    width = positions[-1][0] + CHAR_PX * len(words[-1]) + 20
    parts = [svg.text(c, baseline, w) for w, (_, c) in zip(words, positions)]
    for d, h in enumerate(heads, start=1):
        end = positions[d - 1][1]
        if h == 0:
            parts.append(f'<line x1="{end:.1f}" y1="6" x2="{end:.1f}" y2="{top:.1f}" stroke="#e45756" stroke-width="2" marker-end="url(#arrow)"/>')
            parts.append(svg.text(end + 4, 16, "ROOT", 11, "start"))
            continue
        start = positions[h - 1][1]
        height = top - 22 * abs(h - d)
        parts.append(
            f'<path d="M{start:.1f},{top:.1f} C{start:.1f},{height:.1f} {end:.1f},{height:.1f} {end:.1f},{top:.1f}" '
            'fill="none" stroke="#4c78a8" stroke-width="1.5" marker-end="url(#arrow)"/>'
        )
    return svg.document(width, baseline + 10, parts)


def constituency_svg(tree: Tree) -> str:
    """Top-down tree: leaves on one line at the bottom, each bracket a node above its children."""
    leaves: list[str] = []

    def collect(node: Tree) -> None:
        if isinstance(node, str):
            leaves.append(node)
        else:
            for child in node:
                collect(child)

    collect(tree)
    positions = word_positions(leaves)
    parts: list[str] = []
    counter = iter(range(len(leaves)))

    def depth(node: Tree) -> int:
        return 0 if isinstance(node, str) else 1 + max(depth(child) for child in node)

    levels = depth(tree)
    leaf_y = 30 + 34 * levels

    def draw(node: Tree, level: int) -> tuple[float, float]:
        if isinstance(node, str):
            x = positions[next(counter)][1]
            parts.append(svg.text(x, leaf_y + 16, node))
            return x, leaf_y
        children = [draw(child, level + 1) for child in node]
        x = sum(c[0] for c in children) / len(children)
        y = 20 + 34 * level
        for cx, cy in children:
            parts.append(f'<line x1="{x:.1f}" y1="{y:.1f}" x2="{cx:.1f}" y2="{cy:.1f}" stroke="#555" stroke-width="1.3"/>')
        parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="#4c78a8"/>')
        return x, y

    draw(tree, 0)
    width = positions[-1][0] + CHAR_PX * len(leaves[-1]) + 20
    return svg.document(width, leaf_y + 28, parts)


def compare_html(ours: Sequence[str], reference: Sequence[str], reference_name: str = "jieba") -> str:
    """Both segmentations as word boxes; a word whose span is not in the other one is highlighted."""

    ours_spans, ref_spans = word_spans(ours), word_spans(reference)

    def row(label: str, words: Sequence[str], own: list, other: list, elem: str) -> str:
        other_set = set(other)
        boxes = "".join(
            f'<span class="pm-word{"" if s in other_set else " pm-diff"}">{escape(w)}</span>' for w, s in zip(words, own)
        )
        return f'<div class="pm-row" id="{elem}"><b>{escape(label)}</b> {boxes}</div>'

    style = (
        "<style>.pm-row{margin:6px 0;line-height:2.2}.pm-word{border:1px solid #999;border-radius:4px;padding:2px 5px;"
        "margin:2px;font-size:18px}.pm-diff{background:#ffd36b;border-color:#e0a000}</style>"
    )
    agree = len(set(ours_spans) & set(ref_spans))
    summary = f"<div>{agree} of {len(ours)} words agree with {escape(reference_name)} (highlighted: different)</div>"
    return (
        style
        + row("Perturbed Masking:", ours, ours_spans, ref_spans, "perturbed_masking-ours")
        + row(f"{reference_name}:", reference, ref_spans, ours_spans, "perturbed_masking-reference")
        + summary
    )
