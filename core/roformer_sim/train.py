"""Train the bundled RoFormer-Sim: a small char RoFormer that generates and scores similar sentences.

    python -m core.roformer_sim.train --init assets/perturbed_masking --out runs/roformer_sim/final
    python -m core.roformer_sim.train --preset gpu                 # larger batches and more steps, ~12 minutes on one GPU (stage 0 included)
    torchrun --nproc_per_node 2 -m core.roformer_sim.train         # the same run on 2 processes (DDP)

Stage 0 (with ``--stage0-steps``; not in Su's recipe): left-to-right pretraining of the generator on
modern prose before any pair is seen. The pairs' target sides hold only ~3 M characters, too little for the
generator to learn to write Chinese; the prose has 32 M. Each step's rows are (sentence, next sentence) pairs
of ``data.PROSE_FILE`` (both ways, as in stage 1) and, for ``--noised-share`` of them, noised sentence ->
sentence; both sentences are whole and at most ``--max-chars`` long (the generator writes short sentences,
and a cut target would teach it to stop mid-sentence). Generation loss only: neighbouring sentences are not
paraphrases, so they never enter the similarity loss.
Stage 1 (Su, kexue.fm/archives/8454; roformer-sim train/stage1.py): every pair (a, b) gives the rows
``[CLS] a [SEP] b [SEP]`` and ``[CLS] b [SEP] a [SEP]``; loss = cross-entropy of the target segment
under the UniLM mask + in-batch contrastive loss (scale 20) on the pooled [CLS] vectors, where each
row's positive is its mirror row. Pairs: positive pairs of the train/valid splits (with
``--extra-pairs`` also those of AFQMC, OPPO-xiaobu and SimCLUE), and "noised
sentence" pairs (whole-word masked sentence -> the sentence) from in-domain sentences and raw text
(reviews, news). As in the original, the source side of every row is noised with probability 0.5.
Stage 2 (blog 8541, replacing its [u, v, |u-v|] head by CoSENT, blog 8847): supervised fine-tuning on
the labelled train/valid pairs (with ``--extra-pairs`` also QBQTC's graded relevance and NLI as
contradiction < neutral < entailment), one dataset per batch (CoSENT ranks labels within a batch, and the
scales differ: 0/1 vs STS-B 0-5; datasets drawn in proportion to the square root of their size), with
a small generation batch each step so the generator survives. With ``--nli-triplets`` every step of
both stages also ranks, for each NLI premise, its entailed hypothesis above every other hypothesis of
the batch, its own contradiction included (supervised SimCSE, Gao et al. 2021: entailment as the
positive, contradiction as the hard negative); these sentences never feed the generator. Each stage
has its own warm-up and cosine decay to 10% of its peak. Batch sizes are per process; under torchrun each process draws its
own batches.

Only ``*.train*.data`` and ``*.valid.data`` files are read; a small stratified part of them is held out
to log dev Spearman (``core.roformer_sim.data``). Never the test splits: those are for
``core.roformer_sim.evaluate``. The run is resumable: the state is saved to ``--work`` every few
minutes and on SIGTERM, and the same command continues from it (``--stage2-steps`` may grow).
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm
from transformers import BertTokenizer

from core import checkpoints, training
from core.roformer_sim import data
from core.roformer_sim.model import TARGET, RoFormerSim, Sim, load_weights, read_weights, save_pretrained, sim_config

# Named settings a run starts from; explicit options override them.
PRESETS = {
    "cpu": {"stage0_steps": 0, "lr0": 5e-4, "stage1_steps": 300, "stage2_steps": 400, "pairs_per_batch": 32, "cosent_pairs": 64,
            "stage2_gen_pairs": 8, "lr1": 3e-4, "lr2": 1.5e-4, "warmup": 100},
    # One modern GPU, about 12 minutes (estimated, not yet measured): the same network with 8x the pairs per step
    # and 10x the steps (the model size is the --init masked LM's); stage 0 reads the 522k whole-sentence prose
    # pairs about twice (4,000 x 256).
    "gpu": {"stage0_steps": 4000, "lr0": 1e-3, "stage1_steps": 3000, "stage2_steps": 3000, "pairs_per_batch": 256, "cosent_pairs": 256, "stage2_gen_pairs": 64,
            "lr1": 5e-4, "lr2": 2e-4, "warmup": 300, "dev_every": 1000},
}
# What a resumed run must share with the run that saved the state.
RUN_KEYS = ("init", "sts_dir", "data_dir", "extra_pairs", "nli_triplets", "stage0_steps", "lr0", "stage1_steps", "stage2_steps",
            "pairs_per_batch", "noised_share", "cosent_pairs", "stage2_gen_pairs", "lr1", "lr2", "warmup", "weight_decay", "scale",
            "max_chars", "dev_pairs", "seed", "prose_gen_pairs", "bq_train", "cpu_bf16")


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--preset", choices=sorted(PRESETS), default="cpu", help="named settings (options given override them)")
    p.add_argument("--init", default=str(checkpoints.ASSETS_DIR / "perturbed_masking"),
                   help="RoFormer masked-LM (or RoFormer-Sim) checkpoint directory to start from")
    p.add_argument("--out", type=Path, default=checkpoints.REPO_ROOT / "runs" / "roformer_sim" / "final", help="checkpoint directory to write")
    p.add_argument("--work", type=Path, default=checkpoints.REPO_ROOT / "runs" / "roformer_sim", help="resumable state and log.jsonl")
    p.add_argument("--sts-dir", default=str(data.STS_DIR), help="Su's chinese_sts folder (train/valid files)")
    p.add_argument("--data-dir", default=str(data.DATA_DIR), help="shared data folder (raw text in chinese_nlp_corpus/)")
    p.add_argument("--extra-pairs", action="store_true",
                   help="also train on the extra pairs of <data-dir>/chinese_sts_extra (AFQMC, OPPO, SimCLUE, QBQTC, NLI), "
                        "with their own dev pairs held out")
    p.add_argument("--nli-triplets", type=int, default=0,
                   help="NLI (premise, entailment, contradiction) triplets per step in a supervised-SimCSE loss, both stages "
                        "(needs --extra-pairs)")
    p.add_argument("--stage0-steps", type=int, help="left-to-right prose pretraining steps before stage 1 (default 0)")
    p.add_argument("--stage1-steps", type=int, help="default 300")
    p.add_argument("--stage2-steps", type=int, help="default 400; may grow when resuming")
    p.add_argument("--pairs-per-batch", type=int, help="stage 0 and 1 pairs per step and process, 2 UniLM rows each (default 32)")
    p.add_argument("--noised-share", type=float, default=0.25, help="share of stage-0 and stage-1 pairs that are (noised sentence, sentence)")
    p.add_argument("--cosent-pairs", type=int, help="stage 2 labelled pairs per step and process (default 64)")
    p.add_argument("--stage2-gen-pairs", type=int, help="stage 2 positive pairs per step kept on the generation loss (default 8)")
    p.add_argument("--prose-gen-pairs", type=int, default=0,
                   help="stage 2: also this many (sentence, next sentence) pairs of modern prose per step on the generation "
                        "loss only (left-to-right language modelling; never the similarity losses)")
    p.add_argument("--bq-train", action="store_true",
                   help="also generate from the positive pairs of <data-dir>/chinese_sts_extra/bq_train.tsv.xz (generation only)")
    p.add_argument("--cpu-bf16", action="store_true", help="bf16 autocast on the CPU too (measured: benchmarks/roformer_sim_train_precision.py)")
    p.add_argument("--lr0", type=float, help="stage 0 peak learning rate (default 5e-4)")
    p.add_argument("--lr1", type=float, help="stage 1 peak learning rate (default 3e-4)")
    p.add_argument("--lr2", type=float, help="stage 2 peak learning rate (default 1.5e-4)")
    p.add_argument("--warmup", type=int, help="warm-up steps of each stage (default 100)")
    p.add_argument("--weight-decay", type=float, default=0.01)
    p.add_argument("--scale", type=float, default=20.0, help="contrastive and CoSENT temperature (Su: 20)")
    p.add_argument("--max-chars", type=int, default=40, help="per sentence; the test sentences are short questions")
    p.add_argument("--dev-pairs", type=int, default=data.DEV_PAIRS, help="held out per dataset (from the train/valid files)")
    p.add_argument("--log-every", type=int, default=25)
    p.add_argument("--dev-every", type=int, help="log dev Spearman every this many steps (default 1000; also after each stage)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args(argv)
    training.apply_preset(args, {"dev_every": 1000}, PRESETS[args.preset])
    return args


# ----------------------------------------------------------------------------- batches


def whole_word_noise(text: str, tokenizer: BertTokenizer, rng: random.Random) -> list[str]:
    """BART-style noise of Su's stage 1: each jieba word with prob 15% -> 80% all [MASK], 10% random chars, 10% kept."""
    import jieba

    tokens = []
    for word in jieba.lcut(text):
        chars = tokenizer.tokenize(word)
        if rng.random() < 0.15:
            roll = rng.random()
            if roll < 0.8:
                chars = ["[MASK]"] * len(chars)
            elif roll < 0.9:
                chars = [tokenizer.convert_ids_to_tokens(rng.randrange(5, len(tokenizer))) for _ in chars]
        tokens += chars
    return tokens


