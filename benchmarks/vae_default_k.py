"""How much the VAE tab's answer moves with K: the basis of its default K.

    python benchmarks/vae_default_k.py [--ks 100 300 1000 5000] [--repeats 20] [--threads 1]

For every example picture of the tab, ``--repeats`` independent K-sample estimates of log p(x) at each
K: their mean and spread (nats) and the percentile among the validation digits that the tab shows.
One JSON line per picture, then one summary line: the largest change of the mean and of the
percentile between each K and the largest K, over the pictures that look like digits.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core import checkpoints  # noqa: E402
from core.vae import density  # noqa: E402
from core.vae.preprocess import read_picture, to_mnist  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--ks", type=int, nargs="+", default=[100, 300, 1000, 5000])
    p.add_argument("--repeats", type=int, default=20)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    model, reference = density.load_with_reference(checkpoints.locate("vae", None))
    largest = max(args.ks)
    change = {k: {"nats": 0.0, "percentile_points": 0.0} for k in args.ks if k != largest}
    for picture in sorted((checkpoints.spec("vae").asset_dir / "examples").glob("*.png")):
        digit = to_mnist(read_picture(picture))
        estimates = {k: density.estimate(model, digit, k, args.repeats) for k in args.ks}
        rows = {k: {"mean_nats": round(e.mean_nats, 2), "std_nats": round(e.std_nats, 2),
                    "percentile": round(reference.percentile(e.mean_nats), 1)} for k, e in estimates.items()}
        print(json.dumps({"picture": picture.name, "estimates": rows}))
        if density.is_out_of_distribution(rows[largest]["percentile"]):
            continue  # far below every digit: its percentile is 0 at any K, its bound still climbs
        for k in change:
            change[k]["nats"] = max(change[k]["nats"], abs(rows[k]["mean_nats"] - rows[largest]["mean_nats"]))
            change[k]["percentile_points"] = max(change[k]["percentile_points"],
                                                 abs(rows[k]["percentile"] - rows[largest]["percentile"]))
    rounded = {k: {name: round(value, 2) for name, value in c.items()} for k, c in change.items()}
    print(json.dumps({"largest_change_vs_k": largest, "repeats": args.repeats, "by_k": rounded}))


if __name__ == "__main__":
    main()
