"""Full impact matrix of a 30-character sentence: batched masked copies vs one forward per row.

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
from transformers import BertConfig, BertModel

from core import checkpoints
from core.perturbed_masking import impact

BIG = "bert-base-sized (random)"
SENTENCE = "大肠杆菌是人和许多动物肠道中最主要且数量最多的一种细菌计算"  # 30 characters


def bert_base_sized() -> impact.Encoder:
    config = BertConfig(vocab_size=21128)  # bert-base-chinese dimensions
    vocab = {ch: 200 + i for i, ch in enumerate(dict.fromkeys(SENTENCE))}
    return impact.Encoder(
        model=BertModel(config, add_pooling_layer=False).eval(), vocab=vocab, mask_id=103, cls_id=101, sep_id=102,
        unk_id=100, device=torch.device("cpu"), max_chars=510, default_layer=12, default_threshold=8.0,
    )


def seconds(encoder: impact.Encoder, batch_rows: int, repeats: int) -> float:
    spans = impact.char_spans(SENTENCE)
    pairs = [(i, j) for i in range(len(spans)) for j in range(i + 1, len(spans))]
    encoder.batch_rows = batch_rows
    impact.span_impacts(encoder, SENTENCE, spans, pairs[:5])  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        impact.span_impacts(encoder, SENTENCE, spans, pairs)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--big-repeats", type=int, default=1, help="timed runs of the bert-base-sized model (~1 min each)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    encoders = {}
    if checkpoints.sources("perturbed_masking")[:1] == [checkpoints.BUNDLED]:
        encoders["bundled"] = impact.load(checkpoints.locate("perturbed_masking", checkpoints.BUNDLED), torch.device("cpu"))
    encoders[BIG] = bert_base_sized()
    n = len(SENTENCE)
    print(f"sentence of {n} characters, {n * (n + 1) // 2} masked rows, {args.threads} threads, median of {args.repeats} runs ({args.big_repeats} for bert-base)")
    print(f"{'model':28} {'batched (64 rows)':>18} {'one forward per row':>20} {'speed-up':>9}")
    results = {}
    for name, encoder in encoders.items():
        repeats = args.big_repeats if name == BIG else args.repeats
        batched = seconds(encoder, 64, repeats)
        per_row = seconds(encoder, 1, repeats)
        results[name] = {"batched_s": round(batched, 3), "per_row_s": round(per_row, 3), "speedup": round(per_row / batched, 2)}
        print(f"{name:28} {batched:17.3f}s {per_row:19.3f}s {per_row / batched:8.1f}x")
    print(json.dumps({"chars": n, "rows": n * (n + 1) // 2, "threads": args.threads, **results}))


if __name__ == "__main__":
    main()
