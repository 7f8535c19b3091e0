"""The two solvers behind one loader: the T5 (``core.math_solver.model``) and the tree decoder (``core.math_solver.tree``).

The bundle ``assets/math_solver/`` holds the T5 and, in its ``tree/`` folder, the tree model. The bundled solver the
tab and ``evaluate`` use is the one whose recorded held-out dev accuracy (``metrics.json``: ``dev_beams3`` for the T5,
``tree_dev_beams5`` for the tree model, written by ``evaluate --dev --record``) is higher; any other checkpoint
directory loads as what its ``config.json`` says it is.
"""

from __future__ import annotations

import json
from pathlib import Path

from core.math_solver import model, tree

SOLVERS = {"t5": model.Solver, "tree": tree.TreeSolver}
KINDS = tuple(SOLVERS)
TREE_FOLDER = "tree"
DEV_KEYS = {"t5": "dev_beams3", "tree": "tree_dev_beams5"}  # the dev measurements the choice compares
METRICS_FILE = "metrics.json"


def recorded_dev_accuracy(bundle: Path, kind: str) -> float | None:
    path = Path(bundle) / METRICS_FILE
    entry = json.loads(path.read_text(encoding="utf-8")).get(DEV_KEYS[kind]) if path.is_file() else None
    return entry["raw"]["accuracy"] if entry else None


def preferred_kind(bundle: Path | str) -> str:
    """``tree`` when the bundle has a tree model whose recorded dev accuracy beats the T5's, else ``t5``."""
    bundle = Path(bundle)
    if not tree.is_tree_checkpoint(bundle / TREE_FOLDER):
        return "t5"
    tree_score, t5_score = recorded_dev_accuracy(bundle, "tree"), recorded_dev_accuracy(bundle, "t5")
    return "tree" if tree_score is not None and (t5_score is None or tree_score > t5_score) else "t5"


def default_beams(bundle: Path | str) -> int:
    """The beam count the tab starts with: that of the bundle's preferred solver."""
    return SOLVERS[preferred_kind(bundle)].default_beams


def load(directory: Path | str, device="cpu", kind: str | None = None):
    """Loader for ``core.checkpoints.load("math_solver", load)``: a tree checkpoint as the tree solver; a bundle
    directory as its ``kind`` of solver (default :func:`preferred_kind`); anything else as the T5 solver."""
    directory = Path(directory)
    if tree.is_tree_checkpoint(directory):
        return tree.load(directory, device)
    if kind not in (None, *KINDS):
        raise ValueError(f"unknown solver {kind!r}: use one of {', '.join(KINDS)}")
    if (kind or preferred_kind(directory)) == "tree":
        if not tree.is_tree_checkpoint(directory / TREE_FOLDER):
            raise ValueError(f"{directory} has no tree model in {TREE_FOLDER}/")
        return tree.load(directory / TREE_FOLDER, device)
    return model.load(directory, device)


def unranked(directory: Path | str, kind: str | None = None):
    """The solver of a checkpoint without its ranker: what a ranker is fitted on."""
    solver = load(directory, kind=kind)
    solver.ranker = None
    return solver
