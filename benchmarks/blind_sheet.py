"""A reading sheet for a blind comparison of two paraphrase outputs: per input, the shown top five of both files of
``evaluate shown`` pooled, duplicates merged, shuffled with a fixed seed, no model named. One line per candidate:
``id<TAB>input<TAB>candidate``. The reader's accepted candidates go into a list for ``benchmarks/reader_share.py``.

    python benchmarks/blind_sheet.py A.jsonl B.jsonl SHEET.tsv [--seed 42]
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("first", type=Path)
    parser.add_argument("second", type=Path)
    parser.add_argument("sheet", type=Path)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()
    read = lambda path: [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]  # noqa: E731
    rng = random.Random(args.seed)
    rows = []
    for a, b in zip(read(args.first), read(args.second), strict=True):
        if a["input"] != b["input"]:
            raise ValueError(f"the two files list different inputs: {a['input']!r} vs {b['input']!r}")
        pool = sorted(set(a["shown"][:5]) | set(b["shown"][:5]))
        rng.shuffle(pool)
        rows += [(a["input"], candidate) for candidate in pool]
    args.sheet.write_text("".join(f"{i}\t{text}\t{candidate}\n" for i, (text, candidate) in enumerate(rows)), encoding="utf-8")
    print(json.dumps({"candidates": len(rows)}))


if __name__ == "__main__":
    main()
