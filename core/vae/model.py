"""A VAE for 28x28 binary images, used as a density estimator.

Su Jianlin, "变分自编码器（八）：估计样本概率密度" (https://kexue.fm/archives/8791): the encoder
q(z|x) is an importance-sampling proposal for the marginal likelihood

    log p(x) ≈ logsumexp_k [log p(x|z_k) + log p(z_k) − log q(z_k|x)] − log K,   z_k ~ q(z|x),

a stochastic lower bound that tightens as K grows (Burda, Grosse & Salakhutdinov 2015, IWAE).
With K = 1 its expectation is the ELBO; training on it with K > 1 is the IWAE objective.

Two decoders: ``factorized`` (independent Bernoulli pixels given z, as in the post and Burda et
al.) and ``autoregressive`` (a MADE over the pixels in raster order given z, Germain et al. 2015:
each pixel's Bernoulli also sees the pixels before it, which models the local stroke structure
that a factorized decoder has to push into z). Both give an exact log p(x|z) in one pass, so the
estimator is the same; only sampling becomes pixel by pixel.

Two priors: ``standard`` N(0, I), and ``vamp``, the VampPrior (Tomczak & Welling 2018): the
mixture p(z) = 1/P Σ_p q(z | u_p) of the encoder's posteriors of P learned pseudo-images u_p, which
fills the holes that the aggregate posterior leaves in N(0, I). It costs one encoder pass over the
pseudo-images per batch, and log p(z) stays exact, so the estimator is unchanged.

A mixture of M such VAEs, p(x) = 1/M Σ_m p_m(x) (the same recipe trained from different seeds),
is a latent-variable model too, with latents (m, z): its estimator gives each component ⌈K/M⌉
samples from that component's own encoder, so over-fitting that differs from seed to seed averages out.

Reads top to bottom: config, MLP, the autoregressive decoder, the model (encoder, prior, decoder,
log importance weights), the mixture of VAEs, the pure scoring functions (log-mean-exp over chunks,
nats → bits/dim, Gaussian-mixture log density), save/load.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from torch import nn
from tqdm import tqdm

IMAGE_SIDE = 28
N_PIXELS = IMAGE_SIDE * IMAGE_SIDE
CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
MIXTURE_TYPE = "vae_mixture"  # config.json's model_type for a directory of component VAEs
RESPONSIBILITY_K = 100  # samples per component when picking the component that explains an image best
ACTIVATIONS = {"tanh": nn.Tanh, "relu": nn.ReLU, "elu": nn.ELU}
DECODERS = ("factorized", "autoregressive")
PRIORS = ("standard", "vamp")


@dataclass
class VAEConfig:
    n_pixels: int = N_PIXELS
    hidden: int = 500  # width of both hidden layers of the encoder and of the decoder
    n_hidden_layers: int = 2
    latent: int = 50  # Burda et al. use 50 latent units for their one-stochastic-layer model
    activation: str = "tanh"
    decoder: str = "factorized"  # or "autoregressive" (MADE given z)
    dropout: float = 0.0  # on the decoder's hidden units while training: the MADE decoder over-fits 50k images
    prior: str = "standard"  # or "vamp" (a mixture of the encoder's posteriors of learned pseudo-images)
    pseudo_inputs: int = 500  # VampPrior components (Tomczak & Welling use 500 on MNIST); unused by "standard"

    def __post_init__(self) -> None:
        if self.activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}, got {self.activation!r}")
        if self.decoder not in DECODERS:
            raise ValueError(f"decoder must be one of {DECODERS}, got {self.decoder!r}")
        if self.prior not in PRIORS:
            raise ValueError(f"prior must be one of {PRIORS}, got {self.prior!r}")
        if min(self.n_pixels, self.hidden, self.n_hidden_layers, self.latent, self.pseudo_inputs) < 1:
            raise ValueError(f"all sizes must be positive: {self}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")


def mlp(n_in: int, hidden: int, n_layers: int, n_out: int, activation: str, dropout: float = 0.0) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i in range(n_layers):
        layers += [nn.Linear(n_in if i == 0 else hidden, hidden), ACTIVATIONS[activation]()]
        if dropout:
            layers.append(nn.Dropout(dropout))
    layers.append(nn.Linear(hidden if n_layers else n_in, n_out))
    return nn.Sequential(*layers)


def made_masks(n_pixels: int, hidden: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Connectivity of a one-hidden-layer MADE in raster order (Germain et al. 2015).

    Pixel d (1-based) has degree d; hidden unit k has degree m_k, spread evenly over 1..D−1 (a
    fixed order, no seed). Unit k may read pixel d when m_k ≥ d; output d may read unit k when
    d > m_k, and pixel j directly when j < d. So logit d depends on pixels 1..d−1 only.
    Returns (hidden ← pixels, pixels ← hidden, pixels ← pixels) 0/1 masks.
    """
    pixel_degrees = torch.arange(1, n_pixels + 1)
    unit_degrees = 1 + torch.arange(hidden) * max(1, n_pixels - 1) // hidden
    reads = (unit_degrees[:, None] >= pixel_degrees[None, :]).float()
    writes = (pixel_degrees[:, None] > unit_degrees[None, :]).float()
    direct = torch.tril(torch.ones(n_pixels, n_pixels), diagonal=-1)
    return reads, writes, direct


