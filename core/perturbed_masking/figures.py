"""Pictures for the tab: gap-impact bars, impact heatmap (matplotlib), trees and arcs (SVG).

SVG text is drawn by the browser with its own CJK fonts; matplotlib is told to prefer the
CJK fonts commonly installed (WenQuanYi, Noto CJK) so the tick labels are not boxes.
"""

from __future__ import annotations

from html import escape
from typing import Sequence

import matplotlib
import numpy as np
from matplotlib.figure import Figure  # figures outside pyplot's global state are freed with their page

from core.perturbed_masking.impact import word_spans
from core.perturbed_masking.trees import Tree

matplotlib.rcParams["font.sans-serif"] = ["WenQuanYi Micro Hei", "Noto Sans CJK SC", "Noto Sans SC", "SimHei", "DejaVu Sans"]
matplotlib.rcParams["axes.unicode_minus"] = False

CHAR_PX = 18  # width of one Chinese character in the SVG pictures
GAP_PX = 14
# The tab shows a figure scaled to the page width (about 12 inches at 100 dpi): a figure wider than that
# shrinks its text, so bar charts stop growing there and their labels are set large enough to read.
MAX_BARS_WIDTH = 12.0
LABEL_PT = 12
LABEL_INCH = LABEL_PT / 72  # one Chinese character at LABEL_PT


SCORE_LABELS = {"absolute": "mean two-way impact", "relative": "impact ÷ stronger neighbour's",
                "combined": "relative + prediction contrast"}


def set_margins(fig: Figure, left: float, bottom: float, top: float = 0.4, right: float = 0.2) -> None:
    """Margins in inches, computed from the label sizes: tight_layout measured every label by rendering it, which
    was most of a segmentation request's time on a busy server."""
    width, height = fig.get_size_inches()
    fig.subplots_adjust(left=left / width, right=1 - right / width, bottom=bottom / height, top=1 - top / height)


def gap_bars(text: str, scores: np.ndarray, threshold: float, rule: str):
    """Bar per gap between characters k and k+1 (its join score under ``rule``); bars above the line stay joined."""
    fig = Figure(figsize=(min(MAX_BARS_WIDTH, max(6.0, 0.28 * len(text))), 3.4))
    ax = fig.subplots()
    x = np.arange(len(scores))
    values = np.nan_to_num(scores, nan=0.0)
    joined = values >= threshold
    ax.bar(x, values, color=np.where(joined, "#4c78a8", "#e45756"), width=0.8)
    ax.axhline(threshold, color="black", linestyle="--", linewidth=1, label=f"threshold {threshold:.3g}")
    ax.set_xticks(x)
    ax.set_xticklabels([f"{text[k]}{text[k + 1]}" for k in x], fontsize=LABEL_PT, rotation=90)
    ax.tick_params(axis="y", labelsize=LABEL_PT - 1)
    ax.set_ylabel(SCORE_LABELS[rule], fontsize=LABEL_PT)
    ax.set_title("Adjacent characters: blue = same word, red = boundary", fontsize=LABEL_PT)
    ax.legend(loc="upper right", fontsize=LABEL_PT - 1)
    set_margins(fig, left=1.0, bottom=0.3 + 2 * LABEL_INCH)  # tick labels are two characters, turned upright
    return fig


def heatmap(words: Sequence[str], matrix: np.ndarray):
    """Impact of the column word on the row word."""
    size = max(4.0, 0.35 * len(words) + 1.5)
    fig = Figure(figsize=(size + 1, size))
    ax = fig.subplots()
    image = ax.imshow(matrix, cmap="viridis")
    ax.set_xticks(range(len(words)))
    ax.set_yticks(range(len(words)))
    ax.set_xticklabels(words, rotation=90, fontsize=LABEL_PT)
    ax.set_yticklabels(words, fontsize=LABEL_PT)
    ax.set_xlabel("masked word j", fontsize=LABEL_PT)
    ax.set_ylabel("word i (its vector is read)", fontsize=LABEL_PT)
    ax.set_title("f(i, j): how much masking j moves i", fontsize=LABEL_PT)
    fig.colorbar(image, ax=ax, shrink=0.8)
    label_room = 0.6 + LABEL_INCH * max(map(len, words), default=1)  # the longest word, plus the axis label
    set_margins(fig, left=label_room, bottom=label_room)
    return fig


def word_positions(words: Sequence[str]) -> list[tuple[float, float]]:
    """(left, centre) x of each word laid out on one line."""
    positions, x = [], 10.0
    for word in words:
        width = CHAR_PX * max(1, len(word))
        positions.append((x, x + width / 2))
        x += width + GAP_PX
    return positions


def svg_text(x: float, y: float, text: str, size: int = 16, anchor: str = "middle") -> str:
    return f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" text-anchor="{anchor}">{escape(text)}</text>'


def dependency_svg(words: Sequence[str], heads: Sequence[int]) -> str:
    """Arcs above the words from each head to its dependents; ROOT drawn as a line from the top."""
    positions = word_positions(words)
    spans = [abs(h - d) for d, h in enumerate(heads, start=1) if h]
    top = 30 + 22 * max(spans, default=1)
    baseline = top + 24
    width = positions[-1][0] + CHAR_PX * len(words[-1]) + 20
    parts = [svg_text(c, baseline, w) for w, (_, c) in zip(words, positions)]
    for d, h in enumerate(heads, start=1):
        end = positions[d - 1][1]
        if h == 0:
            parts.append(f'<line x1="{end:.1f}" y1="6" x2="{end:.1f}" y2="{top:.1f}" stroke="#e45756" stroke-width="2" marker-end="url(#arrow)"/>')
            parts.append(svg_text(end + 4, 16, "ROOT", 11, "start"))
            continue
        start = positions[h - 1][1]
        height = top - 22 * abs(h - d)
        parts.append(
            f'<path d="M{start:.1f},{top:.1f} C{start:.1f},{height:.1f} {end:.1f},{height:.1f} {end:.1f},{top:.1f}" '
            'fill="none" stroke="#4c78a8" stroke-width="1.5" marker-end="url(#arrow)"/>'
        )
    return svg_document(width, baseline + 10, parts)


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
            parts.append(svg_text(x, leaf_y + 16, node))
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
    return svg_document(width, leaf_y + 28, parts)


def svg_document(width: float, height: float, parts: list[str]) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}" viewBox="0 0 {width:.0f} {height:.0f}" '
        'style="font-family: \'WenQuanYi Micro Hei\', \'Noto Sans CJK SC\', sans-serif; background: white">'
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="6" markerHeight="6" orient="auto-start-reverse">'
        '<path d="M0,0 L10,5 L0,10 z" fill="#333"/></marker></defs>' + "".join(parts) + "</svg>"
    )


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
