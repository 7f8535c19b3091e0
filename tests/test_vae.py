"""VAE density estimator on tiny random models: the estimator's maths, preprocessing, training CLI."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from core.vae import density
from core.vae.model import (
    N_PIXELS,
    VAE,
    VAEConfig,
    VAEMixture,
    estimate_log_likelihood,
    iwae_bound,
    load,
    mixture_log_density,
    nats_to_bits_per_dim,
    save_mixture,
    save_pretrained,
)
from core.vae.preprocess import BOX, FIELD, WORKING_SIDE, read_picture, shrink, to_mnist


def tiny_vae(seed: int = 0, decoder: str = "factorized", prior: str = "standard") -> VAE:
    torch.manual_seed(seed)
    return VAE(VAEConfig(hidden=16, latent=4, decoder=decoder, prior=prior, pseudo_inputs=3)).eval()


def binary_images(n: int, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return (torch.rand(n, N_PIXELS, generator=generator) < 0.2).float()


# --- the estimator -------------------------------------------------------------------------


def test_estimate_is_never_below_the_elbo_of_the_same_samples():
    torch.manual_seed(1)
    log_px, elbo = estimate_log_likelihood(tiny_vae(), binary_images(8), k=64)
    assert (log_px >= elbo - 1e-4).all()  # Jensen: log-mean-exp ≥ mean, sample by sample


def test_expected_bound_rises_with_k():
    model, x = tiny_vae(), binary_images(4)
    torch.manual_seed(2)
    k1 = torch.stack([estimate_log_likelihood(model, x, 1)[0] for _ in range(200)]).mean()
    k100 = torch.stack([estimate_log_likelihood(model, x, 100)[0] for _ in range(20)]).mean()
    assert k100 > k1 + 1.0  # a random decoder leaves a wide gap between ELBO and log p(x)


def test_iwae_bound_is_stable_in_log_space():
    log_w = torch.tensor([[-10_000.0, -20_000.0], [-10_001.0, -20_003.0], [-10_002.0, -20_000.5]])
    expected = torch.tensor([np.log(np.mean(np.exp(col - col.max()))) + col.max() for col in log_w.double().T.numpy()])
    got = iwae_bound(log_w)
    assert torch.isfinite(got).all()
    assert torch.allclose(got.double(), expected, atol=1e-4)


def test_huge_log_weights_give_a_finite_estimate():
    model = tiny_vae()
    with torch.no_grad():
        model.decoder[-1].weight.mul_(500.0)  # confident, mostly wrong pixels: log p(x|z) in the thousands
    log_px, elbo = estimate_log_likelihood(model, binary_images(3), k=50)
    assert torch.isfinite(log_px).all() and torch.isfinite(elbo).all()
    assert (log_px < -1000).all()


def test_chunking_does_not_change_the_estimate(monkeypatch):
    """The same noise split into chunks of 7 rows or taken at once gives the same log p̂(x)."""
    model, x, k = tiny_vae(), binary_images(3), 40
    noise = torch.randn(k, 3, model.config.latent, generator=torch.Generator().manual_seed(3))

    def replay(size, **kwargs):  # hands out the fixed noise in order, whatever the chunk size
        replay.used += size[0]
        return noise[replay.used - size[0] : replay.used]

    results = []
    for max_rows in (7, 10_000):
        replay.used = 0
        monkeypatch.setattr(torch, "randn", replay)
        results.append(estimate_log_likelihood(model, x, k, max_rows=max_rows))
        monkeypatch.undo()
    (chunked, chunked_elbo), (whole, whole_elbo) = results
    assert torch.allclose(chunked, whole, atol=1e-4) and torch.allclose(chunked_elbo, whole_elbo, atol=1e-4)


def test_rejects_bad_k_and_shapes():
    model = tiny_vae()
    with pytest.raises(ValueError, match="K must be"):
        estimate_log_likelihood(model, binary_images(1), 0)
    with pytest.raises(ValueError, match="expected images"):
        estimate_log_likelihood(model, torch.zeros(1, 100), 5)
    with pytest.raises(ValueError, match="between 1 and"):
        density.estimate(model, np.zeros((28, 28)), density.MAX_K + 1)


def test_bits_per_dim():
    assert nats_to_bits_per_dim(N_PIXELS * math.log(2.0)) == pytest.approx(1.0)


def test_save_load_round_trip(tmp_path):
    model = tiny_vae()
    save_pretrained(model, tmp_path, {"note": "extra facts are kept in config.json"})
    again = load(tmp_path)
    x = binary_images(2)
    assert torch.equal(model.encode(x)[0], again.encode(x)[0])
    assert json.loads((tmp_path / "config.json").read_text())["note"].startswith("extra")


def test_load_refuses_mismatched_weights(tmp_path):
    save_pretrained(tiny_vae(), tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    config["hidden"] = 17
    (tmp_path / "config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match="shape"):
        load(tmp_path)


# --- the autoregressive (MADE) decoder -----------------------------------------------------------


def test_autoregressive_logit_reads_only_earlier_pixels():
    model, x = tiny_vae(decoder="autoregressive"), binary_images(2)
    z = torch.randn(2, model.config.latent)
    for pixel in (0, 37, 400, N_PIXELS - 1):
        flipped = x.clone()
        flipped[:, pixel] = 1 - flipped[:, pixel]
        changed = (model.decode_logits(z, x) - model.decode_logits(z, flipped)).abs().amax(0) > 0
        assert not changed[: pixel + 1].any()  # logit d never sees pixel d itself or anything after it
        assert changed[pixel + 1 :].any() or pixel == N_PIXELS - 1


def test_generation_agrees_with_the_one_pass_likelihood():
    """Pixel-by-pixel generation and the one-pass logits of its own output give the same probabilities."""
    model = tiny_vae(decoder="autoregressive")
    z = torch.randn(3, model.config.latent)
    for greedy in (True, False):
        torch.manual_seed(4)
        probs = model.decoder.generate(z, greedy=greedy)
        torch.manual_seed(4)
        x = torch.zeros_like(probs)  # replay the same Bernoulli draws to recover the sampled pixels
        for d in range(N_PIXELS):
            x[:, d] = (probs[:, d] > 0.5).float() if greedy else torch.bernoulli(probs[:, d])
        assert torch.allclose(torch.sigmoid(model.decode_logits(z, x)), probs, atol=1e-5)


def test_autoregressive_estimate_and_half_precision_round_trip(tmp_path):
    model, x = tiny_vae(decoder="autoregressive"), binary_images(3)
    torch.manual_seed(5)
    log_px, elbo = estimate_log_likelihood(model, x, k=32)
    assert torch.isfinite(log_px).all() and (log_px >= elbo - 1e-4).all()
    save_pretrained(model, tmp_path, half=True)
    again = load(tmp_path)
    assert again.config.decoder == "autoregressive"
    assert (tmp_path / "model.safetensors").stat().st_size < 0.6 * 4 * sum(p.numel() for p in model.parameters())
    z = torch.randn(3, model.config.latent)
    assert torch.allclose(model.decode_logits(z, x), again.decode_logits(z, x), atol=0.05)
    assert model.sample(2).shape == (2, N_PIXELS) and model.reconstruct(x).shape == x.shape


@pytest.mark.parametrize("decoder", ["factorized", "autoregressive"])
def test_dropout_acts_only_in_training_and_survives_save_load(tmp_path, decoder):
    model, x = VAE(VAEConfig(hidden=16, latent=4, decoder=decoder, dropout=0.5)), binary_images(2)
    z = torch.randn(2, model.config.latent)
    model.train()
    assert not torch.equal(model.decode_logits(z, x), model.decode_logits(z, x))
    model.eval()
    assert torch.equal(model.decode_logits(z, x), model.decode_logits(z, x))
    save_pretrained(model, tmp_path)
    again = load(tmp_path)
    assert again.config.dropout == 0.5 and torch.equal(model.decode_logits(z, x), again.decode_logits(z, x))
    with pytest.raises(ValueError, match="dropout"):
        VAEConfig(dropout=1.0)


def test_unknown_decoder_is_refused():
    with pytest.raises(ValueError, match="decoder"):
        VAEConfig(decoder="pixelcnn")


# --- the VampPrior -------------------------------------------------------------------------------


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 6), st.integers(1, 5), st.integers(0, 10_000))
def test_mixture_log_density_matches_the_direct_sum(components, latent, seed):
    generator = torch.Generator().manual_seed(seed)
    z = 3 * torch.randn(4, 2, latent, generator=generator, dtype=torch.float64)
    means = torch.randn(components, latent, generator=generator, dtype=torch.float64)
    log_stds = torch.randn(components, latent, generator=generator, dtype=torch.float64)
    per_component = (-0.5 * ((z[..., None, :] - means) / log_stds.exp()) ** 2 - log_stds).sum(-1)
    direct = torch.logsumexp(per_component, dim=-1) - math.log(components)
    assert torch.allclose(mixture_log_density(z, means, log_stds), direct, atol=1e-8)


def test_a_vamp_prior_whose_components_are_standard_normals_is_the_standard_prior():
    standard, vamp = tiny_vae(decoder="autoregressive"), tiny_vae(decoder="autoregressive", prior="vamp")
    vamp.load_state_dict({**standard.state_dict(), "pseudo_logits": vamp.pseudo_logits.detach()})
    x = binary_images(3)
    unit = (torch.zeros(3, 4), torch.zeros(3, 4))  # every component N(0, I)
    torch.manual_seed(7)
    expected = standard.log_weights(x, 5)
    torch.manual_seed(7)
    assert torch.allclose(vamp.log_weights(x, 5, prior=unit), expected, atol=1e-5)


def test_vamp_prior_estimate_sampling_and_round_trip(tmp_path):
    model, x = tiny_vae(decoder="autoregressive", prior="vamp"), binary_images(3)
    model.init_pseudo_inputs(binary_images(10, seed=3))
    assert torch.sigmoid(model.pseudo_logits).min() >= 0.05 - 1e-6
    torch.manual_seed(5)
    log_px, elbo = estimate_log_likelihood(model, x, k=32)
    assert torch.isfinite(log_px).all() and (log_px >= elbo - 1e-4).all()
    assert model.sample(4).shape == (4, N_PIXELS)
    save_pretrained(model, tmp_path)
    again = load(tmp_path)
    assert again.config.prior == "vamp" and torch.equal(again.pseudo_logits, model.pseudo_logits)
    with pytest.raises(ValueError, match="prior"):
        VAEConfig(prior="flow")



def test_vamp_prior_components_are_kept_between_calls_until_a_parameter_changes():
    model = tiny_vae(prior="vamp")
    with torch.no_grad():
        first = model.prior_components()
        assert model.prior_components()[0] is first[0]  # kept: no second encoder pass
        model.pseudo_logits.add_(1.0)  # what an optimizer step or a loaded state does to a parameter
        changed = model.prior_components()
    assert not torch.equal(changed[0], first[0])
    assert torch.allclose(changed[0], model.encode(torch.sigmoid(model.pseudo_logits))[0])
    model.train()
    means, _ = model.prior_components()  # training: recomputed every time, with gradients
    means.sum().backward()
    assert model.pseudo_logits.grad is not None

# --- a mixture of VAEs -------------------------------------------------------------------------


def exact_log_likelihood(model: VAE, x: torch.Tensor) -> torch.Tensor:
    """log p(x) of a one-latent factorized VAE by quadrature over z: the truth the estimator approaches."""
    z = torch.linspace(-10.0, 10.0, 10_001).unsqueeze(-1)  # (Z, 1)
    logits = model.decode_logits(z.unsqueeze(1), x).expand(-1, len(x), -1)  # (Z, B, D)
    log_px_given_z = -torch.nn.functional.binary_cross_entropy_with_logits(logits, x.expand_as(logits), reduction="none").sum(-1)
    log_prior = -0.5 * z.pow(2) - 0.5 * math.log(2 * math.pi)  # (Z, 1)
    return torch.logsumexp(log_px_given_z + log_prior, dim=0) + math.log(20.0 / 10_000)


def test_mixture_estimate_approaches_the_exact_mixture_likelihood():
    components = []
    for seed in (0, 1):
        torch.manual_seed(seed)
        components.append(VAE(VAEConfig(hidden=16, latent=1)).eval())
    x = binary_images(3)
    with torch.no_grad():
        exact = torch.logsumexp(torch.stack([exact_log_likelihood(c, x) for c in components]), 0) - math.log(2)
    torch.manual_seed(3)
    log_px, elbo = estimate_log_likelihood(VAEMixture(components), x, k=20_000)
    assert torch.allclose(log_px, exact, atol=0.05)
    assert (elbo < log_px).all()
    # Not the mean of the components' log-likelihoods: the mixture is more probable than that (Jensen).
    assert (exact > torch.stack([exact_log_likelihood(c, x) for c in components]).mean(0).detach() + 1e-3).all()


def test_mixture_combines_saves_loads_samples_and_reconstructs(tmp_path):
    from core.vae import combine

    save_pretrained(tiny_vae(0, decoder="autoregressive", prior="vamp"), tmp_path / "a")
    save_pretrained(tiny_vae(1), tmp_path / "b", half=True)
    combine.main([str(tmp_path / "a"), str(tmp_path / "b"), "--out", str(tmp_path / "mix")])
    mixture = load(tmp_path / "mix")
    assert isinstance(mixture, VAEMixture) and len(mixture.components) == 2
    assert mixture.components[0].config.prior == "vamp" and mixture.components[1].config.decoder == "factorized"
    x = binary_images(4)
    for k in (1, 7):  # K = 1 still gives every component one sample
        torch.manual_seed(k)
        log_px, elbo = estimate_log_likelihood(mixture, x, k)
        assert torch.isfinite(log_px).all() and (log_px >= elbo - 1e-4).all()
    samples = mixture.sample(5)
    assert samples.shape == (5, N_PIXELS) and 0 <= samples.min() and samples.max() <= 1
    assert mixture.reconstruct(x).shape == x.shape
    assert [r.k for r in density.tightening(mixture, np.eye(28, dtype=np.uint8), 100)] == [1, 10, 100]
    with pytest.raises(ValueError, match="mixture already"):
        save_mixture([tmp_path / "mix", tmp_path / "a"], tmp_path / "nested")
    with pytest.raises(ValueError, match="at least 2"):
        VAEMixture([tiny_vae()])
    from scipy.io import savemat

    from core.vae import train

    savemat(tmp_path / "tiny.mat", {"X": binary_images(10).numpy().astype(np.uint8)})
    with pytest.raises(SystemExit, match="mixture"):
        train.main(["--init", str(tmp_path / "mix"), "--train", str(tmp_path / "tiny.mat"), "--valid", str(tmp_path / "tiny.mat"),
                    "--work", str(tmp_path / "work")])


# --- scoring one digit and the reference distribution ----------------------------------------


def test_tightening_runs_k_up_to_the_slider():
    rows = density.tightening(tiny_vae(), np.eye(28, dtype=np.uint8), 250)
    assert [r.k for r in rows] == [1, 10, 100, 250]
    assert all(r.std_nats >= 0 and r.mean_nats >= r.mean_elbo_nats - 1e-4 for r in rows)


def test_percentile_and_out_of_distribution():
    reference = density.Reference(np.arange(1.0, 101.0), k=10, data="x")
    assert reference.percentile(0.0) == 0.0
    assert reference.percentile(50.0) == 50.0
    assert reference.percentile(1e9) == 100.0
    assert density.is_out_of_distribution(reference.percentile(0.5))
    assert not density.is_out_of_distribution(reference.percentile(30.0))


def test_tile_lays_out_rows():
    grid = density.tile(np.ones((5, N_PIXELS)), columns=4)
    assert grid.shape == (56, 112)
    assert grid[:, :].sum() == 5 * N_PIXELS  # the three cells after the fifth stay blank


# --- preprocessing (hypothesis) --------------------------------------------------------------

strokes = st.lists(
    st.tuples(st.integers(0, 59), st.integers(0, 59), st.integers(4, 30), st.integers(4, 30)), min_size=1, max_size=4
)


def paint(rects, canvas=64, offset=(0, 0)) -> np.ndarray:
    """Dark rectangles on a light canvas, like a pen on paper."""
    image = np.full((canvas, canvas), 255, dtype=np.uint8)
    for top, left, h, w in rects:
        image[offset[0] + top : offset[0] + top + h, offset[1] + left : offset[1] + left + w] = 0
    return image


@settings(max_examples=40, deadline=None)
@given(strokes)
def test_output_is_a_centred_binary_digit_inside_the_box(rects):
    digit = to_mnist(paint(rects, canvas=96))
    assert digit.shape == (FIELD, FIELD) and set(np.unique(digit)) <= {0, 1} and digit.any()
    rows, cols = np.flatnonzero(digit.any(1)), np.flatnonzero(digit.any(0))
    assert rows[-1] - rows[0] < BOX + 1 and cols[-1] - cols[0] < BOX + 1


@settings(max_examples=30, deadline=None)
@given(strokes, st.integers(0, 30), st.integers(0, 30))
def test_translation_polarity_and_alpha_do_not_matter(rects, dy, dx):
    base = to_mnist(paint(rects, canvas=128))
    assert np.array_equal(to_mnist(paint(rects, canvas=128, offset=(dy, dx))), base)
    assert np.array_equal(to_mnist(255 - paint(rects, canvas=128)), base)  # light ink on dark, like MNIST
    ink = 255 - paint(rects, canvas=128)
    rgba = np.zeros((128, 128, 4), dtype=np.uint8)
    rgba[..., 3] = ink  # black strokes on a transparent sketchpad canvas
    assert np.array_equal(to_mnist(rgba), base)


def test_centre_of_mass_is_centred_for_a_symmetric_shape():
    image = np.full((200, 300), 255, dtype=np.uint8)
    image[20:180, 40:60] = 0  # a tall bar far off-centre
    digit = to_mnist(image)
    ys, xs = np.nonzero(digit)
    assert abs(ys.mean() - 13.5) <= 1.0 and abs(xs.mean() - 13.5) <= 1.0


@pytest.mark.parametrize("image", [np.full((50, 50), 255, np.uint8), np.zeros((30, 40, 3), np.uint8),
                                   np.zeros((40, 40, 4), np.uint8)])
def test_empty_images_raise_a_clear_error(image):
    with pytest.raises(ValueError, match="empty"):
        to_mnist(image)


@pytest.mark.parametrize("image", [np.zeros((5,)), np.zeros((10, 10, 2)), np.full((8, 8), np.nan), np.array([["a"]])])
def test_unreadable_images_raise_value_error(image):
    with pytest.raises(ValueError):
        to_mnist(image)


def test_huge_pictures_are_shrunk_first_and_give_the_same_digit(tmp_path):
    from PIL import Image

    page = np.full((3000, 2400), 255, dtype=np.uint8)
    page[600:2400, 1000:1400] = 0  # a thick "1"
    Image.fromarray(page).save(tmp_path / "one.png")
    Image.fromarray(page).save(tmp_path / "one.jpg", quality=95)
    for name in ("one.png", "one.jpg"):
        picture = read_picture(tmp_path / name)
        assert picture.dtype == np.uint8 and picture.shape[2] == 4 and max(picture.shape[:2]) <= WORKING_SIDE
        assert np.array_equal(to_mnist(picture), to_mnist(page))
    assert max(shrink(page).shape) <= WORKING_SIDE  # arrays (a sketch sent through the API) too


@pytest.mark.parametrize("content", [b"", b"hello, not a picture", b"\x89PNG\r\n\x1a\n truncated"])
def test_files_that_are_not_pictures_get_a_plain_message(tmp_path, content):
    path = tmp_path / "digit.png"
    path.write_bytes(content)
    with pytest.raises(ValueError, match="digit.png is not a picture this tab can read: upload a PNG") as err:
        read_picture(path)
    assert str(tmp_path) not in str(err.value)  # no server folder in a message for the page


# --- training CLI on a tiny fake data set -------------------------------------------------------


@pytest.mark.parametrize("decoder, prior", [("factorized", "standard"), ("autoregressive", "vamp")])
def test_train_writes_a_loadable_checkpoint_and_resumes(tmp_path, decoder, prior):
    from scipy.io import savemat

    from core.vae import train

    data = tmp_path / "tiny.mat"
    savemat(data, {"X": (np.random.default_rng(0).random((60, N_PIXELS)) < 0.2).astype(np.uint8)})
    common = ["--train", str(data), "--valid", str(data), "--hidden", "8", "--latent", "2", "--batch-size", "20",
              "--valid-k", "5", "--out", str(tmp_path / "model"), "--work", str(tmp_path / "work"), "--k", "3",
              "--decoder", decoder, "--dropout", "0.1", "--prior", prior, "--pseudo-inputs", "4"]
    train.main(common + ["--epochs", "1"])
    model = load(tmp_path / "model")
    assert model.config.latent == 2 and model.config.decoder == decoder and model.config.dropout == 0.1
    assert model.config.prior == prior
    train.main(common + ["--epochs", "2"])  # the same command with a larger budget resumes
    state = torch.load(tmp_path / "work" / "state.pt", weights_only=False)
    assert state["progress"]["step"] == 6 and len(state["progress"]["history"]) == 2
    with pytest.raises(ValueError, match=r"different run \(differs in: lr\)"):
        train.main(common + ["--epochs", "2", "--lr", "1e-2"])
    # Fine-tuning from the written model keeps its architecture, whatever the size options say.
    tuned = tmp_path / "tuned"
    train.main(common[:-4] + ["--init", str(tmp_path / "model"), "--hidden", "5", "--out", str(tuned),
                              "--work", str(tmp_path / "tuned_work"), "--epochs", "1"])
    assert load(tuned).config == model.config
