"""Train the VAE on the binarized MNIST train split; keep the best model by validation log-likelihood.

    python -m core.vae.train --k 5 --out runs/vae/model
    python -m core.vae.train --init runs/vae/model --k 20 --lr 1e-4 --epochs 12   # fine-tune a model (e.g. ELBO -> IWAE)
    python -m core.vae.train --preset gpu                 # a larger VAE with the VampPrior and a MADE decoder, ~8 minutes on one GPU
    torchrun --nproc_per_node 2 -m core.vae.train         # the same run on 2 processes (DDP)

``--k 1`` trains the usual VAE (ELBO); ``--k > 1`` the IWAE objective (Burda et al. 2015),
which Su's post derives as direct maximum likelihood with the encoder as proposal. The learning
rate warms up over ``--warmup`` steps, then decays by a cosine to a tenth of ``--lr`` at the last
epoch (or at the ``--cpu-minutes`` budget, whichever comes first). After every epoch the validation
log-likelihood (``--valid-k`` importance samples) is measured; the best model is written to ``--out``
as config.json + model.safetensors, which ``core.vae.model.load`` reads, and training stops after
``--patience`` epochs without a better one. The run is resumable: the state is saved to ``--work``
after every epoch and on SIGTERM, and the same command continues from it (``--epochs``,
``--patience`` and ``--cpu-minutes`` may change).
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import torch
from tqdm import tqdm

from core import training
from core.vae.data import TRAIN_FILE, VALID_FILE, load_images
from core.vae.model import DECODERS, PRIORS, VAE, VAEConfig, iwae_bound, load, save_pretrained, score_images

# Named settings a run starts from; explicit options override them.
PRESETS = {
    "cpu": {"k": 5, "batch_size": 100, "lr": 1e-3, "epochs": 200, "patience": 10},
    # One modern GPU, about 8 minutes (estimated, not yet measured): the bundle's recipe (MADE decoder, VampPrior)
    # twice as wide, IWAE k = 5 from the start, larger batches.
    "gpu": {"k": 5, "batch_size": 250, "lr": 1e-3, "epochs": 300, "patience": 30, "hidden": 1000, "decoder": "autoregressive",
            "prior": "vamp", "dropout": 0.1, "valid_limit": 10000},
}
RUN_KEYS = ("train", "valid", "init", "k", "hidden", "layers", "latent", "activation", "decoder", "prior", "pseudo_inputs",
            "dropout", "batch_size", "lr", "warmup", "valid_k", "valid_limit", "seed")


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--preset", choices=sorted(PRESETS), default="cpu", help="named settings (options given override them)")
    p.add_argument("--train", default=TRAIN_FILE, help="training images (.mat with key 'X')")
    p.add_argument("--valid", default=VALID_FILE, help="validation images for choosing the best epoch")
    p.add_argument("--out", type=Path, default=Path("runs/vae/model"), help="directory for the best model")
    p.add_argument("--work", type=Path, default=Path("runs/vae/work"), help="resumable state and log.jsonl")
    p.add_argument("--init", default=None, help="start from this model directory (e.g. an ELBO model to fine-tune with --k 5); "
                   "its architecture replaces the size, decoder and prior options")
    p.add_argument("--k", type=int, help="importance samples in the objective (1 = ELBO, >1 = IWAE; default 5)")
    p.add_argument("--hidden", type=int, help=f"default {VAEConfig.hidden}")
    p.add_argument("--layers", type=int, default=VAEConfig.n_hidden_layers)
    p.add_argument("--latent", type=int, default=VAEConfig.latent)
    p.add_argument("--activation", default=VAEConfig.activation)
    p.add_argument("--decoder", choices=DECODERS, help=f"independent pixels given z, or a MADE over the pixels given z (default {VAEConfig.decoder})")
    p.add_argument("--prior", choices=PRIORS, help=f"N(0, I), or the VampPrior: a mixture of the posteriors of learned pseudo-images (default {VAEConfig.prior})")
    p.add_argument("--pseudo-inputs", type=int, default=VAEConfig.pseudo_inputs, help="VampPrior components")
    p.add_argument("--dropout", type=float, help=f"dropout on the decoder's hidden units (default {VAEConfig.dropout})")
    p.add_argument("--save-fp16", action="store_true", help="write float16 weights (bundle file-size limit)")
    p.add_argument("--batch-size", type=int, help="images per step and process (default 100)")
    p.add_argument("--lr", type=float, help="peak learning rate (default 1e-3); the cosine ends at a tenth of it")
    p.add_argument("--warmup", type=int, default=0, help="warm-up steps")
    p.add_argument("--epochs", type=int, help="default 200")
    p.add_argument("--patience", type=int, help="stop after this many epochs without a better valid score (default 10)")
    p.add_argument("--valid-k", type=int, default=100, help="importance samples for the per-epoch valid score")
    p.add_argument("--valid-limit", type=int, help="valid images scored per epoch (first N; default 2000)")
    p.add_argument("--cpu-minutes", type=float, default=None,
                   help="compute budget: stop (keeping the best model) after this much process CPU time (wall time on a GPU)")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    defaults = {"hidden": VAEConfig.hidden, "decoder": VAEConfig.decoder, "prior": VAEConfig.prior, "dropout": VAEConfig.dropout,
                "valid_limit": 2000}
    training.apply_preset(args, defaults, PRESETS[args.preset])
    if args.k < 1:
        p.error("--k must be ≥ 1")
    return args


def iwae_loss(model: VAE, x: torch.Tensor, k: int) -> torch.Tensor:
    """Minus the mean K-sample bound (K = 1: the ELBO)."""
    return -iwae_bound(model.log_weights(x, k)).mean()


def initial_model(args, train: torch.Tensor, device: torch.device) -> VAE:
    if args.init:
        model = load(args.init, device)
        if not isinstance(model, VAE):
            raise SystemExit(f"--init {args.init} is a mixture of VAEs; fine-tune one of its component directories")
        return model
    config = VAEConfig(hidden=args.hidden, n_hidden_layers=args.layers, latent=args.latent, activation=args.activation,
                       decoder=args.decoder, dropout=args.dropout, prior=args.prior, pseudo_inputs=args.pseudo_inputs)
    model = VAE(config).to(device)
    model.init_output_bias(train.mean(0))
    if config.prior == "vamp":
        model.init_pseudo_inputs(train)
    return model


def run_config(args) -> dict:
    return {key: value for key, value in vars(args).items() if key in RUN_KEYS}


def main(argv=None) -> dict | None:
    args = parse_args(argv)
    runtime = training.setup(args.seed, args.threads)
    log_file = args.work / "log.jsonl"
    train = load_images(args.train).float().to(runtime.device)
    valid = load_images(args.valid, args.valid_limit).float()
    training.log_line(runtime, log_file, event="data", train=len(train), valid=len(valid))

    net = initial_model(args, train, runtime.device).train()
    model = training.wrap(training.Objective(net, iwae_loss), runtime)
    optimizer = torch.optim.Adam(net.parameters(), lr=args.lr)
    state = training.RunState(args.work / "state.pt", run_config(args), may_change=("epochs", "patience", "cpu_minutes"))
    progress = state.resume(net, optimizer, runtime) or {"step": 0, "cpu_minutes": 0.0, "best_valid_nll": math.inf, "best_epoch": 0, "history": []}
    step, cpu_before = progress["step"], progress["cpu_minutes"]
    if step:
        training.log_line(runtime, log_file, event="resumed", step=step, epoch=len(progress["history"]))

    def epoch_batches(epoch: int) -> list[torch.Tensor]:
        order = torch.randperm(len(train), generator=torch.Generator().manual_seed(args.seed * 1000 + epoch))  # the same on every rank
        return training.shard(list(order.to(runtime.device).split(args.batch_size)), runtime)

    steps_per_epoch = len(epoch_batches(0))
    total = args.epochs * steps_per_epoch

    def schedule_progress() -> float:
        return training.budget_or_step_progress(training.budget_minutes(runtime, cpu_before), args.cpu_minutes, step, args.warmup, total)

    def save() -> None:
        progress.update(step=step, cpu_minutes=training.budget_minutes(runtime, cpu_before))
        state.save(net, optimizer, progress, runtime)

    def finished() -> bool:
        """On every rank: whether patience or the CPU budget ran out (rank 0 keeps the history; a finished
        run that is rerun stays finished)."""
        spent = bool(args.cpu_minutes) and training.budget_minutes(runtime, cpu_before) >= args.cpu_minutes
        out_of_patience = len(progress["history"]) - progress["best_epoch"] >= args.patience
        return runtime.any_true(runtime.is_main and (spent or out_of_patience))

    def end_of_epoch(epoch: int, train_loss: float, lr: float) -> None:
        """Valid score, best model and log line, on rank 0."""
        if runtime.is_main:
            net.eval()
            log_px, _ = score_images(net, valid, args.valid_k, batch_size=500)
            net.train()
            row = {"epoch": epoch, "train_loss": round(train_loss, 4), "valid_nll": round(-log_px.mean().item(), 4), "lr": round(lr, 7),
                   "cpu_minutes": round(training.budget_minutes(runtime, cpu_before), 2)}
            progress["history"].append(row)
            if row["valid_nll"] < progress["best_valid_nll"]:
                progress.update(best_valid_nll=row["valid_nll"], best_epoch=epoch)
                facts = {"training": {"run": run_config(args), **row, "valid_k": args.valid_k, "valid_images": len(valid)}}
                save_pretrained(net, args.out, facts, half=args.save_fp16)
            training.log_line(runtime, log_file, event="dev", step=step, best_valid_nll=progress["best_valid_nll"], **row)

    bar = tqdm(total=total, initial=step, desc=f"train k={args.k}", mininterval=10, disable=not runtime.is_main)
    stop = finished()
    while step < total and not stop:
        epoch, offset = divmod(step, steps_per_epoch)
        losses = []
        for batch in epoch_batches(epoch)[offset:]:
            lr = training.warmup_cosine(step, args.lr, args.warmup, schedule_progress())
            training.set_lr(optimizer, lr)
            with runtime.autocast():
                loss = model(train[batch], args.k)
            training.optimizer_step(model, optimizer, loss, clip=None)
            losses.append(loss.item())
            step += 1
            bar.update(1)
            if state.stop_if_asked(save, runtime, log_file, step):
                return None
        end_of_epoch(epoch + 1, sum(losses) / len(losses), lr)
        save()
        stop = finished()
    bar.close()

    identical = training.replicas_identical(net, runtime)
    summary = {"out": str(args.out), "best_valid_nll": progress["best_valid_nll"], "best_epoch": progress["best_epoch"], "steps": step,
               "epochs": len(progress["history"]), "processes": runtime.world_size, "replicas_identical": identical,
               "command": "python -m core.vae.train " + " ".join(sys.argv[1:] if argv is None else argv)}
    training.log_line(runtime, log_file, event="done", **summary)
    runtime.barrier()
    training.teardown(runtime)
    return summary


if __name__ == "__main__":
    main()
