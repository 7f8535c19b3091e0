"""Sentence search speed: encode a list of real sentences once, then time queries on it.

    python benchmarks/sentence_search.py [--lines 10000] [--queries 20] [--threads 1]

The list is ``--lines`` distinct sentences from the STS test files (taken in turn from each file's
pairs); the queries are other sentences of the same files. Encoding is timed once (length-sorted
batches, as the tab does); a query is timed end to end (encode it, look it up) as the median of
``--queries`` queries; the look-up alone is timed with numpy and with faiss on the same vectors, which
is what ``search.FAISS_MIN_LINES`` rests on. Targets (issue #23): encode 10,000 lines <= 60 s on this
CPU, one query <= 100 ms. Last stdout line: JSON with the numbers and the machine's load average.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import statistics
import time
from pathlib import Path

import faiss
import numpy as np
import torch

from core import checkpoints
from core.roformer_sim import search
from core.roformer_sim.data import DATASETS, STS_DIR, read_pairs, test_file
from core.roformer_sim.model import load


def distinct_sentences(sts_dir: Path, count: int) -> list[str]:
    """``count`` distinct sentences, drawn in turn from each test file so every dataset is represented."""
    streams = [(s for a, b, _ in read_pairs(test_file(sts_dir, name)) for s in (a, b)) for name in DATASETS]
    mixed = (s for group in itertools.zip_longest(*streams) for s in group if s)
    return list(itertools.islice(dict.fromkeys(mixed), count))


def median_ms(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoint", default=None, help="checkpoint directory (default: the bundled model)")
    parser.add_argument("--sts-dir", type=Path, default=STS_DIR)
    parser.add_argument("--lines", type=int, default=10_000)
    parser.add_argument("--queries", type=int, default=20)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--threads", type=int, default=1, help="torch and faiss threads (the dev machine is shared)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    faiss.omp_set_num_threads(args.threads)
    sim = load(checkpoints.locate("roformer_sim", args.checkpoint), checkpoints.device())
    pool = distinct_sentences(args.sts_dir, args.lines + args.queries)
    sentences, queries = pool[: args.lines], pool[args.lines :]

    start = time.perf_counter()
    index, _ = search.IndexCache().get(sim, sentences)
    encode_s = time.perf_counter() - start

    search.query_vector(sim, queries[0])  # warm-up
    query_times = []
    for query in queries:
        start = time.perf_counter()
        index.search(search.query_vector(sim, query), args.k)
        query_times.append((time.perf_counter() - start) * 1000)

    vector = search.query_vector(sim, queries[0])
    flat = faiss.IndexFlatIP(index.vectors.shape[1])
    flat.add(index.vectors)
    numpy_ms = median_ms(lambda: search.top_k(index.vectors, vector, args.k), args.queries)
    faiss_ms = median_ms(lambda: flat.search(vector[None], args.k), args.queries)

    print(json.dumps({
        "lines": len(sentences),
        "hidden_size": int(index.vectors.shape[1]),
        "threads": args.threads,
        "load_average_1m": round(os.getloadavg()[0], 1),  # the dev machine is shared: other jobs slow every number
        "encode_s": round(encode_s, 2),
        "encode_lines_per_s": round(len(sentences) / encode_s, 1),
        "query_ms_median": round(statistics.median(query_times), 2),
        "query_ms_max": round(max(query_times), 2),
        "queries": len(queries),
        "library_used": index.library,
        "lookup_ms_numpy": round(numpy_ms, 3),
        "lookup_ms_faiss": round(faiss_ms, 3),
        "targets": {"encode_s": 60, "query_ms": 100},
    }, ensure_ascii=False))


if __name__ == "__main__":
    main()
