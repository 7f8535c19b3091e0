"""Tab: how probable is this drawing? A VAE as a density estimator (Su Jianlin, kexue.fm/archives/8791)."""

from __future__ import annotations

from pathlib import Path

import gradio as gr
import numpy as np

from core import checkpoints
from core.vae import density, figures
from core.vae.preprocess import read_picture, to_mnist
from demos import serving
from demos.common import guarded, model_card_accordion, tab_intro, timed

EXAMPLES_DIR = checkpoints.spec("vae").asset_dir / "examples"
N_SAMPLES = 32
# K = 300 gives the answer of K = 5,000 on the example digits (means within 0.08 nats, percentiles within 0.1
# points; `python benchmarks/vae_default_k.py`) at 1/3 of the cost of K = 1,000: a busy Space serves more people.
DEFAULT_K = 300
SHOW_SCALE = 6  # 28 px digits drawn 168 px wide
PREVIEW_HEIGHT = 28 * SHOW_SCALE + 60  # the enlarged digit plus the label above it, so nothing is clipped

# The sketchpad opens with no tool picked (Gradio 6.31 has no option for a starting tool), so strokes drew
# nothing until the brush icon was found: pick the brush as soon as the pad's toolbar exists.
PICK_BRUSH_JS = """
const pickBrush = () => {
  const brush = document.querySelector('#vae-sketchpad button[aria-label="Brush"], #vae-sketchpad .toolbar-wrap button');
  if (!brush) return false;
  if (!brush.classList.contains('highlight')) brush.click();
  return true;
};
if (!pickBrush()) {
  const watcher = new MutationObserver(() => { if (pickBrush()) watcher.disconnect(); });
  watcher.observe(document.body, {childList: true, subtree: true});
}
"""

INTRO = tab_intro("**Draw a digit** (or upload a picture): the VAE says how probable it is and shows what it "
                  "reconstructs and samples.", "vae", "valid_nll_k5000_n1000", "nll_nats",
                  "On MNIST validation digits it needs **{:.2f}** nats per image (negative log-likelihood: lower is better).")

HOW_IT_WORKS = """A variational autoencoder trained on binarized MNIST is a density model: its encoder is an importance-sampling
proposal, so log p(x) ≈ log (1/K) Σₖ p(x|zₖ) p(zₖ) / q(zₖ|x) with zₖ ~ q(z|x)
([Su Jianlin, 变分自编码器（八）](https://kexue.fm/archives/8791); IWAE, Burda et al. 2015).
Draw a digit (thick strokes) or upload a picture: it is cropped, scaled into 20×20, centred by mass in 28×28 and
thresholded like MNIST, then scored. The estimate is a lower bound that rises and steadies as K grows.
The bundled model is a 50/50 mixture of two VAEs trained alike from two seeds (K is split between them; see the model card). Each has a VampPrior (a mixture of the encoder's posteriors of 500 learned
pseudo-images) and an autoregressive decoder: each pixel's probability also depends on the pixels above and to its left,
so samples and reconstructions are drawn pixel by pixel."""


def enlarge(image: np.ndarray) -> np.ndarray:
    """[0, 1] image → uint8 picture, each pixel a SHOW_SCALE square (nearest neighbour keeps it crisp)."""
    pixels = (np.clip(image, 0.0, 1.0) * 255).astype(np.uint8)
    return np.kron(pixels, np.ones((SHOW_SCALE, SHOW_SCALE), dtype=np.uint8))


def sketch_image(editor_value) -> np.ndarray | None:
    """The sketchpad sends {'background', 'layers', 'composite'}; the composite is the drawing."""
    if isinstance(editor_value, dict):
        return editor_value.get("composite")
    return editor_value


def score_markdown(est: density.Estimate, reference: density.Reference | None, percentile: float | None, ms: float) -> str:
    lines = [
        f"## log p(x) ≈ {est.mean_nats:.2f} ± {est.std_nats:.2f} nats",
        f"**{est.bits_per_dim:.4f} ± {est.std_bits_per_dim:.4f} bits/dim** · K = {est.k:,} samples · mean ± std over "
        f"{serving.VAE_REPEATS} independent estimates · ELBO {est.mean_elbo_nats:.2f} nats · {ms:.0f} ms",
    ]
    if reference is not None and percentile is not None:
        lines.append(f"More probable than **{percentile:.1f}%** of the {len(reference.log_likelihoods):,} validation digits "
                     f"(scored with K = {reference.k:,}).")
        if density.is_out_of_distribution(percentile):
            lines.append(f"⚠️ **Looks out of distribution**: less probable than {100 - percentile:.1f}% of real digits. "
                         "The model thinks this is not an MNIST-style digit (or it is drawn very unusually).")
    else:
        lines.append("_This checkpoint ships no validation log-likelihoods, so no percentile._")
    return "\n\n".join(lines)


def tightening_markdown(rows: list[density.Estimate]) -> str:
    table = ["| K | log p(x) estimate (nats) | spread (std) | ELBO (nats) |", "|---:|---:|---:|---:|"]
    table += [f"| {r.k:,} | {r.mean_nats:.2f} | {r.std_nats:.2f} | {r.mean_elbo_nats:.2f} |" for r in rows]
    return "**How the estimate tightens with K** (the bound rises towards log p(x), the spread shrinks):\n\n" + "\n".join(table)