@dataclass
class Batch:
    ids: torch.Tensor
    segments: torch.Tensor
    padding: torch.Tensor

    def to(self, device: torch.device) -> "Batch":
        return Batch(self.ids.to(device), self.segments.to(device), self.padding.to(device))


def unilm_rows(pairs: list[tuple[str, str]], tokenizer: BertTokenizer, rng: random.Random, max_chars: int) -> Batch:
    """Rows 2i and 2i+1 are a->b and b->a of pair i; each source is noised with probability 0.5.

    A pair (x, None) is a noised-sentence pair: source = noise(x), target = x, both directions the same way.
    """
    rows = []
    for a, b in pairs:
        a = a[:max_chars]
        for source, target in ((a, b[:max_chars]), (b[:max_chars], a)) if b is not None else ((a, a), (a, a)):
            noisy = b is None or rng.random() < 0.5
            src = whole_word_noise(source, tokenizer, rng) if noisy else tokenizer.tokenize(source)
            src_ids = tokenizer.convert_tokens_to_ids(["[CLS]"] + src + ["[SEP]"])
            tgt_ids = tokenizer.convert_tokens_to_ids(tokenizer.tokenize(target) + ["[SEP]"])
            rows.append((src_ids, tgt_ids))
    width = max(len(s) + len(t) for s, t in rows)
    ids = torch.zeros(len(rows), width, dtype=torch.long)
    segments = torch.zeros_like(ids)
    padding = torch.zeros_like(ids)
    for i, (s, t) in enumerate(rows):
        ids[i, : len(s) + len(t)] = torch.tensor(s + t)
        segments[i, len(s) : len(s) + len(t)] = TARGET
        padding[i, : len(s) + len(t)] = 1
    return Batch(ids, segments, padding)


