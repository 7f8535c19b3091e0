"""Measure Perturbed Masking against gold data; the last stdout line is one JSON object.

    python -m core.perturbed_masking.evaluate segment --gold ../shared/data/sighan2005_icwb2/pku_test_gold.utf8
    python -m core.perturbed_masking.evaluate parse --conllu ../shared/data/ud_chinese_gsdsimp/zh_gsdsimp-ud-dev.conllu
    python -m core.perturbed_masking.evaluate tune --write     # fit the read-out, choose rule, layer and thresholds on the People's Daily dev slice
    python -m core.perturbed_masking.evaluate mlm              # held-out MLM accuracy, as the trainer reports it

``segment`` scores word precision/recall/F1 by character spans, with jieba on the same
sentences. ``parse`` decodes dependency trees over the gold words (punctuation excluded from
the trees and the score) and scores UAS next to the left- and right-chain baselines; with
``--root gold`` every tree, the chains included, is given the gold root word (the paper's protocol).
``tune`` never sees the evaluation sets: it uses the People's Daily lines held out from MLM
training (the fitted rule's read-out is fitted on the first ``--fit-lines`` of them, every choice is
made on the rest) and writes the chosen defaults into the checkpoint's ``segmentation.json``. ``mlm``
re-measures the trainer's final number (accuracy on a fixed masking of those held-out lines) on a
checkpoint written by ``core.perturbed_masking.train``. ``--record`` (after ``segment``, ``parse``
or ``mlm``) stores the bundled model's result in its metrics file.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from core import checkpoints, metrics
from core.perturbed_masking import impact, model, readout, segment, trees
from core.perturbed_masking.data import (DATA_DIR, DEV_LINES, MASK_RATE, SEQ_CHARS, ConlluSentence, encode, pack_chunks, people_daily_lines,
                                         people_daily_path, people_daily_sentences, read_conllu, read_gold_segmentation,
                                         split_people_daily)
from core.perturbed_masking.model import read_vocab

MODEL = "perturbed_masking"
PKU_TEST = DATA_DIR / "sighan2005_icwb2" / "pku_test_gold.utf8"
UD_DEV = DATA_DIR / "ud_chinese_gsdsimp" / "zh_gsdsimp-ud-dev.conllu"


def load_encoder(source: str | None) -> impact.Encoder:
    return checkpoints.load(MODEL, model.load, source)


def evaluate_segmentation(encoder, sentences, layer, threshold, rule, other_rules: dict[str, float] | None = None) -> dict:
    """Word P/R/F1 of one rule, with jieba's F1 and (cheap: the same analyses) the F1 of ``other_rules`` at their thresholds."""
    ours, baseline = segment.SpanCounts(), segment.SpanCounts()
    others = {other: segment.SpanCounts() for other in other_rules or {}}
    for words in tqdm(sentences, desc="segment", mininterval=10):
        text = "".join(words)
        analysis = segment.analyse(encoder, text)
        ours.add(analysis.words(layer, threshold, rule), words)
        for other, counts in others.items():
            counts.add(analysis.words(layer, other_rules[other], other), words)
        baseline.add(segment.jieba_words(text), words)
    return {**ours.scores(), "jieba_f1": baseline.scores()["f1"], "sentences": len(sentences), "layer": layer, "rule": rule,
            "threshold": threshold, "other_rules_f1": {other: counts.scores()["f1"] for other, counts in others.items()}}


def best_threshold(analysed, layer: int, rule: str, thresholds: int) -> tuple[float, float]:
    """(word F1, threshold) of the best of ``thresholds`` score quantiles for one rule and layer."""
    scores = np.concatenate([a.scores(layer, rule) for a, _ in analysed])
    best = (-1.0, 0.0)
    for threshold in np.unique(np.nanquantile(scores, np.linspace(0.02, 0.98, thresholds))):
        counts = segment.SpanCounts()
        for analysis, words in analysed:
            counts.add(analysis.words(layer, float(threshold), rule), words)
        if counts.scores()["f1"] > best[0]:
            best = (counts.scores()["f1"], float(threshold))
    return best


