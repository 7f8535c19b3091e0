"""The bundled tree model (``assets/math_solver/tree``) end to end: size limits, the tab's solver, its examples."""

import json

import pytest

from core import checkpoints
from core.math_solver import evaluate, solvers, tree
from demos import math_solver as tab

BUNDLE = checkpoints.spec("math_solver").asset_dir
TREE = BUNDLE / solvers.TREE_FOLDER
pytestmark = [pytest.mark.usefixtures("one_torch_thread"),
              pytest.mark.skipif(not tree.is_tree_checkpoint(TREE), reason="no bundled tree model")]

# The tab's typed examples (shown when the Ape210K test file is absent) and the answers a teacher writes.
EXAMPLE_ANSWERS = ["45", "384", "3.6", "60", "5", "8"]


@pytest.fixture(scope="module")
def solver():
    return solvers.load(BUNDLE, kind="tree")


def test_tree_bundle_fits_the_size_limits():
    files = [p for p in TREE.iterdir() if p.is_file()]
    assert {"config.json", "model.safetensors", "vocab.txt", "training_stats.json"} <= {p.name for p in files}
    assert all(p.stat().st_size <= 9.5 * 2**20 for p in files)
    assert sum(p.stat().st_size for p in files) <= 12 * 2**20


def test_the_tab_uses_the_solver_with_the_higher_recorded_dev_accuracy():
    tree_dev, t5_dev = (solvers.recorded_dev_accuracy(BUNDLE, kind) for kind in ("tree", "t5"))
    assert tree_dev is not None and t5_dev is not None
    expected = "tree" if tree_dev > t5_dev else "t5"
    assert solvers.preferred_kind(BUNDLE) == expected
    assert type(checkpoints.load("math_solver", solvers.load)) is solvers.SOLVERS[expected]


def test_solves_the_tabs_examples(solver):
    assert len(EXAMPLE_ANSWERS) == len(tab.TYPED_EXAMPLES)
    for text, answer in zip(tab.TYPED_EXAMPLES, EXAMPLE_ANSWERS):
        solution = solver.solve(text, beams=solver.default_beams)
        assert solution.answer is not None and solution.answer.answer.replace(" ", "") == answer, (text, solution.best)
        assert len(solution.candidates) == solver.default_beams
        assert [c.log_prob for c in solution.candidates] == sorted((c.log_prob for c in solution.candidates), reverse=True)


def test_evaluate_runs_the_tree_solver_with_its_beams(shared_data, capsys):
    evaluate.main(["--data", str(shared_data / "ape210k" / "test.ape.json"), "--format", "ape210k", "--limit", "40",
                   "--solver", "tree", "--threads", "1"])
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["solver"] == "TreeSolver" and result["beams"] == 5 and result["n"] + result["unscored"] == 40
    assert result["valid_expression_rate"] > 0.95  # every tree is well formed; only a division by zero can fail
    assert 0.2 <= result["accuracy"] <= result["some_beam_correct"]  # never trained on: the test set