class AutoregressiveDecoder(nn.Module):
    """p(x|z) = Π_d Bernoulli(x_d; σ(logit_d(x_<d, z))).

    A context c = MLP(z) gives every pixel a factorized logit (V c, exactly the factorized decoder)
    plus the bias of a masked hidden layer h = act(W_m x + U c); the autoregressive part adds
    W'_m h + A_m x (A: direct connections from every earlier pixel, which carry the immediate
    neighbours that the hidden layer's coarse degrees may miss).
    """

    def __init__(self, config: "VAEConfig"):
        super().__init__()
        c = config
        # The factorized decoder's hidden layers, ending in the context instead of the pixels.
        self.context = mlp(c.latent, c.hidden, c.n_hidden_layers - 1, c.hidden, c.activation, c.dropout)
        self.activation = ACTIVATIONS[c.activation]()
        self.dropout = nn.Dropout(c.dropout)
        self.pixels_to_hidden = nn.Linear(c.n_pixels, c.hidden, bias=False)
        self.context_to_hidden = nn.Linear(c.hidden, c.hidden)
        self.hidden_to_pixels = nn.Linear(c.hidden, c.n_pixels, bias=False)
        self.pixels_to_pixels = nn.Linear(c.n_pixels, c.n_pixels, bias=False)
        self.context_to_pixels = nn.Linear(c.hidden, c.n_pixels)
        reads, writes, direct = made_masks(c.n_pixels, c.hidden)
        # Derived from the config, so not stored in the checkpoint.
        self.register_buffer("reads", reads, persistent=False)
        self.register_buffer("writes", writes, persistent=False)
        self.register_buffer("direct", direct, persistent=False)

    def forward(self, z: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """(..., latent) codes and (B, D) images broadcast against them → logits (..., D).

        The pixel terms depend on x alone, so they are computed once per image, not once per sample.
        """
        c = self.dropout(self.activation(self.context(z)))
        from_pixels_hidden = F.linear(x, self.pixels_to_hidden.weight * self.reads)
        h = self.dropout(self.activation(from_pixels_hidden + self.context_to_hidden(c)))
        return (F.linear(h, self.hidden_to_pixels.weight * self.writes) + F.linear(x, self.pixels_to_pixels.weight * self.direct)
                + self.context_to_pixels(c))

    @torch.no_grad()
    def generate(self, z: torch.Tensor, greedy: bool = False) -> torch.Tensor:
        """Pixels one at a time for codes z (B, latent): sampled, or the likelier value when ``greedy``.

        Returns each pixel's probability given the pixels chosen before it (B, D): a picture that
        reads like a decoder mean. Incremental (NADE-style): setting pixel d adds one masked column
        to the hidden pre-activation, so a step costs O(hidden), not a whole forward.
        """
        c = self.activation(self.context(z))
        pre_hidden = self.context_to_hidden(c)
        base = self.context_to_pixels(c)
        w_in = self.pixels_to_hidden.weight * self.reads
        w_out = self.hidden_to_pixels.weight * self.writes
        w_direct = self.pixels_to_pixels.weight * self.direct
        x = torch.zeros_like(base)
        probs = torch.zeros_like(base)
        for d in range(base.shape[-1]):
            logit = base[:, d] + self.activation(pre_hidden) @ w_out[d] + x @ w_direct[d]
            probs[:, d] = torch.sigmoid(logit)
            x[:, d] = (logit > 0).to(x.dtype) if greedy else torch.bernoulli(probs[:, d])
            pre_hidden = pre_hidden + x[:, d : d + 1] * w_in[:, d]
        return probs


class VAE(nn.Module):
    """Gaussian encoder q(z|x) = N(μ(x), σ(x)²), prior N(0, I) or VampPrior, Bernoulli decoder p(x|z)
    (factorized or autoregressive)."""

    def __init__(self, config: VAEConfig):
        super().__init__()
        self.config = config
        c = config
        self.encoder = mlp(c.n_pixels, c.hidden, c.n_hidden_layers, 2 * c.latent, c.activation)
        self.autoregressive = c.decoder == "autoregressive"
        self.decoder = (AutoregressiveDecoder(c) if self.autoregressive
                        else mlp(c.latent, c.hidden, c.n_hidden_layers, c.n_pixels, c.activation, c.dropout))
        if c.prior == "vamp":
            # Logits of the pseudo-images: sigmoid keeps each u_p a grey-level image in (0, 1).
            self.pseudo_logits = nn.Parameter(torch.zeros(c.pseudo_inputs, c.n_pixels))

    def init_output_bias(self, pixel_means: torch.Tensor) -> None:
        """Start the decoder at the data's pixel marginals, so early training learns structure, not the mean."""
        p = pixel_means.clamp(1e-3, 1 - 1e-3)
        output = self.decoder.context_to_pixels if self.autoregressive else self.decoder[-1]
        with torch.no_grad():
            output.bias.copy_(torch.log(p) - torch.log1p(-p))

    def init_pseudo_inputs(self, images: torch.Tensor) -> None:
        """Start the pseudo-images at P training images, softened so the sigmoid's gradient is alive."""
        picks = images[torch.randperm(len(images))[: self.config.pseudo_inputs]].clamp(0.05, 0.95)
        with torch.no_grad():
            self.pseudo_logits.copy_(torch.log(picks) - torch.log1p(-picks))

    def prior_components(self) -> tuple[torch.Tensor, torch.Tensor] | None:
        """The VampPrior's component means and log-stds (P, latent) each; None for N(0, I).

        Encoding the P pseudo-images costs as much as scoring hundreds of samples, and a tab asks for
        them several times per click: outside training they are kept until a parameter changes (any
        in-place update, an optimizer step or a loaded state, bumps the tensors' version counters).
        """
        if self.config.prior != "vamp":
            return None
        if self.training or torch.is_grad_enabled():
            return self.encode(torch.sigmoid(self.pseudo_logits))
        versions = tuple(p._version for p in self.parameters())
        if getattr(self, "_prior_cache", (None,))[0] != versions:
            self._prior_cache = (versions, self.encode(torch.sigmoid(self.pseudo_logits)))
        return self._prior_cache[1]

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, D) images → mean and log standard deviation of q(z|x), each (B, latent)."""
        mean, log_std = self.encoder(x).chunk(2, dim=-1)
        return mean, log_std

    def decode_logits(self, z: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """(..., latent) codes of images x (B, D) → Bernoulli logits of p(x|z), (..., D).
        An autoregressive decoder's logit d reads x_<d; a factorized one ignores x."""
        return self.decoder(z, x) if self.autoregressive else self.decoder(z)

    def log_weights(self, x: torch.Tensor, k: int, posterior: tuple[torch.Tensor, torch.Tensor] | None = None,
                    prior: tuple[torch.Tensor, torch.Tensor] | None = None) -> torch.Tensor:
        """(K, B) log importance weights log p(x|z_k) + log p(z_k) − log q(z_k|x), z_k reparameterised.

        ``posterior`` and ``prior`` (from :meth:`prior_components`) let chunked callers encode x and
        the pseudo-images once and draw many chunks of samples.
        """
        mean, log_std = self.encode(x) if posterior is None else posterior
        eps = torch.randn((k, *mean.shape), dtype=mean.dtype, device=mean.device)
        z = mean + eps * log_std.exp()
        logits = self.decode_logits(z, x)
        log_px_given_z = -F.binary_cross_entropy_with_logits(logits, x.expand_as(logits), reduction="none").sum(-1)
        # Gaussian log densities without their 0.5·log 2π per dimension: it cancels between p(z) and q(z|x).
        if self.config.prior == "vamp":
            log_prior = mixture_log_density(z, *(self.prior_components() if prior is None else prior))
        else:
            log_prior = -0.5 * z.pow(2).sum(-1)
        log_q = -0.5 * eps.pow(2).sum(-1) - log_std.sum(-1)  # (z − μ)/σ = ε exactly
        return log_px_given_z + log_prior - log_q

    def sample_prior(self, n: int) -> torch.Tensor:
        """n codes (n, latent) from p(z): N(0, I), or a random VampPrior component's posterior."""
        device = next(self.parameters()).device
        eps = torch.randn((n, self.config.latent), device=device)
        if self.config.prior == "standard":
            return eps
        means, log_stds = self.prior_components()
        pick = torch.randint(len(means), (n,), device=device)
        return means[pick] + eps * log_stds[pick].exp()

    @torch.no_grad()
    def sample(self, n: int) -> torch.Tensor:
        """n images (n, D) in [0, 1] from z ~ p(z): Bernoulli means, or for an autoregressive
        decoder each pixel's probability given the pixels sampled before it."""
        z = self.sample_prior(n)
        return self.decoder.generate(z) if self.autoregressive else torch.sigmoid(self.decoder(z))

    @torch.no_grad()
    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        """(B, D) images in [0, 1] decoded from the posterior mean of each image (autoregressive:
        pixel by pixel, each set to its likelier value)."""
        mean, _ = self.encode(x)
        return self.decoder.generate(mean, greedy=True) if self.autoregressive else torch.sigmoid(self.decoder(mean))


