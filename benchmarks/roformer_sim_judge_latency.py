"""What the fluency judge adds to a paraphrase request, side by side: the tab's defaults on everyday sentences,
sampling and cosine ranking alone vs the same plus judging every distinct candidate (``fluency.judged_paraphrases``).

    python benchmarks/roformer_sim_judge_latency.py [--threads 2] [--inputs benchmarks/everyday_sentences.txt] [--limit 10]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import torch

from core import checkpoints
from core.roformer_sim import fluency, generate
from core.roformer_sim.model import load


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--inputs", type=Path, default=Path(__file__).with_name("everyday_sentences.txt"))
    parser.add_argument("--limit", type=int, default=10)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    sim = load(checkpoints.locate("roformer_sim"), checkpoints.device())
    judge = fluency.FluencyJudge()
    texts = [line.strip() for line in args.inputs.read_text(encoding="utf-8").splitlines() if line.strip()][: args.limit]
    settings = generate.TAB_DEFAULTS
    fluency.judged_paraphrases(sim, judge, texts[0], **settings)  # warm-up
    plain, judged = [], []
    for text in texts:  # alternating, so that a busy machine slows both alike
        start = time.perf_counter()
        generate.paraphrase(sim, text, settings["n"], settings["n"], settings["top_p"], settings["seed"])
        plain.append(time.perf_counter() - start)
        start = time.perf_counter()
        fluency.judged_paraphrases(sim, judge, text, **settings)
        judged.append(time.perf_counter() - start)
    result = {"median_s_without_judge": round(statistics.median(plain), 3), "median_s_with_judge": round(statistics.median(judged), 3),
              "ratio": round(statistics.median(judged) / statistics.median(plain), 2), "inputs": len(texts), "threads": args.threads}
    print(f"median per request: {result['median_s_without_judge']} s without the judge, {result['median_s_with_judge']} s with it "
          f"({result['ratio']}×)")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