# ----------------------------------------------------------------------------- losses


def generation_loss(model: RoFormerSim, batch: Batch, h: torch.Tensor) -> torch.Tensor:
    """Next-token cross-entropy over the target segment only (MLM head applied only there)."""
    predicts = (batch.segments[:, 1:] == TARGET) & (batch.padding[:, 1:] == 1)  # position t predicts token t+1
    logits = model.cls(h[:, :-1][predicts])
    return F.cross_entropy(logits.float(), batch.ids[:, 1:][predicts])


def contrastive_loss(vectors: torch.Tensor, scale: float) -> torch.Tensor:
    """In-batch softmax over cosines; row 2i's positive is 2i+1 and back; self-similarity excluded."""
    v = F.normalize(vectors.float(), dim=-1)
    sims = (v @ v.T).masked_fill(torch.eye(len(v), dtype=torch.bool, device=v.device), -1e12)
    labels = torch.arange(len(v), device=v.device) ^ 1
    return F.cross_entropy(sims * scale, labels)


def cosent_loss(cosines: torch.Tensor, labels: torch.Tensor, scale: float) -> torch.Tensor:
    """CoSENT: log(1 + sum over pairs (i, j) with label_i < label_j of exp(scale * (cos_i - cos_j)))."""
    diff = scale * (cosines[:, None] - cosines[None, :])
    wrong_order = labels[:, None] < labels[None, :]
    return torch.logsumexp(torch.cat([diff.new_zeros(1), diff[wrong_order]]), dim=0)