def score(image, k):
    model, reference = checkpoints.load("vae", density.load_with_reference)
    digit = to_mnist(image)
    rows, ms = timed(density.tightening, model, digit, k, serving.VAE_REPEATS)
    est = rows[-1]
    percentile = reference.percentile(est.mean_nats) if reference is not None else None
    plot = figures.histogram(reference, est.mean_nats, percentile) if reference is not None else ""
    reconstruction = density.reconstruct(model, digit)
    return enlarge(digit), score_markdown(est, reference, percentile, ms), plot, enlarge(reconstruction), tightening_markdown(rows)


def score_sketch(editor_value, k):
    drawing = sketch_image(editor_value)
    if drawing is None:
        raise ValueError("The sketchpad is empty: draw a digit on it (press and drag), then press Score the drawing.")
    return score(drawing, k)


def score_upload(upload, k):
    """Called without Gradio's preprocessing (``upload`` is the file's data: path, name): a file that is not a
    picture gets our message instead of a decoding error, and a huge photo is shrunk while it is read."""
    path = upload.get("path") if isinstance(upload, dict) else None
    if not path:
        raise ValueError("No picture yet: upload a picture of a digit (or click an example), then press Score the upload.")
    return score(read_picture(path), k)


def draw_samples():
    model, _ = checkpoints.load("vae", density.load_with_reference)
    images = model.sample(N_SAMPLES).cpu().numpy()
    return enlarge(density.tile(images, columns=8))


def build() -> None:
    gr.Markdown(INTRO)
    model_card_accordion("vae", HOW_IT_WORKS)
    with gr.Row():
        with gr.Column(scale=1):
            with gr.Tabs() as input_tabs:
                with gr.Tab("Draw", id="draw"):
                    sketch = gr.Sketchpad(
                        label="Draw one large digit",
                        image_mode="L",
                        type="numpy",
                        canvas_size=(280, 280),
                        brush=gr.Brush(colors=["#000000"], color_mode="fixed", default_size=12),
                        layers=False,
                        transforms=(),
                        elem_id="vae-sketchpad",
                    )
                    gr.HTML("", js_on_load=PICK_BRUSH_JS, padding=False, elem_id="vae-pick-brush")
                    score_sketch_button = gr.Button("Score the drawing", variant="primary", elem_id="vae-score-sketch")
                with gr.Tab("Upload", id="upload"):
                    upload = gr.Image(label="Picture of a digit (any size, dark on light or light on dark)", type="numpy",
                                      image_mode="RGBA", sources=["upload", "clipboard"], elem_id="vae-upload")
                    score_upload_button = gr.Button("Score the upload", variant="primary", elem_id="vae-score-upload")
            k = gr.Slider(1, density.MAX_K, value=DEFAULT_K, step=1, label="K importance samples",
                          info="More samples: a tighter (higher) bound and a smaller spread, but slower.", elem_id="vae-k")
        with gr.Column(scale=2):
            with gr.Row():
                digit = gr.Image(label="What the model sees (28×28, binarized)", interactive=False, elem_id="vae-digit",
                                 height=PREVIEW_HEIGHT, buttons=[])
                reconstruction = gr.Image(label="Reconstruction (from the encoder's mean z, by the likelier component)", interactive=False,
                                          elem_id="vae-reconstruction", height=PREVIEW_HEIGHT, buttons=[])
            result = gr.Markdown("Draw or upload a digit, then press score — or click an example below.", elem_id="vae-score")
            histogram = gr.HTML(label="Where it falls among validation digits", show_label=True, container=True,
                                elem_id="vae-histogram")
            tight = gr.Markdown(elem_id="vae-tightening")

    outputs = [digit, result, histogram, reconstruction, tight]
    examples = sorted(EXAMPLES_DIR.glob("*.png"))
    if examples:
        clicked = gr.Examples(
            examples=[[str(path), DEFAULT_K] for path in examples],
            inputs=[upload, k],
            outputs=outputs,
            fn=guarded(score),
            run_on_click=True,
            cache_examples=False,
            example_labels=[Path(path).stem.replace("_", " ") for path in examples],
            label="Examples (synthetic drawings; click one to score it)",
            api_name="vae_score_example",
        )
        # The example lands in the upload box: show that tab, so the picture on the left is the one scored.
        clicked.load_input_event.then(lambda: gr.Tabs(selected="upload"), None, input_tabs, api_name="vae_show_example")
    score_sketch_button.click(guarded(score_sketch), [sketch, k], outputs, api_name="vae_score_drawing")
    score_upload_button.click(guarded(score_upload), [upload, k], outputs, api_name="vae_score_image", preprocess=False)

    with gr.Row():
        # A callable value is drawn afresh on every page load (about 0.2 s), so the grid is never empty.
        samples = gr.Image(value=guarded(draw_samples), label=f"{N_SAMPLES} samples from the model (z from the prior p(z) of a random component; pixel probabilities)",
                           interactive=False, elem_id="vae-samples", buttons=[])
    sample_button = gr.Button("Draw new samples from the model", elem_id="vae-sample-button")
    sample_button.click(guarded(draw_samples), None, samples, api_name="vae_samples")
