"""Charts as SVG text, drawn by the visitor's browser.

A busy Space spends its CPU on the models, not on pictures: rendering a matplotlib figure to PNG took
most of a segmentation or VAE request's time, under the GIL, while an SVG string costs microseconds and
the browser draws the text with its own CJK fonts. Each chart scales to the width of its box.
"""

from __future__ import annotations

from html import escape
from typing import Sequence

import numpy as np

FONT = "'WenQuanYi Micro Hei', 'Noto Sans CJK SC', 'Noto Sans SC', sans-serif"
MIN_PLOT_PX = 300.0  # the narrowest plot area: room for a title and an axis label
BLUE, RED, GREY = "#4c78a8", "#e45756", "#555"
# Viridis at 9 stops (matplotlib's values), interpolated: the heatmap's colour scale without matplotlib.
VIRIDIS = np.array([[68, 1, 84], [71, 44, 122], [59, 81, 139], [44, 113, 142], [33, 144, 141],
                    [39, 173, 129], [92, 200, 99], [170, 220, 50], [253, 231, 37]], dtype=float)


def document(width: float, height: float, parts: Sequence[str], scale_to_box: bool = False) -> str:
    """An SVG element; ``scale_to_box`` lets a wide chart shrink to its box instead of scrolling."""
    size = (f'width="100%" style="max-width:{width:.0f}px; height:auto;' if scale_to_box
            else f'width="{width:.0f}" height="{height:.0f}" style="')
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" {size} font-family: {FONT}; background: white" '
        f'viewBox="0 0 {width:.0f} {height:.0f}">'
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="6" markerHeight="6" orient="auto-start-reverse">'
        '<path d="M0,0 L10,5 L0,10 z" fill="#333"/></marker></defs>' + "".join(parts) + "</svg>"
    )


def printable(content: str) -> str:
    """``content`` escaped for SVG, without the control characters that XML does not allow."""
    return escape("".join(ch for ch in content if ch >= " " or ch in "\t\n"))


def text(x: float, y: float, content: str, size: int = 16, anchor: str = "middle", color: str = "#222",
         rotate: float = 0.0) -> str:
    turn = f' transform="rotate({rotate:g} {x:.1f} {y:.1f})"' if rotate else ""
    return (f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" text-anchor="{anchor}" fill="{color}"{turn}>'
            f"{printable(content)}</text>")


def line(x1: float, y1: float, x2: float, y2: float, color: str = GREY, width: float = 1.0, dashed: bool = False) -> str:
    dash = ' stroke-dasharray="6 4"' if dashed else ""
    return f'<line x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}" stroke="{color}" stroke-width="{width}"{dash}/>'


