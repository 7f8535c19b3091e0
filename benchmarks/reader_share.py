"""A reader's verdicts on the paraphrase tab's output: the share of the shown top five that the reader accepted, and the
share of inputs with at least one accepted candidate there.

    python -m core.roformer_sim.evaluate shown --inputs benchmarks/everyday_sentences.txt --out OUT.jsonl
    python benchmarks/reader_share.py OUT.jsonl [--accepted benchmarks/everyday_reader_accepted.txt] [--judge [--judge-dir DIR]]

The accepted list holds every candidate the reader judged fluent and meaning-keeping (one a line, '#' comments); a shown
candidate not in it counts as rejected, so the shares are only meaningful for outputs the reader has read (the file says
which). With ``--judge`` also the bundled fluency judge (or the one fitted into ``--judge-dir``) on the same candidates:
how many it passes, how many of the reader's rejects it passes, and how well its score ranks accepted above rejected
ones (AUC). Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

from core.roformer_sim.generate import FINAL_PARTICLES

TOP = 5
# What a paraphrase may add or drop and still be the input: punctuation, then sentence-final particles.
PUNCTUATION = re.compile(r"[\s，。！？、；：,.!?;:…]+")


def core_text(text: str) -> str:
    """The text without punctuation and without the particles at its end."""
    return PUNCTUATION.sub("", text).rstrip(FINAL_PARTICLES)


def reader_shares(shown: list[dict], accepted: set[str]) -> dict:
    """Shares over ``evaluate shown``'s lines ({"input", "shown"}) of the accepted top-five candidates and inputs."""
    tops = [row["shown"][:TOP] for row in shown]
    candidates = sum(len(top) for top in tops)
    rewritten = sum(text in accepted and core_text(text) != core_text(row["input"]) for row, top in zip(shown, tops) for text in top)
    return {
        "inputs": len(tops),
        f"top{TOP}_accepted_share": round(sum(text in accepted for top in tops for text in top) / max(candidates, 1), 4),
        # accepted ones that change more than punctuation and final particles
        f"top{TOP}_accepted_rewrite_share": round(rewritten / max(candidates, 1), 4),
        f"inputs_with_accepted_in_top{TOP}": round(sum(any(text in accepted for text in top) for top in tops) / max(len(tops), 1), 4),
    }


def judge_agreement(texts: list[str], accepted: set[str], judge_dir: Path | None = None) -> dict:
    """The bundled judge (or the one in ``judge_dir``) against the reader on these candidates."""
    import numpy as np

    from core.roformer_sim.fluency import ASSET_DIR, FluencyJudge

    judge = FluencyJudge(judge_dir or ASSET_DIR)
    scores = np.asarray(judge.scores(texts))
    reader = np.array([text in accepted for text in texts])
    kept, rejected = scores[reader], scores[~reader]
    pairs = (kept[:, None] > rejected[None, :]) + 0.5 * (kept[:, None] == rejected[None, :])
    return {"judge_passes": int((scores >= judge.threshold).sum()), "reader_rejects": int((~reader).sum()),
            "judge_passes_among_reader_rejects": int((rejected >= judge.threshold).sum()),
            "judge_auc_reader": round(float(pairs.mean()), 3) if pairs.size else None}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("shown", type=Path, help="the JSON-lines file of evaluate shown")
    parser.add_argument("--accepted", type=Path, default=Path(__file__).with_name("everyday_reader_accepted.txt"))
    parser.add_argument("--judge", action="store_true", help="also score the candidates with the bundled fluency judge")
    parser.add_argument("--judge-dir", type=Path, default=None, help="with --judge: a judge folder of fluency build instead")
    args = parser.parse_args()
    accepted = {line.strip() for line in args.accepted.read_text(encoding="utf-8").splitlines()
                if line.strip() and not line.startswith("#")}
    shown = [json.loads(line) for line in args.shown.read_text(encoding="utf-8").splitlines() if line.strip()]
    result = reader_shares(shown, accepted)
    if args.judge:
        result.update(judge_agreement([text for row in shown for text in row["shown"][:TOP]], accepted, args.judge_dir))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