class VAEMixture(nn.Module):
    """p(x) = 1/M Σ_m p_m(x) over M VAEs of the same image size: a latent-variable model whose latent
    is the component m (uniform) and that component's z."""

    def __init__(self, components: list[VAE]):
        super().__init__()
        if len(components) < 2:
            raise ValueError(f"a mixture needs at least 2 component VAEs, got {len(components)}")
        if len({c.config.n_pixels for c in components}) > 1:
            raise ValueError("the mixture's components must model images of the same size")
        self.components = nn.ModuleList(components)
        self.config = components[0].config  # the image size, for shape checks

    @torch.no_grad()
    def sample(self, n: int) -> torch.Tensor:
        """n images (n, D): each from a uniformly chosen component."""
        counts = torch.bincount(torch.randint(len(self.components), (n,)), minlength=len(self.components)).tolist()
        images = torch.cat([c.sample(count) for c, count in zip(self.components, counts) if count])
        return images[torch.randperm(n)]

    @torch.no_grad()
    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        """(B, D) reconstructions, each by the component under which its image is most probable."""
        log_px = torch.stack([estimate_log_likelihood(c, x, RESPONSIBILITY_K)[0] for c in self.components])
        best = log_px.argmax(0)
        out = torch.empty_like(x)
        for m, component in enumerate(self.components):
            chosen = best == m
            if chosen.any():
                out[chosen] = component.reconstruct(x[chosen])
        return out


