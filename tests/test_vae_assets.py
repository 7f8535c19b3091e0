"""The bundled VAE (assets/vae): size limits, the evaluate CLI, and the tab's scoring path end to end."""

from __future__ import annotations

import json

import gradio as gr
import numpy as np
import pytest
import torch
from PIL import Image

from core import checkpoints
from core.vae import density
from core.vae.model import MIXTURE_TYPE, VAEMixture, load

ASSET_DIR = checkpoints.spec("vae").asset_dir
EXAMPLES = ASSET_DIR / "examples"


@pytest.fixture(scope="module")
def bundled():
    return density.load_with_reference(checkpoints.locate("vae"))


def example(name: str) -> np.ndarray:
    return np.asarray(Image.open(EXAMPLES / f"{name}.png"))


def test_bundle_is_complete_and_small():
    names = {p.name for p in ASSET_DIR.iterdir()}
    assert {"config.json", "MODEL_CARD.md", "valid_log_likelihoods.json", "examples"} <= names
    # The bundle is a mixture: one directory per component VAE, each its own config and weights.
    config = json.loads((ASSET_DIR / "config.json").read_text())
    assert config["model_type"] == MIXTURE_TYPE and len(config["components"]) == 2
    assert all((ASSET_DIR / name / "model.safetensors").is_file() for name in config["components"])
    files = [p for p in ASSET_DIR.rglob("*") if p.is_file()]
    assert max(p.stat().st_size for p in files) <= 9.5 * 2**20  # Spaces without LFS
    assert sum(p.stat().st_size for p in files) <= 15 * 2**20  # a quarter of the 60 MB for all bundles
    record = json.loads((ASSET_DIR / "valid_log_likelihoods.json").read_text())
    values = record["log_likelihoods"]
    assert record["n"] == len(values) >= 500 and values == sorted(values) and max(values) < 0


def test_evaluate_prints_one_json_line_last(shared_data, capsys):
    from core.vae import evaluate

    evaluate.main(["--k", "20", "--limit", "40", "--data", str(shared_data / "binarized_mnist" / "binarized_mnist_valid.mat")])
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert {"nll_nats", "elbo_nats", "k", "n"} <= result.keys() and result["k"] == 20 and result["n"] == 40
    assert 50 < result["nll_nats"] <= result["elbo_nats"] < 130  # the IS estimate is the tighter bound


def test_bundled_model_is_a_good_density_on_validation_digits(bundled, shared_data):
    from core.vae.data import load_images
    from core.vae.model import score_images

    model, _ = bundled
    images = load_images(shared_data / "binarized_mnist" / "binarized_mnist_valid.mat", limit=100)
    torch.manual_seed(0)
    nll = -score_images(model, images, k=200)[0].mean().item()
    assert nll < 95.0  # the model card reports the full K = 5000 number
    # Same images, same 200 samples in all: the mixture is more probable than either component alone.
    for component in model.components:
        assert nll < -score_images(component, images, k=200)[0].mean().item() - 0.1


def test_drawn_digits_are_in_distribution_and_a_crossed_box_is_not(bundled):
    model, reference = bundled
    from core.vae.preprocess import to_mnist

    def percentile(name):
        return reference.percentile(density.estimate(model, to_mnist(example(name)), 500).mean_nats)

    assert not density.is_out_of_distribution(percentile("seven"))
    assert density.is_out_of_distribution(percentile("not_a_digit"))


def test_spread_shrinks_as_k_grows(bundled):
    from core.vae.preprocess import to_mnist

    rows = density.tightening(bundled[0], to_mnist(example("two")), 1000, repeats=8)
    assert rows[-1].std_nats < rows[0].std_nats
    assert rows[-1].mean_nats > rows[0].mean_nats  # the K = 1 ELBO sits below the K = 1000 bound


def test_tab_handlers_score_and_report_bad_input():
    import demos.vae as tab

    digit, text, plot, reconstruction, table = tab.score(example("zero"), 100)
    assert digit.shape == (28 * tab.SHOW_SCALE, 28 * tab.SHOW_SCALE) and reconstruction.shape == digit.shape
    assert "nats" in text and "bits/dim" in text and "validation digits" in text and "| 100 |" in table
    assert plot is not None
    with pytest.raises(gr.Error, match="empty"):
        tab.guarded(tab.score_sketch)({"composite": np.full((280, 280), 255, np.uint8)}, 100)
    with pytest.raises(gr.Error, match="sketchpad is empty"):
        tab.guarded(tab.score_sketch)(None, 100)
    with pytest.raises(gr.Error, match="No picture yet"):
        tab.guarded(tab.score_upload)(None, 100)
    assert tab.draw_samples().shape == (4 * 28 * tab.SHOW_SCALE, 8 * 28 * tab.SHOW_SCALE)


def test_loader_reads_the_bundled_directory():
    model = load(checkpoints.locate("vae"))
    assert isinstance(model, VAEMixture) and model.config.n_pixels == 784
    assert all(c.config.decoder == "autoregressive" and c.config.prior == "vamp" for c in model.components)
