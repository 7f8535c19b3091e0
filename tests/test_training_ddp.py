"""Every trainer under `torchrun --nproc_per_node 2` (gloo on the CPU) on a tiny config: the two
replicas end with identical weights, the checkpoint loads with the model's own loader, a rerun
with a longer budget resumes, and a state from a different run is refused with a clear message.

Each model contributes a ``DDPCase``: a function writing its tiny training data into a folder and
returning the trainer's arguments (a short run, then the same run with a larger budget).
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pytest

REPO = Path(__file__).resolve().parent.parent


@dataclass
class DDPCase:
    module: str  # core.<model>.train
    make_args: Callable[[Path], tuple[list[str], list[str], list[str]]]  # (first run, longer run, other run)
    log_file: Callable[[Path], Path]  # where the run's JSON lines go
    out_dir: Callable[[Path], Path]  # where the checkpoint is written
    loader: Callable[[Path], object]  # the model's load(path, device)


def math_args(tmp: Path):
    rng = random.Random(0)
    items = []
    for i in range(48):
        a, b = rng.randint(2, 99), rng.randint(2, 99)
        items.append({"id": str(i), "original_text": f"小明有{a}个苹果，又买了{b}个，第{i}次数一数，现在有多少个？",
                      "equation": f"x={a}+{b}", "ans": str(a + b)})
    train = tmp / "train.ape.json"
    train.write_text("\n".join(json.dumps(item, ensure_ascii=False) for item in items), encoding="utf-8")
    common = ["--train", str(train), "--test", str(tmp / "none.json"), "--dev-size", "8", "--batch-size", "4",
              "--d-model", "32", "--d-ff", "64", "--heads", "2", "--layers", "1", "--decoder-layers", "1",
              "--state-dir", str(tmp / "state"), "--out", str(tmp / "out"), "--threads", "1"]
    return common + ["--epochs", "1"], common + ["--epochs", "2"], common[:-2] + ["--threads", "1", "--lr", "1e-2", "--epochs", "2"]


def load_math(path: Path):
    from core.math_solver.model import load

    return load(path, "cpu")


def xiangqi_args(tmp: Path):
    from core.xiangqi.board import Board

    rng, rows = random.Random(0), []
    for _ in range(40):
        board = Board()
        for _ in range(rng.randint(2, 8)):
            board.push(rng.choice(board.legal_moves))
        rows.append({"moves_iccs": " ".join(board.move_stack), "result": rng.choice(["1-0", "0-1", "1/2-1/2"])})
    games = tmp / "games.jsonl"
    games.write_text("\n".join(json.dumps(row) for row in rows), encoding="utf-8")
    common = ["--games", str(games), "--work-dir", str(tmp / "work"), "--out", str(tmp / "out"), "--layers", "1",
              "--heads", "2", "--embd", "16", "--block-size", "16", "--batch-size", "4", "--threads", "1"]
    return common + ["--max-steps", "3"], common + ["--max-steps", "6"], common + ["--max-steps", "6", "--lr", "1e-2"]


def load_xiangqi(path: Path):
    from core.xiangqi.model import load

    return load(path, "cpu")


SENTENCES = ["我喜欢北京", "我很喜欢北京", "今天天气不错", "今天天气很好", "广州和深圳哪个好", "北京天气很好", "深圳有很多人",
             "他在广州工作", "这家店很好吃", "送得太慢了"]


def tiny_char_masked_lm(directory: Path, chars: str, max_positions: int) -> None:
    """A tiny character RoFormer masked LM in the bundled layout (the start of RoFormer-Sim training)."""
    import torch
    from transformers import RoFormerForMaskedLM

    from core.perturbed_masking import model

    torch.manual_seed(0)
    vocab = model.SPECIAL_TOKENS + sorted(set(chars))
    config = model.roformer_config(len(vocab), hidden=16, embedding=8, layers=1, heads=2, ffn=32, max_positions=max_positions)
    model.save_pretrained(RoFormerForMaskedLM(config), vocab, directory)


def roformer_sim_args(tmp: Path):
    import zipfile

    from core.roformer_sim import data

    tiny_char_masked_lm(tmp / "init", "".join(SENTENCES) + "，。", max_positions=64)
    rng = random.Random(0)
    for name, files in data.TRAIN_FILES.items():
        (tmp / "sts" / name).mkdir(parents=True)
        for file in files:
            rows = [(a, b, rng.randint(0, 1)) for a, b in (rng.sample(SENTENCES, 2) for _ in range(20))]
            rows = [(a, b, 5.0 * y if name == "STS-B" else y) for a, b, y in rows]
            (tmp / "sts" / name / file).write_text("".join(f"{a}\t{b}\t{y}\n" for a, b, y in rows), encoding="utf-8")
    corpus = tmp / "raw" / "chinese_nlp_corpus"
    corpus.mkdir(parents=True)
    for name in ("waimai_10k.csv", "ChnSentiCorp_htl_all.csv"):
        (corpus / name).write_text("label,review\n" + "".join(f"1,{s}，{s}\n" for s in SENTENCES), encoding="utf-8")
    with zipfile.ZipFile(corpus / "dh_msra.zip", "w") as z:
        z.writestr("dh_msra.txt", "\n\n".join("\n".join(f"{ch}\tO" for ch in s) for s in SENTENCES))
    common = ["--init", str(tmp / "init"), "--sts-dir", str(tmp / "sts"), "--data-dir", str(tmp / "raw"), "--work", str(tmp / "work"),
              "--out", str(tmp / "out"), "--stage1-steps", "2", "--pairs-per-batch", "4", "--cosent-pairs", "6",
              "--stage2-gen-pairs", "2", "--dev-pairs", "4", "--warmup", "1", "--log-every", "1", "--threads", "1"]
    return common + ["--stage2-steps", "1"], common + ["--stage2-steps", "3"], common + ["--stage2-steps", "3", "--lr2", "1e-3"]


def load_roformer_sim(path: Path):
    from core.roformer_sim.model import load

    return load(path, "cpu")


def perturbed_masking_args(tmp: Path):
    """The corpus cache the trainer builds from the shared data, written directly: vocabulary and encoded chunks."""
    import numpy as np

    from core.perturbed_masking import data, model

    work = tmp / "work"
    work.mkdir()
    chunks = [a + b for a, b in zip(SENTENCES, SENTENCES[1:] + SENTENCES[:1])] * 4
    vocab = data.build_vocab(chunks, 100)
    index = {token: i for i, token in enumerate(vocab)}
    (work / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    np.savez(work / "corpus.npz", train=data.encode(chunks, index, 16), dev=data.encode(chunks[:6], index, 16))
    common = ["--work", str(work), "--out", str(tmp / "out"), "--hidden", "16", "--embedding", "8", "--layers", "1", "--heads", "2",
              "--ffn", "32", "--seq-chars", "14", "--max-positions", "32", "--batch", "4", "--warmup", "1", "--dev-every", "2",
              "--threads", "1"]
    return common + ["--steps", "3"], common + ["--steps", "5"], common + ["--steps", "5", "--lr", "1e-2"]


def load_perturbed_masking(path: Path):
    from core.perturbed_masking.model import load

    return load(path, "cpu")


def vae_args(tmp: Path):
    import numpy as np
    from scipy.io import savemat

    from core.vae.model import N_PIXELS

    images = tmp / "tiny.mat"
    savemat(images, {"X": (np.random.default_rng(0).random((40, N_PIXELS)) < 0.2).astype(np.uint8)})
    common = ["--train", str(images), "--valid", str(images), "--hidden", "8", "--latent", "2", "--batch-size", "10", "--k", "2",
              "--valid-k", "3", "--work", str(tmp / "work"), "--out", str(tmp / "out"), "--threads", "1"]
    return common + ["--epochs", "1"], common + ["--epochs", "2"], common + ["--epochs", "2", "--lr", "1e-2"]


def load_vae(path: Path):
    from core.vae.model import load

    return load(path, "cpu")


CASES = {
    "math_solver": DDPCase("core.math_solver.train", math_args, lambda t: t / "state" / "log.jsonl", lambda t: t / "out", load_math),
    "xiangqi": DDPCase("core.xiangqi.train", xiangqi_args, lambda t: t / "work" / "log.jsonl", lambda t: t / "out", load_xiangqi),
    "roformer_sim": DDPCase("core.roformer_sim.train", roformer_sim_args, lambda t: t / "work" / "log.jsonl", lambda t: t / "out",
                            load_roformer_sim),
    "perturbed_masking": DDPCase("core.perturbed_masking.train", perturbed_masking_args, lambda t: t / "work" / "log.jsonl",
                                 lambda t: t / "out", load_perturbed_masking),
    "vae": DDPCase("core.vae.train", vae_args, lambda t: t / "work" / "log.jsonl", lambda t: t / "out", load_vae),
}


def torchrun(module: str, args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, OMP_NUM_THREADS="1", DEMO_DEVICE="cpu", PYTHONPATH=str(REPO))
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
               "-m", module, *args]
    # Ranks used to hang now and then at interpreter shutdown (gloo's worker thread waiting for the GIL held by the
    # DDP wrapper's destructor); training.teardown now leaves each rank with os._exit. A second launch stays as a
    # guard against a one-off stall of this shared machine: a deadlock in the trainer hangs again and fails.
    for attempt in (1, 2):
        try:
            return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
        except subprocess.TimeoutExpired:
            if attempt == 2:
                raise


def events(log: Path) -> list[dict]:
    return [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()]


@pytest.mark.parametrize("name", sorted(CASES))
def test_two_process_training_stays_in_step_and_resumes(name, tmp_path):
    case = CASES[name]
    first, longer, other = case.make_args(tmp_path)

    run = torchrun(case.module, first, tmp_path)
    assert run.returncode == 0, run.stderr[-3000:]
    done = [e for e in events(case.log_file(tmp_path)) if e["event"] == "done"][-1]
    assert done["processes"] == 2 and done["replicas_identical"] is True
    case.loader(case.out_dir(tmp_path))  # one checkpoint format, loadable by the tab's loader

    run = torchrun(case.module, longer, tmp_path)
    assert run.returncode == 0, run.stderr[-3000:]
    lines = events(case.log_file(tmp_path))
    resumed = [e for e in lines if e["event"] == "resumed"]
    assert resumed and resumed[-1]["step"] == done["steps"]
    assert lines[-1]["event"] == "done" and lines[-1]["steps"] > done["steps"] and lines[-1]["replicas_identical"]

    run = torchrun(case.module, other, tmp_path)
    assert run.returncode != 0 and "belongs to a different run" in run.stderr