def rect(x: float, y: float, width: float, height: float, fill: str, tooltip: str = "") -> str:
    title = f"<title>{printable(tooltip)}</title>" if tooltip else ""
    return f'<rect x="{x:.1f}" y="{y:.1f}" width="{max(width, 0):.1f}" height="{max(height, 0):.1f}" fill="{fill}">{title}</rect>'


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """Round tick values covering [low, high] (steps of 1, 2 or 5 times a power of ten)."""
    if not np.isfinite([low, high]).all() or high <= low:
        return [low]
    raw = (high - low) / count
    power = 10 ** np.floor(np.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    first = np.ceil(low / step) * step
    return [float(v) for v in np.arange(first, high + step * 1e-9, step)]


def tick_label(value: float) -> str:
    return f"{value:.3g}"


def viridis(values: np.ndarray) -> list[str]:
    """Hex colours for values in [0, 1]."""
    position = np.clip(np.nan_to_num(values, nan=0.0), 0.0, 1.0) * (len(VIRIDIS) - 1)
    low = np.minimum(position.astype(int), len(VIRIDIS) - 2)
    mix = (position - low)[..., None]
    rgb = np.rint(VIRIDIS[low] * (1 - mix) + VIRIDIS[low + 1] * mix).astype(int)
    return [f"#{r:02x}{g:02x}{b:02x}" for r, g, b in rgb.reshape(-1, 3)]


def bar_chart(labels: Sequence[str], values: Sequence[float], colors: Sequence[str], *, title: str, y_label: str,
              threshold: float | None = None, threshold_label: str = "") -> str:
    """Vertical bars with upright labels under them and an optional dashed threshold line."""
    values = np.nan_to_num(np.asarray(values, dtype=float), nan=0.0)
    label_chars = max((len(label) for label in labels), default=1)
    left, top, right, bottom = 64.0, 36.0, 16.0, 18.0 + 16 * label_chars
    # Bars spread over at least MIN_PLOT_PX, so a short sentence still leaves room for the title.
    slot, plot_height = max(26.0, MIN_PLOT_PX / max(len(values), 1)), 220.0
    width = left + right + slot * max(len(values), 1)
    height = top + plot_height + bottom
    high = max(float(values.max(initial=0.0)), threshold or 0.0) * 1.1 or 1.0

    def y(value: float) -> float:
        return top + plot_height * (1 - value / high)

    parts = [text(width / 2, 20, title, 14)]
    for tick in nice_ticks(0.0, high):
        parts += [line(left - 4, y(tick), width - right, y(tick), "#ddd"), text(left - 8, y(tick) + 4, tick_label(tick), 12, "end")]
    for i, (label, value, color) in enumerate(zip(labels, values, colors)):
        x = left + slot * i
        parts.append(rect(x + 3, y(value), slot - 6, y(0) - y(value), color, f"{label}: {value:.3g}"))
        parts += [text(x + slot / 2, y(0) + 18 + 16 * k, char, 14) for k, char in enumerate(label)]
    parts.append(line(left, y(0), width - right, y(0), GREY))
    if threshold is not None:
        parts += [line(left, y(threshold), width - right, y(threshold), "#000", 1.2, dashed=True),
                  text(width - right, y(threshold) - 5, threshold_label, 12, "end")]
    parts.append(text(16, top + plot_height / 2, y_label, 12, rotate=-90))
    return document(width, height, parts, scale_to_box=True)


def heatmap(labels: Sequence[str], matrix: np.ndarray, *, title: str, x_label: str, y_label: str) -> str:
    """Square cells coloured by value (viridis, scaled to the matrix's range), labels on both axes."""
    n = len(labels)
    matrix = np.asarray(matrix, dtype=float)
    low, high = float(np.nanmin(matrix, initial=0.0)), float(np.nanmax(matrix, initial=0.0))
    colors = viridis((matrix - low) / ((high - low) or 1.0))
    cell = max(30.0 if n <= 20 else 20.0, MIN_PLOT_PX / max(n, 1))  # a one-word matrix still fits its titles
    label_room = 34.0 + 15 * max((len(label) for label in labels), default=1)
    left, top = label_room, 40.0
    width, height = left + cell * n + 90, top + cell * n + label_room
    parts = [text(left + cell * n / 2, 22, title, 14)]
    for i in range(n):
        for j in range(n):
            parts.append(rect(left + cell * j, top + cell * i, cell, cell, colors[i * n + j],
                              f"{labels[i]} ← {labels[j]}: {matrix[i, j]:.3g}"))
    for k, label in enumerate(labels):
        parts.append(text(left - 6, top + cell * k + cell / 2 + 5, label, 14, "end"))
        parts.append(text(left + cell * k + cell / 2 + 5, top + cell * n + 6, label, 14, "end", rotate=-90))
    parts.append(text(12, top + cell * n / 2, y_label, 12, rotate=-90))
    parts.append(text(left + cell * n / 2, height - 6, x_label, 12))
    bar_x, steps = left + cell * n + 16, 20  # colour scale
    for s in range(steps):
        share = 1 - (s + 0.5) / steps
        parts.append(rect(bar_x, top + cell * n * s / steps, 14, cell * n / steps + 0.5, viridis(np.array([share]))[0]))
    parts += [text(bar_x + 18, top + 10, tick_label(high), 11, "start"), text(bar_x + 18, top + cell * n, tick_label(low), 11, "start")]
    return document(width, height, parts, scale_to_box=True)


def histogram(values: np.ndarray, *, bins: int, title: str, x_label: str, y_label: str,
              marker: float | None = None, marker_label: str = "") -> str:
    """Counts of ``values`` in equal bins as one filled outline; an optional red line marks one value."""
    values = np.asarray(values, dtype=float)
    low, high = float(values.min()), float(values.max())
    if marker is not None and np.isfinite(marker):  # keep the marked value on the chart
        low, high = min(low, marker - 5), max(high, marker + 5)
    counts, edges = np.histogram(values, bins=bins, range=(low, high))
    left, top, right, bottom, plot_width, plot_height = 60.0, 34.0, 16.0, 46.0, 560.0, 200.0
    width, height = left + plot_width + right, top + plot_height + bottom
    peak = counts.max(initial=0) * 1.1 or 1.0

    def x(value: float) -> float:
        return left + plot_width * (value - low) / ((high - low) or 1.0)

    def y(count: float) -> float:
        return top + plot_height * (1 - count / peak)

    outline = [f"{x(edges[0]):.1f},{y(0):.1f}"]
    for count, start, end in zip(counts, edges[:-1], edges[1:]):
        outline += [f"{x(start):.1f},{y(count):.1f}", f"{x(end):.1f},{y(count):.1f}"]
    outline.append(f"{x(edges[-1]):.1f},{y(0):.1f}")
    parts = [text(width / 2, 20, title, 13),
             f'<polygon points="{" ".join(outline)}" fill="#8aa9d6"/>',
             line(left, y(0), left + plot_width, y(0)), line(left, top, left, y(0))]
    for tick in nice_ticks(low, high):
        parts += [line(x(tick), y(0), x(tick), y(0) + 4), text(x(tick), y(0) + 17, tick_label(tick), 11)]
    for tick in nice_ticks(0.0, peak, 4):
        parts.append(text(left - 6, y(tick) + 4, tick_label(tick), 11, "end"))
    parts += [text(left + plot_width / 2, height - 8, x_label, 12), text(14, top + plot_height / 2, y_label, 12, rotate=-90)]
    if marker is not None and np.isfinite(marker):
        on_left = x(marker) < left + plot_width / 2
        parts += [line(x(marker), top, x(marker), y(0), "#c0392b", 2.5),
                  text(x(marker) + (6 if on_left else -6), top + 12, marker_label, 12, "start" if on_left else "end", "#c0392b")]
    return document(width, height, parts, scale_to_box=True)
