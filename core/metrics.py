"""The measured scores of each bundled model, in one machine-readable file per asset folder.

``assets/<model>/metrics.json`` maps a measurement's key to what was measured (label, value shown
to people, the raw numbers), by which command, when and on what hardware, next to the published
anchor. The model's ``evaluate`` command writes an entry when given ``--record``. Everything people
read is rendered from these files: the number in each tab's intro (``figure``), the score table of each model
card and the results table of docs/results.md (``python -m core.metrics`` rewrites both between their
``<!-- metrics:... -->`` markers; ``--check`` fails when they disagree with the files).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import re
import shlex
import sys
from pathlib import Path

from core import checkpoints
from core.checkpoints import ASSETS_DIR, BUNDLED, MODELS, REPO_ROOT

METRICS_FILE = "metrics.json"
RESULTS = REPO_ROOT / "docs" / "results.md"


def metrics_path(model: str) -> Path:
    return ASSETS_DIR / model / METRICS_FILE


def load(model: str) -> dict[str, dict]:
    """The model's measurements by key, in the order they were first recorded; {} when none."""
    path = metrics_path(model)
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}


def hardware() -> str:
    import torch

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    accelerator = f"GPU {torch.cuda.get_device_name(0)}" if torch.cuda.is_available() else "no GPU"
    return f"{cores} CPU cores ({platform.machine()}), {accelerator}, torch {torch.__version__}"


def command_line(module: str, argv: list[str] | None) -> str:
    args = sys.argv[1:] if argv is None else argv
    return " ".join(["python -m", module, *map(shlex.quote, args)])


def add_record_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--record", action="store_true",
                        help="store the result in assets/<model>/metrics.json (the bundled checkpoint only), "
                             "then rerun `python -m core.metrics` to refresh the card and docs/results.md")


def check_recordable(args: argparse.Namespace, model: str) -> None:
    """``--record`` describes the bundled model in assets/<model>/: refuse it for any other checkpoint (a
    ``--checkpoint``, the ``<MODEL>_CHECKPOINT`` override, or the Hub fallback when the bundle is missing)."""
    if not getattr(args, "record", False):
        return
    if getattr(args, "checkpoint", None) not in (None, BUNDLED):
        raise SystemExit("--record stores the numbers of the bundled model; drop --checkpoint (or copy the "
                         "checkpoint into assets/ first)")
    spec = checkpoints.spec(model)
    if checkpoints.override(model):
        raise SystemExit(f"--record stores the numbers of the bundled model in {spec.asset_dir}; "
                         f"unset {spec.env_var}, which points elsewhere")
    if not (spec.asset_dir / "config.json").is_file():
        raise SystemExit(f"--record: no bundled model in {spec.asset_dir}")


def counted(n: int, limit: int | None, unit: str) -> str:
    """``first 300 games`` when ``limit`` cut the data to ``n`` items, else ``all 1,299 games``."""
    return f"{'first' if limit and n >= limit else 'all'} {n:,} {unit}"


def record(model: str, key: str, *, label: str, value: str, raw: dict, command: str, anchor: str = "–") -> dict:
    """Store one measurement of the bundled model (replacing an older one with the same key)."""
    entry = {"label": label, "value": value, "anchor": anchor, "command": command,
             "date": dt.date.today().isoformat(), "hardware": hardware(), "raw": raw}
    entries = load(model)
    entries[key] = entry
    path = metrics_path(model)
    path.write_text(json.dumps(entries, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    return entry


def figure(model: str, key: str, field: str) -> float | None:
    """One number of the recorded measurement ``key`` (``field``: a dotted path into its raw numbers, e.g.
    ``spearman.avg``), for a tab's one-line claim; None when it has not been recorded."""
    value = load(model).get(key, {}).get("raw")
    for part in field.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def _cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def card_table(model: str) -> str:
    if not load(model):
        return "_Not recorded yet: run the evaluate commands with `--record`, then `python -m core.metrics`._"
    rows = ["| metric | ours | command | date, hardware | published anchor |", "|---|---|---|---|---|"]
    for e in load(model).values():
        rows.append(f"| {_cell(e['label'])} | **{_cell(e['value'])}** | `{_cell(e['command'])}` | "
                    f"{e['date']}, {_cell(e['hardware'])} | {_cell(e['anchor'])} |")
    return "\n".join(rows)


def results_table() -> str:
    rows = ["| model | metric | ours | command | date | published anchor |", "|---|---|---|---|---|---|"]
    for model in MODELS:
        for e in load(model).values():
            rows.append(f"| {model} | {_cell(e['label'])} | **{_cell(e['value'])}** | `{_cell(e['command'])}` | "
                        f"{e['date']} | {_cell(e['anchor'])} |")
    return "\n".join(rows)


def replace_block(text: str, name: str, content: str) -> str:
    """``text`` with what lies between ``<!-- metrics:NAME -->`` and ``<!-- /metrics:NAME -->`` replaced."""
    pattern = re.compile(rf"(<!-- metrics:{name} -->\n).*?(<!-- /metrics:{name} -->)", re.S)
    if not pattern.search(text):
        raise ValueError(f"no <!-- metrics:{name} --> ... <!-- /metrics:{name} --> block to fill")
    return pattern.sub(lambda m: m.group(1) + content + "\n" + m.group(2), text)


def rendered() -> dict[Path, str]:
    """Every document with its metrics blocks filled from the metrics files (cards without a block are
    skipped until their bundle has measurements)."""
    out = {RESULTS: replace_block(RESULTS.read_text(encoding="utf-8"), "results", results_table())}
    for model in MODELS:
        card = ASSETS_DIR / model / "MODEL_CARD.md"
        if card.is_file() and "<!-- metrics:scores -->" in card.read_text(encoding="utf-8"):
            out[card] = replace_block(card.read_text(encoding="utf-8"), "scores", card_table(model))
    return out


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--check", action="store_true", help="exit 1 when a document disagrees with the metrics files")
    args = p.parse_args(argv)
    stale = [path for path, text in rendered().items() if path.read_text(encoding="utf-8") != text]
    if args.check:
        if stale:
            sys.exit("out of date with the metrics files: " + ", ".join(str(p.relative_to(REPO_ROOT)) for p in stale)
                     + "; run `python -m core.metrics`")
        return
    for path, text in rendered().items():
        path.write_text(text, encoding="utf-8")
    print(json.dumps({"rewritten": [str(p.relative_to(REPO_ROOT)) for p in stale]}))


if __name__ == "__main__":
    main()