def tune(encoder, sentences, fit_lines: int = 0, thresholds: int = 80, window: int = readout.WINDOW,
         l2: float = readout.L2) -> dict:
    """Fit the read-out (``window``, ``l2``) on the first ``fit_lines`` segmented dev sentences (none: no fitted
    rule), then choose the layer, the rule and every rule's threshold by word F1 on the others.

    The layer (also the trees') is the best one for the unsupervised rules; the fitted rule reads every layer. The
    thresholds are score quantiles, so that switching rules in the tab starts from a tuned value.
    """
    if not 0 <= fit_lines < len(sentences):
        raise ValueError(f"fit_lines must leave sentences to choose on: got {fit_lines} of {len(sentences)}")
    analysed = [(segment.analyse(encoder, "".join(w)), w) for w in tqdm(sentences, desc="tune", mininterval=10)]
    fit_on, choose_on = analysed[:fit_lines], analysed[fit_lines:]
    fitted = readout.fit([(a.gaps, a.gains, words) for a, words in fit_on], window, l2) if fit_on else None
    for analysis, _ in choose_on:
        analysis.readout = fitted
    unsupervised = [rule for rule in segment.JOIN_RULES if rule != "fitted"]
    best = {(rule, layer): best_threshold(choose_on, layer, rule, thresholds)  # (rule, layer) → (f1, threshold)
            for rule in unsupervised for layer in range(encoder.num_layers + 1)}
    layer = max(range(encoder.num_layers + 1), key=lambda l: max(best[r, l][0] for r in unsupervised))
    by_rule = {rule: best[rule, layer] for rule in unsupervised}
    if fitted is not None:
        by_rule["fitted"] = best_threshold(choose_on, layer, "fitted", thresholds)
    rule = max(by_rule, key=lambda r: by_rule[r][0])
    return {
        "rule": rule,
        "layer": layer,
        "threshold": by_rule[rule][1],  # not rounded: it is one of the scores, and rounding could flip that gap
        "thresholds": {r: by_rule[r][1] for r in by_rule},
        "dev_f1": by_rule[rule][0],
        "f1_by_rule": {r: round(f1, 4) for r, (f1, _) in by_rule.items()},
        "f1_by_layer": {r: {l: round(best[r, l][0], 4) for l in range(encoder.num_layers + 1)} for r in unsupervised},
        "readout": fitted.to_json() if fitted else None,
        "fitted_on": len(fit_on),
        "sentences": len(choose_on),
    }


def heads_over(kept: list[int], sub_heads: list[int]) -> dict[int, int]:
    """Map heads decoded over the kept words (1-based within ``kept``) back to sentence indices."""
    return {kept[d] + 1: (kept[h - 1] + 1 if h else 0) for d, h in enumerate(sub_heads)}


def evaluate_parsing(encoder, sentences: list[ConlluSentence], layer: int, gold_root: bool = False) -> dict:
    """UAS of Eisner's trees and of the chain baselines, without punctuation.

    With ``gold_root`` every tree, the chains included, is given the gold root word (the paper's
    default protocol); otherwise the root is the word with the largest total impact.
    """
    correct = {"uas": 0, "right_chain_uas": 0, "left_chain_uas": 0}
    by_layer = np.zeros(encoder.num_layers + 1)
    total = skipped = 0
    for sentence in tqdm(sentences, desc="parse", mininterval=10):
        kept = [i for i, p in enumerate(sentence.punctuation) if not p]
        if len(kept) < 2 or len("".join(sentence.words)) > encoder.max_chars:
            skipped += 1
            continue
        matrices = impact.word_matrix(encoder, sentence.words)
        gold = {i + 1: sentence.heads[i] for i in kept}
        root = next((k + 1 for k, i in enumerate(kept) if sentence.heads[i] == 0), None) if gold_root else None
        predictions = {
            "right_chain_uas": heads_over(kept, trees.chain_heads(len(kept), "right", root)),
            "left_chain_uas": heads_over(kept, trees.chain_heads(len(kept), "left", root)),
        }
        for l in range(len(by_layer)):
            heads = heads_over(kept, trees.dependency_heads(matrices[l][np.ix_(kept, kept)], root))
            by_layer[l] += sum(heads[d] == gold[d] for d in gold)
            if l == layer:
                predictions["uas"] = heads
        for name, heads in predictions.items():
            correct[name] += sum(heads[d] == gold[d] for d in gold)
        total += len(gold)
    return {
        **{name: value / total for name, value in correct.items()},
        "uas_by_layer": {l: round(v / total, 4) for l, v in enumerate(by_layer)},
        "layer": layer,
        "root": "gold" if gold_root else "predicted",
        "sentences": len(sentences) - skipped,
        "skipped": skipped,
        "words_scored": total,
    }


