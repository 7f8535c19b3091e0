"""What bounds the fluency judge on spliced halves (issue #42's held-out kind, target 90% rejected).

Two questions, side by side on the judge's own pool of texts:
- Does evidence of topic help? A coherence feature is added to the bundled judge's features and fitted as the judge
  is (real sentences against the fitted kinds of negative, never splices; threshold at 70% of dev real accepted).
- How far could this evidence go at all? A model fitted on splices themselves (half of the held-out pool, scored on
  the other half). No rule may choose a judge this way; it is shown to bound the target, not to choose.

The coherence feature: how often two jieba words occur in one sentence (hashed counts over ``fluency.ngram_corpus``,
which holds no STS test sentence and none of the judge's sentences), as pointwise mutual information; per text, the
mean PMI of the word pairs across its weakest split point (a splice's halves come from two sentences), of all its
pairs, and across its split points on average.

    python -m core.roformer_sim.fluency compare --out DIR --cache DIR/features.npz   # the pool and its features
    python benchmarks/fluency_splice_bound.py --cache DIR/features.npz [--counts runs/cooccurrence.npz]

Counting takes about 4 minutes on this CPU; ``--counts`` keeps the table for the next run. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import itertools
import json
from pathlib import Path

import numpy as np
from tqdm import tqdm

from core import logistic
from core.roformer_sim import fluency
from core.roformer_sim.char_lm import normalize
from core.roformer_sim.data import DATA_DIR, EXTRA_DIR, STS_DIR

WORD_BUCKETS, PAIR_BUCKETS = 1 << 20, 1 << 24
MAX_WORDS = 30  # per sentence when counting: pairs grow with the square of the length
JUDGE_FEATURES = fluency.FEATURE_SETS["both_ways"]  # the bundled judge's (O1)
COHERENCE = ("weakest_split_pmi", "all_pairs_pmi", "mean_split_pmi")
ACCEPT_DEV_REAL = 0.7  # the bundled judge's threshold rule


def pair_key(a: str, b: str) -> str:
    return f"{a} {b}" if a < b else f"{b} {a}"


def words(tokenizer, text: str) -> list[str]:
    return [w for w in tokenizer.lcut(normalize(text), HMM=False) if any(fluency.is_word_char(ch) for ch in w)]


def count_cooccurrences(tokenizer) -> dict[str, np.ndarray]:
    """Hashed counts of words and of unordered word pairs within a sentence, and the number of sentences."""
    word_counts = np.zeros(WORD_BUCKETS, np.int64)
    pair_counts = np.zeros(PAIR_BUCKETS, np.int64)
    word_rows, pair_rows, sentences = [], [], 0
    for sentence in tqdm(fluency.ngram_corpus(DATA_DIR, STS_DIR, EXTRA_DIR, fluency.PROSE_FILE), desc="co-occurrences"):
        distinct = list(dict.fromkeys(words(tokenizer, sentence)))[:MAX_WORDS]
        if len(distinct) < 2:
            continue
        sentences += 1
        word_rows += [fluency.bucket(w, WORD_BUCKETS) for w in distinct]
        pair_rows += [fluency.bucket(pair_key(a, b), PAIR_BUCKETS) for a, b in itertools.combinations(distinct, 2)]
        if len(pair_rows) > 5_000_000:  # bincount in chunks: a list of every pair would not fit in memory
            word_counts += np.bincount(word_rows, minlength=WORD_BUCKETS)
            pair_counts += np.bincount(pair_rows, minlength=PAIR_BUCKETS)
            word_rows, pair_rows = [], []
    word_counts += np.bincount(word_rows, minlength=WORD_BUCKETS)
    pair_counts += np.bincount(pair_rows, minlength=PAIR_BUCKETS)
    return {"words": word_counts, "pairs": pair_counts, "sentences": np.asarray(sentences)}


def coherence(text_words: list[str], counts: dict[str, np.ndarray], collisions: float) -> tuple[float, float, float]:
    """``COHERENCE`` of one text; 0 (no evidence) for a text of fewer than two words. ``collisions``: what a pair's
    bucket holds from other pairs, on average (subtracted from its count)."""
    if len(text_words) < 2:
        return 0.0, 0.0, 0.0
    word_counts, pair_counts, sentences = counts["words"], counts["pairs"], float(counts["sentences"])
    n = len(text_words)
    pmi = np.full((n, n), np.nan)
    for i, j in itertools.combinations(range(n), 2):
        a, b = text_words[i], text_words[j]
        if a != b:
            together = max(pair_counts[fluency.bucket(pair_key(a, b), PAIR_BUCKETS)] - collisions, 0.0)
            apart = (word_counts[fluency.bucket(a, WORD_BUCKETS)] + 1.0) * (word_counts[fluency.bucket(b, WORD_BUCKETS)] + 1.0)
            pmi[i, j] = np.log((together + 0.5) * sentences / apart)
    splits = [pmi[:k, k:] for k in range(1, n)]
    across = [float(np.nanmean(block)) for block in splits if not np.all(np.isnan(block))] or [0.0]
    every = pmi[~np.isnan(pmi)]
    return min(across), float(every.mean()) if every.size else 0.0, float(np.mean(across))


def judged(features: dict[str, np.ndarray]) -> dict:
    """Fitted as the judge is; rates at the threshold that accepts ``ACCEPT_DEV_REAL`` of dev real sentences."""
    model = fluency.fit_real_against_fitted_kinds(features)
    p = {name: model.probabilities(rows) for name, rows in features.items()}
    threshold = float(np.quantile(p["dev/positive"], 1 - ACCEPT_DEV_REAL))
    return {"test_real_accepted": round(float(np.mean(p["test/positive"] >= threshold)), 3),
            **{f"{kind}_rejected": round(float(np.mean(p[f"test/{kind}"] < threshold)), 3) for kind in fluency.HELD_OUT_KINDS},
            "dev_generated_rejected": round(float(np.mean(p["dev/generated"] < threshold)), 3),
            "auc_real_vs_spliced": round(fluency.auc(p["test/positive"], p["test/spliced"]), 3)}


def fitted_on_splices(real: np.ndarray, spliced: np.ndarray) -> dict:
    """Fitted on the first half of the held-out real and spliced texts, measured on the second half."""
    half = min(len(real), len(spliced)) // 2
    model = logistic.fit(np.concatenate([real[:half], spliced[:half]]), np.r_[np.ones(half), np.zeros(half)], fluency.L2)
    p_real, p_spliced = model.probabilities(real[half:]), model.probabilities(spliced[half:])
    return {"auc_real_vs_spliced": round(fluency.auc(p_real, p_spliced), 3),
            **{f"spliced_rejected_at_{accepted:.0%}_real_accepted": round(float(np.mean(p_spliced < np.quantile(p_real, 1 - accepted))), 3)
               for accepted in (0.7, 0.5)}}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cache", type=Path, required=True, help="features.npz that `fluency compare --cache` wrote")
    parser.add_argument("--counts", type=Path, help="the co-occurrence table: read if it exists, else counted and written")
    args = parser.parse_args(argv)
    tokenizer = fluency.word_tokenizer()
    if args.counts is not None and args.counts.is_file():
        with np.load(args.counts) as saved:
            counts = {key: saved[key] for key in saved.files}
    else:
        counts = count_cooccurrences(tokenizer)
        if args.counts is not None:
            args.counts.parent.mkdir(parents=True, exist_ok=True)
            np.savez_compressed(args.counts, **counts)
    counts = {key: value.astype(np.float64) for key, value in counts.items()}
    texts = json.loads(args.cache.with_suffix(".texts.json").read_text(encoding="utf-8"))
    with np.load(args.cache) as cached:
        judge_rows = {name: np.stack([cached[f"{name}|{f}"] for f in JUDGE_FEATURES], axis=1) for name in texts}
    collisions = float(counts["pairs"].mean())
    coherence_rows = {name: np.array([coherence(words(tokenizer, t), counts, collisions) for t in rows])
                      for name, rows in tqdm(texts.items(), desc="coherence")}
    both = {name: np.concatenate([judge_rows[name], coherence_rows[name]], axis=1) for name in texts}
    result = {
        "coherence_alone_auc": {f: {kind: round(fluency.auc(coherence_rows["test/positive"][:, i], coherence_rows[f"test/{kind}"][:, i]), 3)
                                    for kind in fluency.HELD_OUT_KINDS} for i, f in enumerate(COHERENCE)},
        "fitted_as_the_judge": {"judge_features": judged(judge_rows), "with_coherence": judged(both)},
        "fitted_on_splices_bound": {"judge_features": fitted_on_splices(judge_rows["test/positive"], judge_rows["test/spliced"]),
                                    "with_coherence": fitted_on_splices(both["test/positive"], both["test/spliced"])},
    }
    print(json.dumps(result, ensure_ascii=False))


if __name__ == "__main__":
    main()
