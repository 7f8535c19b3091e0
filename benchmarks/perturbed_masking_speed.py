"""Full impact matrix of a 30-character sentence: batched masked copies vs one forward per row.

Wall time and process CPU time are both printed: on a shared machine the wall time includes
waiting for a core, while with ``--threads 1`` the CPU time is what one idle core would take.

    python benchmarks/perturbed_masking_speed.py [--threads 2] [--repeats 3]

Rows: every character masked alone plus every pair masked together, n(n+1)/2 = 465 rows of
32 tokens for n = 30 (one pair row gives both directions of the impact). "batched" sends them
through the encoder 64 at a time; "per row" runs the same rows one forward each. Models: the
bundled checkpoint (when present) and a bert-base-sized BERT (12 layers, hidden 768, vocab
21128 as bert-base-chinese) with random weights, which time the same. Last line: JSON.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch
from transformers import BertConfig, BertForMaskedLM

from core import checkpoints
from core.perturbed_masking import impact, model

BIG = "bert-base-sized (random)"
SENTENCE = "大肠杆菌是人和许多动物肠道中最主要且数量最多的一种细菌计算机"  # 30 characters


def bert_base_sized() -> impact.Encoder:
    config = BertConfig(vocab_size=21128)  # bert-base-chinese dimensions
    vocab = {ch: 200 + i for i, ch in enumerate(dict.fromkeys(SENTENCE))}
    masked_lm = BertForMaskedLM(config).eval()
    return impact.Encoder(
        model=masked_lm.bert, head=masked_lm.cls, vocab=vocab, mask_id=103, cls_id=101, sep_id=102,
        unk_id=100, device=torch.device("cpu"), max_chars=510, defaults=impact.SegmentationDefaults(12),
    )


def seconds(encoder: impact.Encoder, batch_rows: int, repeats: int) -> tuple[float, float]:
    """Median (wall, process CPU) seconds; with one thread CPU time is what an idle core would take."""
    spans = impact.char_spans(SENTENCE)
    pairs = [(i, j) for i in range(len(spans)) for j in range(i + 1, len(spans))]
    encoder.batch_rows = batch_rows
    impact.span_impacts(encoder, SENTENCE, spans, pairs[:5], predict=False)  # warm-up; trees need no LM head
    wall, cpu = [], []
    for _ in range(repeats):
        start, start_cpu = time.perf_counter(), time.process_time()
        impact.span_impacts(encoder, SENTENCE, spans, pairs, predict=False)
        wall.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    return statistics.median(wall), statistics.median(cpu)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--big-repeats", type=int, default=1, help="timed runs of the bert-base-sized model (~1 min each)")
    parser.add_argument("--skip-bert-base", action="store_true", help="time the bundled model only")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    encoders = {}
    if checkpoints.sources("perturbed_masking")[:1] == [checkpoints.BUNDLED]:
        encoders["bundled"] = model.load(checkpoints.locate("perturbed_masking", checkpoints.BUNDLED), torch.device("cpu"))
    if not args.skip_bert_base:
        encoders[BIG] = bert_base_sized()
    n = len(SENTENCE)
    print(f"sentence of {n} characters, {n * (n + 1) // 2} masked rows, {args.threads} threads, median of {args.repeats} runs ({args.big_repeats} for bert-base)")
    print(f"{'model':28} {'batched wall / CPU':>22} {'per-row wall / CPU':>22} {'speed-up (CPU)':>15}")
    results = {}
    for name, encoder in encoders.items():
        repeats = args.big_repeats if name == BIG else args.repeats
        batched, batched_cpu = seconds(encoder, 64, repeats)
        per_row, per_row_cpu = seconds(encoder, 1, repeats)
        results[name] = {
            "batched_s": round(batched, 3), "batched_cpu_s": round(batched_cpu, 3),
            "per_row_s": round(per_row, 3), "per_row_cpu_s": round(per_row_cpu, 3),
            "speedup_cpu": round(per_row_cpu / batched_cpu, 2),
        }
        print(f"{name:28} {batched:9.3f}s / {batched_cpu:7.3f}s {per_row:9.3f}s / {per_row_cpu:7.3f}s {per_row_cpu / batched_cpu:14.1f}x", flush=True)
    print(json.dumps({"chars": n, "rows": n * (n + 1) // 2, "threads": args.threads, **results}))


if __name__ == "__main__":
    main()
