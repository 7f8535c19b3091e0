"""Mean negative log-likelihood of binary images under the VAE, by importance sampling.

    python -m core.vae.evaluate --data ../shared/data/binarized_mnist/binarized_mnist_valid.mat --k 5000

The last line of stdout is one JSON object: nll_nats (mean −log p̂(x), K importance samples),
elbo_nats (mean −ELBO over the same samples), their bits/dim, k, n. ``--histogram-out`` also writes
every image's log p̂(x), which the tab uses to place a drawing among the validation digits.
``--record`` stores the bundled model's result in its metrics file (validation images only), keyed by K
and the image count.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from core import checkpoints, metrics
from core.vae.data import VALID_FILE, load_images
from core.vae.density import HISTOGRAM_FILE
from core.vae.model import load, nats_to_bits_per_dim, score_images


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default=VALID_FILE, help="images to score (.mat with key 'X')")
    p.add_argument("--k", type=int, default=5000, help="importance samples per image")
    p.add_argument("--limit", type=int, default=None, help="score only the first N images")
    p.add_argument("--checkpoint", default=None, help="model directory (default: the bundled assets/vae)")
    p.add_argument("--batch-size", type=int, default=20, help="images per batch (samples are chunked inside)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    p.add_argument("--histogram-out", default=None, help=f"write every image's log p(x) here as JSON (e.g. assets/vae/{HISTOGRAM_FILE})")
    metrics.add_record_option(p)
    args = p.parse_args(argv)
    metrics.check_recordable(args, "vae")
    if args.record and Path(args.data).resolve() != Path(VALID_FILE).resolve():
        raise SystemExit(f"--record takes the validation images {VALID_FILE} (drop --data)")
    return args


def main(argv=None) -> dict:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    directory = checkpoints.locate("vae", args.checkpoint)
    model = load(directory, checkpoints.device())
    images = load_images(args.data, args.limit)
    log_px, elbo = score_images(model, images, args.k, args.batch_size, progress=True)
    nll, neg_elbo = -log_px.mean().item(), -elbo.mean().item()
    result = {
        "nll_nats": round(nll, 3),
        "elbo_nats": round(neg_elbo, 3),
        "nll_bits_per_dim": round(nats_to_bits_per_dim(nll), 5),
        "k": args.k,
        "n": len(images),
        "data": Path(args.data).name,
    }
    if args.histogram_out:
        values = sorted(round(v, 2) for v in log_px.tolist())
        record = {"data": Path(args.data).name, "k": args.k, "n": len(values), "seed": args.seed, "log_likelihoods": values}
        Path(args.histogram_out).write_text(json.dumps(record) + "\n", encoding="utf-8")
    if args.record:
        metrics.record(
            "vae", f"valid_nll_k{args.k}_n{len(images)}",
            label=f"validation NLL, K = {args.k:,} importance samples, {metrics.counted(len(images), args.limit, 'images')}",
            value=f"{nll:.2f} nats ({nats_to_bits_per_dim(nll):.4f} bits/dim; −ELBO {neg_elbo:.2f})",
            raw=result, command=metrics.command_line("core.vae.evaluate", argv),
            anchor="static binarization: VAE 88.71, IWAE k=50 87.10 (Burda et al. 2015); VampPrior 85.57 (Tomczak & Welling 2018)")
    print(json.dumps(result), flush=True)
    return result


if __name__ == "__main__":
    main()
