"""What the fluency judge and the reader check add to a paraphrase request, side by side: the tab's defaults on everyday
sentences, decoding and cosine ranking alone vs the same plus judging every distinct candidate
(``fluency.judged_paraphrases`` without the reader check) vs the tab's request (judged and ordered by the reader check),
and the tab's request with its other decoding (sampling when the default is beam search, and back).

    python benchmarks/roformer_sim_judge_latency.py [--threads 2] [--inputs benchmarks/everyday_sentences.txt] [--limit 10]
        [--other-judge DIR]   # also another judge folder (e.g. an earlier judge.json without the char LM), side by side
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
    parser.add_argument("--other-judge", type=Path, default=None, help="a second judge folder timed in the same loop")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    sim = load(checkpoints.locate("roformer_sim"), checkpoints.device())
    judge = fluency.FluencyJudge()
    texts = [line.strip() for line in args.inputs.read_text(encoding="utf-8").splitlines() if line.strip()][: args.limit]
    settings = generate.TAB_DEFAULTS
    judges = {"with_judge": judge, **({"with_other_judge": fluency.FluencyJudge(args.other_judge)} if args.other_judge else {})}
    for each in judges.values():
        fluency.judged_paraphrases(sim, each, texts[0], **settings)  # warm-up
    plain, judged, checked = [], {name: [] for name in judges}, []
    other_decoding = {**settings, "beam": not settings["beam"]}
    other_times = []
    for text in texts:  # alternating, so that a busy machine slows all alike
        start = time.perf_counter()
        generate.paraphrase(sim, text, settings["n"], settings["n"], settings["top_p"], settings["seed"], (),
                            settings["copy_bias"], settings["repetition_penalty"], settings["beam"], settings["tail_penalty"])
        plain.append(time.perf_counter() - start)
        for name, each in judges.items():
            start = time.perf_counter()
            fluency.judged_paraphrases(sim, each, text, **settings, reader_order=False)
            judged[name].append(time.perf_counter() - start)
        start = time.perf_counter()
        fluency.judged_paraphrases(sim, judge, text, **settings)
        checked.append(time.perf_counter() - start)
        start = time.perf_counter()
        fluency.judged_paraphrases(sim, judge, text, **other_decoding)
        other_times.append(time.perf_counter() - start)
    result = {"median_s_without_judge": round(statistics.median(plain), 3),
              **{f"median_s_{name}": round(statistics.median(times), 3) for name, times in judged.items()},
              "ratio": round(statistics.median(judged["with_judge"]) / statistics.median(plain), 2),
              "median_s_with_judge_and_reader_check": round(statistics.median(checked), 3),
              "ratio_reader_check": round(statistics.median(checked) / statistics.median(judged["with_judge"]), 2),
              "default_decoding": "beam search" if settings["beam"] else "sampling",
              "median_s_with_judge_other_decoding": round(statistics.median(other_times), 3), "inputs": len(texts),
              "threads": args.threads}
    print(f"median per request: {result['median_s_without_judge']} s without the judge, {result['median_s_with_judge']} s with it "
          f"({result['ratio']}×), {result['median_s_with_judge_and_reader_check']} s with the judge and the reader check (the tab; "
          f"{result['ratio_reader_check']}× the judge alone); {result['median_s_with_judge_other_decoding']} s for the tab's "
          "request with the other decoding")
    if args.other_judge:
        result["other_judge"] = str(args.other_judge)
        result["ratio_to_other_judge"] = round(statistics.median(judged["with_judge"]) / statistics.median(judged["with_other_judge"]), 2)
        print(f"{result['median_s_with_other_judge']} s with {args.other_judge} ({result['ratio_to_other_judge']}× for the bundled judge)")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
