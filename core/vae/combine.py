"""Combine VAEs saved by ``core.vae.train`` into one mixture, p(x) = 1/M Σ_m p_m(x).

    python -m core.vae.combine runs/vae/ar_vamp_iw20 runs/vae/s1_iw20 --out runs/vae/mixture

The output directory holds one sub-directory per component and a config.json naming them; it
loads, scores and samples like a single VAE (``core.vae.model.load``), so ``core.vae.evaluate
--checkpoint`` measures the mixture.
"""

from __future__ import annotations

import argparse

from core.vae.model import save_mixture


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("components", nargs="+", help="directories of single VAEs (config.json + model.safetensors)")
    p.add_argument("--out", required=True, help="directory for the mixture")
    args = p.parse_args(argv)
    print(save_mixture(args.components, args.out))


if __name__ == "__main__":
    main()
