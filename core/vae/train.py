"""Train the VAE on the binarized MNIST train split; early-stop on the validation split.

    python -m core.vae.train --k 5 --out assets/vae

``--k 1`` trains the usual VAE (ELBO); ``--k > 1`` the IWAE objective (Burda et al. 2015),
which Su's post derives as direct maximum likelihood with the encoder as proposal. Every epoch
writes a resumable state (``--state``); ``--resume`` continues from it after an interruption.
The best model by validation log-likelihood is written to ``--out`` as config.json +
model.safetensors, which ``core.vae.model.load`` reads.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from dataclasses import asdict
from pathlib import Path

import torch
from tqdm import tqdm

from core import checkpoints
from core.vae.data import TRAIN_FILE, VALID_FILE, load_images
from core.vae.model import DECODERS, PRIORS, VAE, VAEConfig, iwae_bound, load, save, score_images


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--train", default=TRAIN_FILE, help="training images (.mat with key 'X')")
    p.add_argument("--valid", default=VALID_FILE, help="validation images for early stopping")
    p.add_argument("--out", default="runs/vae/model", help="directory for the best model")
    p.add_argument("--state", default="runs/vae/train_state.pt", help="resumable training state")
    p.add_argument("--resume", action="store_true", help="continue from --state")
    p.add_argument("--init", default=None, help="start from this model directory (e.g. an ELBO model to fine-tune with --k 5); "
                   "its architecture replaces the size, decoder and prior options")
    p.add_argument("--k", type=int, default=5, help="importance samples in the objective (1 = ELBO, >1 = IWAE)")
    p.add_argument("--hidden", type=int, default=VAEConfig.hidden)
    p.add_argument("--layers", type=int, default=VAEConfig.n_hidden_layers)
    p.add_argument("--latent", type=int, default=VAEConfig.latent)
    p.add_argument("--activation", default=VAEConfig.activation)
    p.add_argument("--decoder", default=VAEConfig.decoder, choices=DECODERS,
                   help="independent pixels given z, or a MADE over the pixels given z")
    p.add_argument("--prior", default=VAEConfig.prior, choices=PRIORS,
                   help="N(0, I), or the VampPrior: a mixture of the posteriors of learned pseudo-images")
    p.add_argument("--pseudo-inputs", type=int, default=VAEConfig.pseudo_inputs, help="VampPrior components")
    p.add_argument("--dropout", type=float, default=VAEConfig.dropout, help="dropout on the decoder's hidden units")
    p.add_argument("--save-fp16", action="store_true", help="write float16 weights (bundle file-size limit)")
    p.add_argument("--batch-size", type=int, default=100)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--final-lr", type=float, default=1e-4, help="learning rate reached, exponentially, at --epochs")
    p.add_argument("--epochs", type=int, default=200)
    p.add_argument("--patience", type=int, default=10, help="stop after this many epochs without a better valid score")
    p.add_argument("--valid-k", type=int, default=100, help="importance samples for the per-epoch valid score")
    p.add_argument("--valid-limit", type=int, default=2000, help="valid images scored per epoch (first N)")
    p.add_argument("--max-minutes", type=float, default=None, help="stop (keeping the best model) after this wall time")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    p.add_argument("--seed", type=int, default=0)
    return p.parse_args(argv)


def learning_rate(epoch: int, args: argparse.Namespace) -> float:
    """Exponential decay from --lr to --final-lr over --epochs; a function of the epoch alone, so
    a resumed run may change --epochs (its budget) and still end at --final-lr."""
    return args.lr * (args.final_lr / args.lr) ** (min(epoch, args.epochs) / max(1, args.epochs))


def main(argv=None) -> None:
    args = parse_args(argv)
    if args.k < 1:
        raise SystemExit("--k must be ≥ 1")
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    device = checkpoints.device()
    train = load_images(args.train).float().to(device)
    valid = load_images(args.valid, args.valid_limit).float()

    if args.init:
        model = load(args.init, device)
        if not isinstance(model, VAE):
            raise SystemExit(f"--init {args.init} is a mixture of VAEs; fine-tune one of its component directories")
        config = model.config
    else:
        config = VAEConfig(hidden=args.hidden, n_hidden_layers=args.layers, latent=args.latent, activation=args.activation,
                           decoder=args.decoder, dropout=args.dropout, prior=args.prior, pseudo_inputs=args.pseudo_inputs)
        model = VAE(config).to(device)
        model.init_output_bias(train.mean(0))
        if config.prior == "vamp":
            model.init_pseudo_inputs(train)
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
    progress = {"epoch": 0, "best_valid_nll": math.inf, "best_epoch": 0, "seconds": 0.0, "history": []}

    state_path = Path(args.state)
    if args.resume and state_path.is_file():
        state = torch.load(state_path, map_location=device, weights_only=False)
        if state["config"] != asdict(config) or state["k"] != args.k:
            raise SystemExit(f"{state_path} was trained with {state['config']}, k={state['k']}; pass the same options")
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        torch.set_rng_state(state["rng"])
        progress = state["progress"]
        print(f"resumed from {state_path} at epoch {progress['epoch']}", flush=True)

    start_time = time.time() - progress["seconds"]
    epochs = tqdm(range(progress["epoch"], args.epochs), desc=f"train k={args.k}", unit="epoch", initial=progress["epoch"], total=args.epochs)
    for epoch in epochs:
        model.train()
        for group in optimizer.param_groups:
            group["lr"] = learning_rate(epoch, args)
        order = torch.randperm(len(train), device=device)
        total = 0.0
        for start in range(0, len(train), args.batch_size):
            x = train[order[start : start + args.batch_size]]
            loss = -iwae_bound(model.log_weights(x, args.k)).mean()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total += loss.item() * len(x)

        model.eval()
        log_px, _ = score_images(model, valid, args.valid_k, batch_size=500)
        valid_nll = -log_px.mean().item()
        progress["epoch"] = epoch + 1
        progress["seconds"] = time.time() - start_time
        row = {"epoch": epoch + 1, "train_loss": total / len(train), "valid_nll": valid_nll, "lr": learning_rate(epoch, args), "minutes": progress["seconds"] / 60}
        progress["history"].append(row)
        if valid_nll < progress["best_valid_nll"]:
            progress.update(best_valid_nll=valid_nll, best_epoch=epoch + 1)
            save(model, args.out, {"training": {"command_args": vars(args), **row, "valid_k": args.valid_k, "valid_images": len(valid)}},
                 half=args.save_fp16)
        print(json.dumps(row), flush=True)
        epochs.set_postfix(valid_nll=f"{valid_nll:.2f}", best=f"{progress['best_valid_nll']:.2f}")

        state_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = state_path.with_suffix(".tmp")
        torch.save({"config": asdict(config), "k": args.k, "model": model.state_dict(), "optimizer": optimizer.state_dict(),
                    "rng": torch.get_rng_state(), "progress": progress}, tmp)
        tmp.replace(state_path)  # atomic: an interruption never leaves a half-written state

        if epoch + 1 - progress["best_epoch"] >= args.patience:
            print(f"early stop: no better valid NLL for {args.patience} epochs", flush=True)
            break
        if args.max_minutes is not None and progress["seconds"] > 60 * args.max_minutes:
            print(f"time budget of {args.max_minutes} min reached", flush=True)
            break
    print(json.dumps({"best_valid_nll": progress["best_valid_nll"], "best_epoch": progress["best_epoch"], "out": args.out}), flush=True)


if __name__ == "__main__":
    main()
