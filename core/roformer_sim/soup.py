"""A uniform "model soup" (Wortsman et al. 2022): the mean of the weights of RoFormer-Sim runs
fine-tuned from the same masked LM.

    python -m core.roformer_sim.soup runs/roformer_sim_v5/final runs/roformer_sim_v7/final --out assets/roformer_sim

Runs that start from one pre-trained point stay in one basin of the loss, so the average of their
weights is a working model, and it tends to generalise better than each run (their over-fitting to
the train/valid splits differs, the shared signal stays). Writes the bundled layout (config.json,
model.safetensors, vocab.txt) plus soup.json: the sources and the soup's dev Spearman on the pairs
held out of the train/valid splits (never the test splits). The last stdout line is that JSON.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from core.roformer_sim import data
from core.roformer_sim.model import RoFormerSim, Sim, load, save_pretrained

RECORD_FILE = "soup.json"


def soup(sims: list[Sim]) -> Sim:
    """The model whose every weight is the mean of the runs' weights; same architecture and vocabulary required."""
    if len(sims) < 2:
        raise ValueError(f"a soup needs at least 2 runs, got {len(sims)}")
    config = sims[0].model.config.to_dict()
    vocab = sims[0].tokenizer.get_vocab()
    for i, other in enumerate(sims[1:], start=1):
        if other.model.config.to_dict() != config:
            raise ValueError(f"run {i} has a different architecture from run 0; only runs of one model can be averaged")
        if other.tokenizer.get_vocab() != vocab:
            raise ValueError(f"run {i} has a different vocabulary from run 0")
    states = [s.model.state_dict() for s in sims]
    mean = {name: torch.stack([s[name].float() for s in states]).mean(0).to(t.dtype) for name, t in states[0].items()}
    model = RoFormerSim(sims[0].model.config)
    model.load_state_dict(mean)
    return Sim(model.eval(), sims[0].tokenizer)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="+", help="RoFormer-Sim checkpoint directories fine-tuned from the same masked LM")
    parser.add_argument("--out", required=True, help="checkpoint directory to write")
    parser.add_argument("--sts-dir", default=str(data.STS_DIR), help="Su's chinese_sts folder (for the dev score)")
    parser.add_argument("--extra-dir", help="chinese_sts_extra folder: score the dev pairs of the extra sources too "
                        "(as a run trained with --extra-pairs does)")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    soup_sim = soup([load(run) for run in args.runs])
    save_pretrained(soup_sim, args.out)
    _, dev = data.split_dev(data.labelled_pairs(Path(args.sts_dir), args.extra_dir and Path(args.extra_dir)))
    record = {"sources": [str(run) for run in args.runs], "dev_spearman": data.dev_spearman(soup_sim, dev)}
    (Path(args.out) / RECORD_FILE).write_text(json.dumps(record, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(json.dumps(record, ensure_ascii=False), flush=True)
    return record


if __name__ == "__main__":
    main()