def evaluate_mlm(directory: Path) -> dict:
    """The trainer's held-out MLM accuracy (``model.mlm_accuracy``) on the same lines, chunks and masking,
    with the settings the checkpoint was trained with (``training_metrics.json``; the trainer's defaults else)."""
    from transformers import AutoModelForMaskedLM

    record = directory / "training_metrics.json"
    defaults = {"dev_lines": DEV_LINES, "seq_chars": SEQ_CHARS, "mask_rate": MASK_RATE}
    settings = {**defaults, **(json.loads(record.read_text())["config"] if record.is_file() else {})}
    net = AutoModelForMaskedLM.from_pretrained(directory, dtype=torch.float32).to(checkpoints.device())
    if not hasattr(net, "roformer"):
        raise SystemExit(f"mlm measures RoFormer checkpoints written by core.perturbed_masking.train, not {type(net).__name__}")
    vocab = {token: i for i, token in enumerate(read_vocab(directory))}
    _, dev = split_people_daily(people_daily_lines(people_daily_path()), settings["dev_lines"])
    ids = encode(pack_chunks(dev, settings["seq_chars"], set()), vocab, settings["seq_chars"] + 2)
    return {**model.mlm_accuracy(net, ids, settings["mask_rate"]), "dev_lines": settings["dev_lines"],
            "seq_chars": settings["seq_chars"], "mask_rate": settings["mask_rate"]}


def uses_tuned_defaults(args: argparse.Namespace) -> bool:
    return args.layer is None and args.rule is None and args.threshold is None


def check_record(args: argparse.Namespace) -> None:
    """Before the run: refuse ``--record`` for a run its entry would mislabel."""
    if args.command == "segment" and (args.gold.resolve() != PKU_TEST.resolve() or args.limit is not None):
        raise SystemExit(f"--record segment takes the whole PKU test set ({PKU_TEST}; drop --gold and --limit)")
    if args.command == "parse" and args.conllu.resolve() != UD_DEV.resolve():
        raise SystemExit(f"--record parse takes {UD_DEV} (drop --conllu)")


