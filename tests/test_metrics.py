"""The metrics files are the one source of the numbers people read: cards, README and tab intros."""

from __future__ import annotations

import json

import pytest

from core import metrics


def test_record_replaces_by_key_and_renders_everywhere(tmp_path, monkeypatch):
    monkeypatch.setattr(metrics, "ASSETS_DIR", tmp_path)
    (tmp_path / "vae").mkdir()
    metrics.record("vae", "nll", label="NLL", value="90.00 nats", raw={"nll": 90.0}, command="python -m core.vae.evaluate",
                   anchor="88.71", headline=True)
    metrics.record("vae", "nll", label="NLL", value="85.68 nats", raw={"nll": 85.68}, command="python -m core.vae.evaluate",
                   anchor="88.71", headline=True)
    saved = json.loads((tmp_path / "vae" / "metrics.json").read_text(encoding="utf-8"))
    assert list(saved) == ["nll"] and saved["nll"]["raw"] == {"nll": 85.68} and saved["nll"]["date"]
    assert metrics.headline("vae") == "Measured: NLL: **85.68 nats**."
    assert "| NLL | **85.68 nats** | `python -m core.vae.evaluate` |" in metrics.card_table("vae")
    assert "| vae | NLL | **85.68 nats** |" in metrics.readme_table()


def test_replace_block_fills_between_markers_and_refuses_a_missing_block():
    text = "a\n<!-- metrics:scores -->\nold\n<!-- /metrics:scores -->\nb"
    assert metrics.replace_block(text, "scores", "new") == "a\n<!-- metrics:scores -->\nnew\n<!-- /metrics:scores -->\nb"
    with pytest.raises(ValueError, match="metrics:results"):
        metrics.replace_block(text, "results", "new")


def test_readme_and_model_cards_agree_with_the_metrics_files():
    stale = [str(path) for path, text in metrics.rendered().items() if path.read_text(encoding="utf-8") != text]
    assert not stale, f"run `python -m core.metrics` to re-render: {stale}"