def supervised_contrastive_loss(premises: torch.Tensor, entailed: torch.Tensor, contradicting: torch.Tensor,
                                scale: float) -> torch.Tensor:
    """Supervised SimCSE: premise i's softmax over every hypothesis of the batch (all entailments, then all
    contradictions) should pick entailment i; its own contradiction is the hardest negative."""
    anchors = F.normalize(premises.float(), dim=-1)
    hypotheses = F.normalize(torch.cat([entailed, contradicting]).float(), dim=-1)
    return F.cross_entropy(scale * anchors @ hypotheses.T, torch.arange(len(anchors), device=anchors.device))


def step_losses(model: RoFormerSim, batch: Batch | None, labelled: tuple[torch.Tensor, ...] | None,
                triplets: tuple[torch.Tensor, torch.Tensor] | None, scale: float,
                contrastive: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """(generation loss, similarity loss) of one step, every pass in one call (what DDP synchronises).

    Stage 0 gives a UniLM ``batch`` with ``contrastive=False``: the similarity loss is zero. Stage 1
    gives a UniLM ``batch`` and no ``labelled`` pairs: the similarity loss is the in-batch contrastive
    loss on its [CLS] vectors. Stage 2 gives ``labelled`` = (ids and padding of the first
    sentences, of the second ones, labels) for CoSENT, and a small UniLM batch or None. ``triplets``
    (ids and padding of the premises, then their entailments, then their contradictions) add the
    supervised-SimCSE loss in either stage.
    """
    gen = h = None
    if batch is not None:
        h = model.unilm(batch.ids, batch.segments, batch.padding)
        gen = generation_loss(model, batch, h)
    if labelled is None:
        similarity = contrastive_loss(model.pooler(h[:, 0]), scale) if contrastive else gen.new_zeros(())
    else:
        ids_a, padding_a, ids_b, padding_b, labels = labelled
        cosines = F.cosine_similarity(model.sentence_vectors(ids_a, padding_a).float(),
                                      model.sentence_vectors(ids_b, padding_b).float(), dim=-1)
        similarity = cosent_loss(cosines, labels, scale)
    if triplets is not None:
        similarity = similarity + supervised_contrastive_loss(*model.sentence_vectors(*triplets).chunk(3), scale)
    return (gen if gen is not None else similarity.new_zeros(())), similarity


# ----------------------------------------------------------------------------- model set-up


def init_model(init: Path, device: torch.device) -> Sim:
    """Start from a RoFormer masked LM (no pooler: it starts as the identity, i.e. the raw [CLS] state)
    or from a RoFormer-Sim checkpoint (pooler included)."""
    raw = json.loads((init / "config.json").read_text(encoding="utf-8"))
    model = RoFormerSim(sim_config(raw))
    weights = read_weights(init)
    if "roformer.pooler.dense.weight" not in weights:
        with torch.no_grad():
            model.pooler.weight.copy_(torch.eye(model.config.hidden_size))
            model.pooler.bias.zero_()
    load_weights(model, weights, allow_missing=("pooler.weight", "pooler.bias"))
    tokenizer = BertTokenizer(vocab=str(init / "vocab.txt"), do_lower_case=True)
    return Sim(model.float().to(device), tokenizer)


def run_config(args) -> dict:
    return {key: str(value) if isinstance(value, Path) else value for key, value in vars(args).items() if key in RUN_KEYS}


# ----------------------------------------------------------------------------- training


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    runtime = training.setup(args.seed, args.threads)
    log_file = args.work / "log.jsonl"
    sim = init_model(Path(args.init), runtime.device)
    net = sim.model.train()
    extra_dir = Path(args.data_dir) / data.EXTRA_DIR.name if args.extra_pairs else None
    train_pairs, dev = data.split_dev(data.labelled_pairs(Path(args.sts_dir), extra_dir), args.dev_pairs)
    positives = [(a, b) for name, rows in train_pairs.items() for a, b, y in rows if data.is_positive(name, y)]
    if args.bq_train:
        positives += [(a, b) for a, b, y in data.read_pairs(Path(args.data_dir) / data.EXTRA_DIR.name / "bq_train.tsv.xz") if y >= 1]
    prose = data.consecutive_sentences(Path(args.data_dir) / data.PROSE_FILE) if args.prose_gen_pairs or args.stage0_steps else []
    whole_prose = [(a, b) for a, b in prose if len(a) <= args.max_chars and len(b) <= args.max_chars] if args.stage0_steps else []
    sentences = sorted({t for rows in train_pairs.values() for a, b, _ in rows for t in (a, b)})
    raw = data.raw_sentences(Path(args.data_dir), args.max_chars) + sentences
    nli = data.nli_triplets(train_pairs.get("NLI", [])) if args.nli_triplets else []
    if args.nli_triplets and len(nli) < args.nli_triplets:
        raise ValueError(f"--nli-triplets {args.nli_triplets} needs at least as many NLI triplets; found {len(nli)} "
                         "(the NLI pairs are read with --extra-pairs)")
    training.log_line(runtime, log_file, event="data", positive_pairs=len(positives), noised_sentence_pool=len(raw), prose_pairs=len(prose),
                      stage0_prose_pairs=len(whole_prose), labelled_pairs={k: len(v) for k, v in train_pairs.items()}, nli_triplets=len(nli))

    # Stage 2 without a generation batch leaves the MLM head's transform out of the graph, stage 0 the pooler.
    model = training.wrap(training.Objective(net, step_losses), runtime,
                          find_unused_parameters=not args.stage2_gen_pairs or bool(args.stage0_steps))
    optimizer = torch.optim.AdamW(net.parameters(), lr=args.lr0 if args.stage0_steps else args.lr1, weight_decay=args.weight_decay)
    state = training.RunState(args.work / "state.pt", run_config(args), may_change=("stage2_steps",))
    progress = state.resume(net, optimizer, runtime) or {"step": 0}
    step = progress["step"]
    if step:
        training.log_line(runtime, log_file, event="resumed", step=step)
    total = args.stage0_steps + args.stage1_steps + args.stage2_steps
    datasets = list(train_pairs)
    # sqrt of the sizes: the small sets (STS-B, BQ, LCQMC) count as much as ATEC in the test average
    weights = np.sqrt([len(train_pairs[d]) for d in datasets])

    def to_device(texts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        return sim.tokenize([t[: args.max_chars] for t in texts])

    def save() -> None:
        progress.update(step=step)
        state.save(net, optimizer, progress, runtime)

    bar = tqdm(total=total, initial=step, desc="roformer_sim", mininterval=10, disable=not runtime.is_main)
    while step < total:
        # Steps counted from the end of stage 0: stages 1 and 2 draw the batches of the same run without it.
        pair_step = step - args.stage0_steps
        stage = 0 if pair_step < 0 else 1 if pair_step < args.stage1_steps else 2
        # A stream per step and process: a resumed run replays the same batches; processes draw different ones.
        rng = random.Random((args.seed * 1_000_003 + pair_step) * runtime.world_size + runtime.rank if stage
                            else f"stage0 {args.seed} {step} {runtime.world_size} {runtime.rank}")
        contrastive, triplets = stage > 0, None
        if stage == 0:
            lr = training.warmup_cosine(step, args.lr0, args.warmup, training.step_progress(step, args.warmup, args.stage0_steps))
            n_noised = int(args.pairs_per_batch * args.noised_share)
            pairs = rng.sample(whole_prose, args.pairs_per_batch - n_noised) + [(a, None) for a, _ in rng.sample(whole_prose, n_noised)]
            batch, labelled = unilm_rows(pairs, sim.tokenizer, rng, args.max_chars).to(runtime.device), None
        elif stage == 1:
            lr = training.warmup_cosine(pair_step, args.lr1, args.warmup, training.step_progress(pair_step, args.warmup, args.stage1_steps))
            n_noised = int(args.pairs_per_batch * args.noised_share)
            pairs = rng.sample(positives, args.pairs_per_batch - n_noised) + [(t, None) for t in rng.sample(raw, n_noised)]
            batch, labelled = unilm_rows(pairs, sim.tokenizer, rng, args.max_chars).to(runtime.device), None
        else:
            in_stage = pair_step - args.stage1_steps
            lr = training.warmup_cosine(in_stage, args.lr2, args.warmup, training.step_progress(in_stage, args.warmup, args.stage2_steps))
            rows = rng.sample(train_pairs[rng.choices(datasets, weights=weights)[0]], args.cosent_pairs)
            labels = torch.tensor([r[2] for r in rows], device=runtime.device)
            labelled = (*to_device([r[0] for r in rows]), *to_device([r[1] for r in rows]), labels)
            batch = None
            if args.stage2_gen_pairs or args.prose_gen_pairs:
                gen_pairs = rng.sample(positives, args.stage2_gen_pairs) + rng.sample(prose, args.prose_gen_pairs)
                batch = unilm_rows(gen_pairs, sim.tokenizer, rng, args.max_chars).to(runtime.device)
        if args.nli_triplets and stage:  # drawn last, so the other batches are those of the same run without triplets
            drawn = rng.sample(nli, args.nli_triplets)
            triplets = to_device([t[part] for part in range(3) for t in drawn])
        training.set_lr(optimizer, lr)
        with torch.autocast("cpu", dtype=torch.bfloat16) if args.cpu_bf16 and runtime.device.type == "cpu" else runtime.autocast():
            gen, similarity = model(batch, labelled, triplets, args.scale, contrastive=contrastive)
        training.optimizer_step(model, optimizer, gen + similarity)
        step += 1
        bar.update(1)
        bar.set_postfix(stage=stage, gen=f"{gen.item():.3f}", sim=f"{similarity.item():.3f}", refresh=False)
        if step % args.log_every == 0:
            training.log_line(runtime, log_file, event="train", step=step, stage=stage, gen=round(gen.item(), 4),
                              sim=round(similarity.item(), 4), lr=round(lr, 7), cpu_minutes=round(training.budget_minutes(runtime), 2))
        pair_steps_done = step - args.stage0_steps
        if (step in (args.stage0_steps, args.stage0_steps + args.stage1_steps, total)
                or (pair_steps_done > 0 and pair_steps_done % args.dev_every == 0)) and runtime.is_main:
            training.log_line(runtime, log_file, event="dev", step=step, dev_spearman=data.dev_spearman(sim, dev))
        if state.stop_if_asked(save, runtime, log_file, step):
            return
        if state.due(300) or step in (args.stage0_steps, total):  # the state at the end of stage 0 can be copied out
            save()
    bar.close()

    identical = training.replicas_identical(net, runtime)
    if runtime.is_main:
        net.eval()
        save_pretrained(sim, args.out)
        log = [json.loads(line) for line in log_file.read_text(encoding="utf-8").splitlines()]
        record = {"config": run_config(args), "command": "python -m core.roformer_sim.train " + " ".join(sys.argv[1:] if argv is None else argv),
                  "log": log}
        (args.out / "training_log.json").write_text(json.dumps(record, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        training.log_line(runtime, log_file, event="done", out=str(args.out), steps=step, processes=runtime.world_size,
                          replicas_identical=identical)
    runtime.barrier()
    training.teardown(runtime)


if __name__ == "__main__":
    main()
