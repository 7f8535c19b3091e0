"""SVG charts (core/svg.py): what they draw, and that any label or value gives well-formed SVG."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from core import svg

NS = "{http://www.w3.org/2000/svg}"


def parse(document: str) -> ET.Element:
    root = ET.fromstring(document)
    assert root.tag == f"{NS}svg"
    return root


def bars_of(root: ET.Element) -> list[ET.Element]:
    return [r for r in root.iter(f"{NS}rect") if r.find(f"{NS}title") is not None]


def test_bar_chart_draws_one_bar_per_value_coloured_by_its_side_of_the_threshold():
    values = [0.2, 0.9, np.nan, 0.5]
    colors = [svg.BLUE if v >= 0.5 else svg.RED for v in np.nan_to_num(values)]
    root = parse(svg.bar_chart(["北京", "京大", "大学", "学生"], values, colors, title="t", y_label="score",
                               threshold=0.5, threshold_label="threshold 0.5"))
    bars = bars_of(root)
    assert [b.get("fill") for b in bars] == [svg.RED, svg.BLUE, svg.RED, svg.BLUE]
    heights = [float(b.get("height")) for b in bars]
    assert heights[2] == 0.0 and heights[1] > heights[3] > heights[0] > 0  # NaN draws as 0; heights follow values
    assert any(line.get("stroke-dasharray") for line in root.iter(f"{NS}line"))  # the threshold
    assert "threshold 0.5" in "".join(root.itertext())


def test_heatmap_colours_follow_the_values():
    matrix = np.array([[0.0, 1.0], [0.5, 0.25]])
    cells = bars_of(parse(svg.heatmap(["我们", "在"], matrix, title="t", x_label="x", y_label="y")))
    assert len(cells) == 4
    assert cells[0].get("fill") == "#440154" and cells[1].get("fill") == "#fde725"  # viridis ends


def test_histogram_marks_a_value_outside_the_data():
    values = np.random.default_rng(0).normal(-90, 10, 1000)
    root = parse(svg.histogram(values, bins=30, title="t", x_label="x", y_label="y", marker=-300.0,
                               marker_label="your digit"))
    assert "your digit" in "".join(root.itertext())
    marker = [line for line in root.iter(f"{NS}line") if line.get("stroke") == "#c0392b"]
    assert len(marker) == 1 and float(marker[0].get("x1")) >= 0  # widened to keep the marker on the chart


def test_nice_ticks_cover_the_range_with_round_steps():
    assert np.allclose(svg.nice_ticks(0.0, 1.0), [0.0, 0.2, 0.4, 0.6, 0.8, 1.0])
    ticks = svg.nice_ticks(-153.2, -31.7)
    assert ticks[0] >= -153.2 and ticks[-1] <= -31.7 and len(set(np.diff(ticks).round(9))) == 1


@settings(max_examples=60, deadline=None)
@given(labels=st.lists(st.text(min_size=1, max_size=6), min_size=1, max_size=12),
       scale=st.floats(min_value=0.0, max_value=1e6, allow_nan=False))
def test_any_labels_and_values_give_well_formed_svg(labels, scale):
    values = np.linspace(0, scale, len(labels))
    parse(svg.bar_chart(labels, values, [svg.BLUE] * len(labels), title="<b>&", y_label="\"'", threshold=scale / 2))
    parse(svg.heatmap(labels, np.outer(values, values), title="t", x_label="x", y_label="y"))
    parse(svg.histogram(values, bins=5, title="t", x_label="x", y_label="y", marker=scale, marker_label="<m>"))