# ---------------------------------------------------------------------------------------------
# Scoring: pure functions of log weights, and the chunked estimator built on them


def iwae_bound(log_w: torch.Tensor) -> torch.Tensor:
    """(K, B) log weights → (B,) log of their mean, in log space (the IWAE bound for these K)."""
    return torch.logsumexp(log_w, dim=0) - math.log(log_w.shape[0])


def mixture_log_density(z: torch.Tensor, means: torch.Tensor, log_stds: torch.Tensor) -> torch.Tensor:
    """log (1/P Σ_p N(z; μ_p, σ_p²)) without the 0.5·log 2π per dimension, for z (..., L), μ, log σ (P, L) → (...).

    The squared distances are expanded into matrix products, so K·B samples against P components
    never materialise a (K, B, P, L) tensor.
    """
    inv_var = torch.exp(-2.0 * log_stds)  # (P, L)
    flat = z.reshape(-1, z.shape[-1])
    squared = flat.pow(2) @ inv_var.T - 2.0 * flat @ (means * inv_var).T + (means.pow(2) * inv_var).sum(-1)
    log_components = -0.5 * squared - log_stds.sum(-1)  # (K·B, P)
    log_density = torch.logsumexp(log_components, dim=-1) - math.log(len(means))
    return log_density.reshape(z.shape[:-1])