def record(args: argparse.Namespace, result: dict, argv: list[str] | None) -> None:
    """One entry per command and setting; the segmentation with the tuned defaults is ``pku_test_f1``."""
    command = metrics.command_line("core.perturbed_masking.evaluate", argv)
    if args.command == "segment":
        tuned = uses_tuned_defaults(args)
        reads = "every layer" if result["rule"] == "fitted" else f"layer {result['layer']}"
        setting = f"{result['rule']} rule, {reads}, threshold {result['threshold']:.4g}"
        others = "".join(f"; {other} rule {f1:.3f}" for other, f1 in result["other_rules_f1"].items())
        metrics.record(
            MODEL, "pku_test_f1" if tuned else f"pku_test_f1_{result['rule']}_layer{result['layer']}_threshold{result['threshold']:.4g}",
            label=f"SIGHAN 2005 PKU test word F1, all {result['sentences']:,} lines, {setting}"
                  + (" (the tuned defaults)" if tuned else "") + "; jieba on the same lines",
            value=f"{result['f1']:.3f} (P {result['precision']:.3f}, R {result['recall']:.3f}; jieba {result['jieba_f1']:.3f}{others})",
            raw=result, command=command, anchor="FMM with the PKU dictionary 0.874")
    elif args.command == "parse":
        scope = f"first{args.limit}" if args.limit else "all"
        metrics.record(
            MODEL, f"ud_dev_uas_layer{result['layer']}_{result['root']}_root_{scope}",
            label=f"UD Chinese GSDSimp dev UAS without punctuation, {metrics.counted(result['read'], args.limit, 'sentences')} "
                  f"({result['words_scored']:,} words), layer {result['layer']}, {result['root']} root (chains too)",
            value=f"{result['uas']:.3f} (left chain {result['left_chain_uas']:.3f}, right chain {result['right_chain_uas']:.3f})",
            raw=result, command=command, anchor="41.7 on English PUD (Wu et al. 2020)")
    else:
        metrics.record(
            MODEL, "heldout_mlm_accuracy",
            label=f"held-out MLM accuracy: {result['masked_tokens']:,} masked characters of the last "
                  f"{result['dev_lines']:,} People's Daily lines (never trained on; fixed masking)",
            value=f"{result['mlm_accuracy']:.3f} (loss {result['mlm_loss']:.2f})", raw=result, command=command)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", default=None, help="'bundled', a directory or a Hub id (default: resolution order)")
    commands = parser.add_subparsers(dest="command", required=True)
    seg = commands.add_parser("segment", help="word P/R/F1 against a gold segmentation (words separated by spaces)")
    seg.add_argument("--gold", type=Path, default=PKU_TEST)
    seg.add_argument("--limit", type=int, default=None, help="first N sentences only")
    seg.add_argument("--layer", type=int, default=None, help="default: the checkpoint's tuned layer")
    seg.add_argument("--rule", choices=segment.JOIN_RULES, default=None, help="default: the checkpoint's tuned rule")
    seg.add_argument("--threshold", type=float, default=None, help="default: the checkpoint's tuned threshold for the rule")
    par = commands.add_parser("parse", help="UAS against CoNLL-U gold trees, with chain baselines")
    par.add_argument("--conllu", type=Path, default=UD_DEV)
    par.add_argument("--limit", type=int, default=None)
    par.add_argument("--layer", type=int, default=None)
    par.add_argument("--root", choices=["predicted", "gold"], default="predicted",
                     help="gold: give every tree, chains included, the gold root word (the paper's default protocol)")
    tun = commands.add_parser("tune", help="fit the read-out, then choose rule + layer + thresholds, on the held-out People's Daily lines")
    tun.add_argument("--dev-lines", type=int, default=DEV_LINES, help="size of the held-out slice (as in core.perturbed_masking.train)")
    tun.add_argument("--limit", type=int, default=None, help="first N lines of the slice only")
    tun.add_argument("--fit-lines", type=int, default=700,
                     help="the read-out of the fitted rule is fitted on the first N lines, every choice made on the rest (0: no fitted rule)")
    tun.add_argument("--window", type=int, default=readout.WINDOW, help="gaps on each side whose evidence the read-out reads")
    tun.add_argument("--l2", type=float, default=readout.L2, help="L2 weight of the read-out's fit")
    tun.add_argument("--write", action="store_true", help=f"write {impact.DEFAULTS_FILE} into the checkpoint directory")
    mlm = commands.add_parser("mlm", help="held-out MLM accuracy of a checkpoint written by core.perturbed_masking.train")
    for command in (seg, par, mlm):
        metrics.add_record_option(command)
    args = parser.parse_args(argv)
    metrics.check_recordable(args, MODEL)
    recording = getattr(args, "record", False)
    if recording:
        check_record(args)

    encoder = None if args.command == "mlm" else load_encoder(args.checkpoint)
    if args.command == "mlm":
        result = evaluate_mlm(checkpoints.locate(MODEL, args.checkpoint))
    elif args.command == "segment":
        layer = encoder.defaults.layer if args.layer is None else args.layer
        rule = encoder.defaults.rule if args.rule is None else args.rule
        threshold = encoder.defaults.threshold_of(rule) if args.threshold is None else args.threshold
        tuned = uses_tuned_defaults(args)
        # With the tuned defaults, every other rule at its tuned threshold too (the unsupervised ones next to the fitted one).
        others = {r: t for r, t in encoder.defaults.thresholds.items()
                  if tuned and r != rule and (r != "fitted" or encoder.defaults.readout is not None)}
        result = evaluate_segmentation(encoder, read_gold_segmentation(args.gold, args.limit), layer, threshold, rule, others)
    elif args.command == "parse":
        layer = encoder.defaults.layer if args.layer is None else args.layer
        sentences = read_conllu(args.conllu, args.limit)
        result = {**evaluate_parsing(encoder, sentences, layer, args.root == "gold"), "read": len(sentences)}
    else:
        _, dev = split_people_daily(people_daily_sentences(people_daily_path()), args.dev_lines)
        result = tune(encoder, dev[: args.limit], args.fit_lines, window=args.window, l2=args.l2)
        if args.write:
            directory = checkpoints.locate(MODEL, args.checkpoint)
            fitted = f"; the fitted rule's read-out fitted on lines 1–{result['fitted_on']}" if result["fitted_on"] else ""
            defaults = {"layer": result["layer"], "rule": result["rule"], "thresholds": result["thresholds"],
                        "chosen_on": f"People's Daily 1998-01, last {args.dev_lines} lines (held out from MLM training), "
                                     f"lines {result['fitted_on'] + 1}–{result['fitted_on'] + result['sentences']}{fitted}",
                        "dev_f1": round(result["dev_f1"], 4), "f1_by_rule": result["f1_by_rule"]}
            if result["readout"]:
                defaults["readout"] = result["readout"]
            (directory / impact.DEFAULTS_FILE).write_text(json.dumps(defaults, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    if recording:
        record(args, result, argv)
    print(json.dumps(result, ensure_ascii=False))


if __name__ == "__main__":
    main()