def nats_to_bits_per_dim(nats: float | torch.Tensor, n_dims: int = N_PIXELS):
    return nats / (n_dims * math.log(2.0))


def samples_per_chunk(batch: int, max_rows: int) -> int:
    """How many samples per image fit a chunk of at most ``max_rows`` decoder rows (at least one)."""
    return max(1, max_rows // max(1, batch))


@torch.no_grad()
def estimate_log_likelihood(
    model: VAE | VAEMixture, x: torch.Tensor, k: int, max_rows: int = 8192
) -> tuple[torch.Tensor, torch.Tensor]:
    """Importance-sampled log p(x) and the ELBO for each image of x (B, D), both (B,) in nats.

    The K samples are drawn in chunks of at most ``max_rows`` decoder rows so K = 5000 fits in
    memory; chunks are merged with a running logsumexp, so the result is the same estimator as
    one big batch. The ELBO is the mean log weight over the same K samples.

    A mixture splits K evenly (rounded up) over its components: the mean of their unbiased
    estimates of p_m(x) is unbiased for 1/M Σ_m p_m(x), so its log is still a stochastic lower
    bound; the ELBO, with the proposal 1/M q_m(z|x), is the components' mean ELBO.
    """
    if k < 1:
        raise ValueError(f"the number of importance samples K must be ≥ 1, got {k}")
    if x.dim() != 2 or x.shape[1] != model.config.n_pixels:
        raise ValueError(f"expected images of shape (B, {model.config.n_pixels}), got {tuple(x.shape)}")
    if isinstance(model, VAEMixture):
        share = -(-k // len(model.components))
        parts = [estimate_log_likelihood(c, x, share, max_rows) for c in model.components]
        log_px = torch.logsumexp(torch.stack([lp for lp, _ in parts]), dim=0) - math.log(len(parts))
        return log_px, torch.stack([elbo for _, elbo in parts]).mean(0)
    posterior, prior = model.encode(x), model.prior_components()
    chunk = samples_per_chunk(x.shape[0], max_rows)
    running_lse = torch.full((x.shape[0],), -math.inf, dtype=x.dtype, device=x.device)
    sum_log_w = torch.zeros_like(running_lse)
    for start in range(0, k, chunk):
        log_w = model.log_weights(x, min(chunk, k - start), posterior, prior)
        running_lse = torch.logaddexp(running_lse, torch.logsumexp(log_w, dim=0))
        sum_log_w += log_w.sum(0)
    return running_lse - math.log(k), sum_log_w / k


@torch.no_grad()
def score_images(model: VAE | VAEMixture, images: torch.Tensor, k: int, batch_size: int = 100, progress: bool = False):
    """Per-image (log p̂(x), ELBO) over a whole data set, ``batch_size`` images at a time."""
    device = next(model.parameters()).device
    log_px, elbo = [], []
    for start in tqdm(range(0, len(images), batch_size), desc=f"log p(x), K={k}", disable=not progress, unit="batch"):
        batch = images[start : start + batch_size].to(device, torch.float32)
        lp, eb = estimate_log_likelihood(model, batch, k)
        log_px.append(lp.cpu())
        elbo.append(eb.cpu())
    return torch.cat(log_px), torch.cat(elbo)


# ---------------------------------------------------------------------------------------------
# Save / load: config.json + model.safetensors, the layout core.checkpoints recognises; a mixture
# is a config.json naming one such sub-directory per component


def save_pretrained(model: VAE, directory: str | Path, extra: dict | None = None, half: bool = False) -> Path:
    """Write config.json (the config, plus ``extra`` facts such as training metrics) and weights
    (float16 when ``half``, to fit the bundle's file-size limit; :func:`load` reads either)."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    config = {"model_type": "vae", **asdict(model.config), **(extra or {})}
    (directory / CONFIG_FILE).write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    dtype = torch.float16 if half else torch.float32
    state = {name: t.detach().to("cpu", dtype).contiguous() for name, t in model.state_dict().items()}
    save_file(state, str(directory / WEIGHTS_FILE))
    return directory


def save_mixture(component_dirs: list[str | Path], directory: str | Path) -> Path:
    """Copy saved VAEs into ``directory/component_<m>/`` and write the mixture's config.json."""
    directory = Path(directory)
    names = []
    for m, source in enumerate(component_dirs):
        if not isinstance(load(source), VAE):  # loads it: refuses a broken directory before anything is written
            raise ValueError(f"{source} is a mixture already; name its component directories instead")
        name = f"component_{m}"
        (directory / name).mkdir(parents=True, exist_ok=True)
        for file in (CONFIG_FILE, WEIGHTS_FILE):
            (directory / name / file).write_bytes((Path(source) / file).read_bytes())
        names.append(name)
    config = {"model_type": MIXTURE_TYPE, "components": names, "sources": [str(s) for s in component_dirs]}
    (directory / CONFIG_FILE).write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    VAEMixture([load(directory / name) for name in names])  # the components must fit together
    return directory


def load(directory: str | Path, device: torch.device | str = "cpu") -> VAE | VAEMixture:
    """Read a directory written by :func:`save_pretrained` (or :func:`save_mixture`); shapes and key names must match exactly."""
    directory = Path(directory)
    raw = json.loads((directory / CONFIG_FILE).read_text(encoding="utf-8"))
    if raw.get("model_type") == MIXTURE_TYPE:
        return VAEMixture([load(directory / name, device) for name in raw["components"]]).to(device).eval()
    fields = VAEConfig.__dataclass_fields__
    model = VAE(VAEConfig(**{key: raw[key] for key in fields if key in raw}))
    state = load_file(str(directory / WEIGHTS_FILE))
    expected = model.state_dict()
    missing, unexpected = expected.keys() - state.keys(), state.keys() - expected.keys()
    if missing or unexpected:
        raise ValueError(f"{directory / WEIGHTS_FILE} does not match the config: missing {sorted(missing)}, unexpected {sorted(unexpected)}")
    for name, tensor in state.items():
        if tensor.shape != expected[name].shape:
            raise ValueError(f"{name}: shape {tuple(tensor.shape)} in the file, {tuple(expected[name].shape)} in the model")
    model.load_state_dict({name: t.float() for name, t in state.items()})
    return model.to(device).eval()

