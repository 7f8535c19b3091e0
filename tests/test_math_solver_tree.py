"""The tree solver on tiny random models: prefix symbols, well-formed trees, stacks under batching, ordered beams,
the trainer end to end, loading through the shared loader, and fuzzed inputs."""

import json
import math

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.math_solver import expression, normalize, solvers, train_tree, tree, weak_labels
from core.math_solver.model import CharTokenizer

CONSTANTS = ("1", "2", "3.14", "100")
TEXTS = ["学校把N0本练习本平均分给N1个班，每班多少本？", "他有N0个苹果，又买了N1个，一共有几个？",
         "一件上衣N0元，降低了N1%，降价了多少元？", "一段布长N0米，剪去N1，又剪去N2米，还剩多少米？"]


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def tiny_model(seed: int = 0, hidden: int = 16) -> tuple[tree.TreeModel, CharTokenizer]:
    torch.manual_seed(seed)
    tokenizer = CharTokenizer.build(TEXTS, min_count=1)
    model = tree.TreeModel(tree.TreeConfig(len(tokenizer), CONSTANTS, embedding=8, hidden=hidden, dropout=0.0))
    return model.eval(), tokenizer


def numbers_in(source: str) -> int:
    return sum(f"N{k}" in source for k in range(normalize.MAX_PLACEHOLDERS))


# ---------------------------------------------------------------------------------------------- prefix symbols


def test_prefix_round_trip_and_rewrites():
    for equation in ("N0/N1", "N0*(1-N1)", "(N0+N1)*N2-3.14", "N0^2/100"):
        symbols = tree.to_prefix(equation, CONSTANTS)
        assert tree.from_prefix(symbols, CONSTANTS) == expression.to_infix(expression.parse(equation))
    assert tree.to_prefix("N0-N1*N2", CONSTANTS) == [1, 0 + len(tree.OPERATORS) + 4, 2, 5 + 4 + 1, 5 + 4 + 2]
    # a percent becomes a division by 100; a constant the model lacks and a unary minus are refused
    assert tree.from_prefix(tree.to_prefix("N0*50%", CONSTANTS + ("50",)), CONSTANTS + ("50",)) == "N0*50/100"
    with pytest.raises(ValueError, match="constant 7"):
        tree.to_prefix("N0*7", CONSTANTS)
    with pytest.raises(ValueError, match="unary minus"):
        tree.to_prefix("-N0+N1", CONSTANTS)
    with pytest.raises(ValueError, match="ends before"):
        tree.from_prefix([0, 9], CONSTANTS)
    with pytest.raises(ValueError, match="left over"):
        tree.from_prefix([9, 10], CONSTANTS)


def test_constant_vocabulary_counts_by_value():
    targets = ["N0*1", "N0*1.0", "N1-1", "N0+2", "N0/(2*100)", "N0*1%", "-N0+7"]
    assert tree.constant_vocabulary(targets, min_count=2) == ("1", "100", "2")


prefix_trees = st.recursive(
    st.one_of(st.sampled_from([f"N{k}" for k in range(5)]), st.sampled_from(CONSTANTS)),
    lambda inner: st.tuples(inner, st.sampled_from(tree.OPERATORS), inner).map(lambda t: f"({t[0]}){t[1]}({t[2]})"),
    max_leaves=8,
)


@given(prefix_trees)
@settings(max_examples=200, deadline=None)
def test_prefix_round_trip_keeps_the_value(equation):
    symbols = tree.to_prefix(equation, CONSTANTS)
    written = tree.from_prefix(symbols, CONSTANTS)
    values = {f"N{k}": normalize.Fraction(k + 2, 3) for k in range(5)}
    try:
        expected = expression.evaluate_tree(expression.substitute(expression.parse(equation), values))
    except ValueError:
        return  # a power too large or a division by zero: no value to keep
    assert expression.evaluate_tree(expression.substitute(expression.parse(written), values)) == expected


# ---------------------------------------------------------------------------------------------- decoding


def test_beams_are_well_formed_and_ordered():
    model, tokenizer = tiny_model()
    memory = model.encode(*tree.encode_sources(tokenizer, TEXTS))
    found = model.beam_search(memory, beams=5)
    assert len(found) == len(TEXTS)
    for source, rows in zip(TEXTS, found):
        assert len(rows) == 5
        log_probs = [row.log_prob for row in rows]
        assert log_probs == sorted(log_probs, reverse=True)
        assert len({tuple(row.symbols) for row in rows}) == 5  # no beam twice
        for row in rows:
            assert row.done and len(row.symbols) <= tree.MAX_NODES
            written = tree.from_prefix(row.symbols, CONSTANTS)  # exactly one complete tree
            used = {int(name[1:]) for name in expression.tokenize(written) if name.startswith("N")}
            assert used <= set(range(numbers_in(source)))  # only numbers the problem has


def test_beam_log_probs_are_the_teacher_forced_ones():
    """A beam's score is the model's log-probability of its symbols: teacher forcing them gives the same number."""
    model, tokenizer = tiny_model(1)
    memory = model.encode(*tree.encode_sources(tokenizer, TEXTS[:1]))
    for row in model.beam_search(memory, beams=3)[0]:
        with torch.no_grad():
            nll = model.loss(model.encode(*tree.encode_sources(tokenizer, TEXTS[:1])), [row.symbols]) * len(row.symbols)
        assert -nll.item() == pytest.approx(row.log_prob, abs=1e-4)


def test_batched_decoding_equals_one_problem_at_a_time():
    model, tokenizer = tiny_model(2)
    together = model.beam_search(model.encode(*tree.encode_sources(tokenizer, TEXTS)), beams=4)
    for source, rows in zip(TEXTS, together):
        alone = model.beam_search(model.encode(*tree.encode_sources(tokenizer, [source])), beams=4)[0]
        assert [row.symbols for row in rows] == [row.symbols for row in alone]
        assert [row.log_prob for row in rows] == pytest.approx([row.log_prob for row in alone], abs=1e-5)


def test_batched_teacher_forcing_equals_one_problem_at_a_time():
    """The stacks of a batch do not leak into each other: the batch loss is the symbol-weighted mean of the losses
    alone, and so are the gradients."""
    model, tokenizer = tiny_model(3)
    targets = [tree.to_prefix(e, CONSTANTS) for e in ("N0/N1", "N0+N1", "N0*(1-N1)", "N0-N0*N1-N2")]
    batch = model.loss(model.encode(*tree.encode_sources(tokenizer, TEXTS)), targets)
    alone = [model.loss(model.encode(*tree.encode_sources(tokenizer, [s])), [t]) for s, t in zip(TEXTS, targets)]
    weights = [len(t) for t in targets]
    assert batch.item() == pytest.approx(sum(w * a.item() for w, a in zip(weights, alone)) / sum(weights), abs=1e-5)


def test_operators_stop_where_the_tree_could_not_close():
    """With every operator logit huge, the decoder writes operators until the tree needs all its symbols to close."""
    model, tokenizer = tiny_model(4)
    with torch.no_grad():
        model.operator_scores.bias.fill_(50.0)
    rows = model.beam_search(model.encode(*tree.encode_sources(tokenizer, TEXTS[:1])), beams=1)[0]
    assert len(rows[0].symbols) in (tree.MAX_NODES, tree.MAX_NODES - 1)
    tree.from_prefix(rows[0].symbols, CONSTANTS)


# ---------------------------------------------------------------------------------------------- solver, training, loading


@given(st.text(max_size=120))
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_any_text_gives_a_solution_or_a_clear_error(text):
    model, tokenizer = tiny_model()
    solver = tree.TreeSolver(model, tokenizer)
    try:
        solution = solver.solve(text, beams=2)
    except ValueError as exc:
        assert "problem" in str(exc)
        return
    assert 1 <= len(solution.candidates) <= 2
    for candidate in solution.candidates:
        assert candidate.equation or candidate.error
        assert math.isfinite(candidate.log_prob) and candidate.log_prob <= 0


@given(st.lists(st.sampled_from("学校把本练习平均分给个班每多少？他有苹果又买了一共几" + "0123456789.%()/"), min_size=1, max_size=60))
@settings(max_examples=40, deadline=None)
def test_fuzzed_problems_with_numbers_batch_like_alone(chars):
    model, tokenizer = tiny_model(5)
    solver = tree.TreeSolver(model, tokenizer)
    text = "".join(chars) + "有3个"
    problem = normalize.encode_problem(text)
    together = solver.solve_many([problem, normalize.encode_problem(TEXTS[0].replace("N0", "12").replace("N1", "4"))], beams=2)
    assert [c.written for c in together[0].candidates] == [c.written for c in solver.solve_many([problem], beams=2)[0].candidates]


def test_beam_count_is_checked():
    solver = tree.TreeSolver(*tiny_model())
    with pytest.raises(ValueError, match="beams must be between 1 and 10"):
        solver.solve("他有5个苹果，又买了2个，一共有几个？", beams=0)


def test_trainer_learns_a_template_and_loads_through_the_shared_loader(tmp_path):
    """A few hundred steps on one template, then the written checkpoint answers through ``solvers.load``."""
    problems = [{"original_text": f"学校把{a * b}本练习本平均分给{b}个班，每班多少本？", "equation": f"x={a * b}/{b}", "ans": str(a)}
                for a in range(2, 14) for b in range(2, 7)]
    train_file = tmp_path / "train.ape.json"
    train_file.write_text("\n".join(json.dumps(p, ensure_ascii=False) for p in problems), encoding="utf-8")
    args = ["--train", str(train_file), "--test", str(tmp_path / "none.json"), "--dev-size", "6", "--hidden", "32",
            "--dropout", "0", "--epochs", "25", "--batch-size", "16", "--warmup", "5", "--lr", "0.01", "--dev-every", "0",
            "--out", str(tmp_path / "model"), "--state-dir", str(tmp_path / "state"), "--threads", "1"]
    train_tree.main(args)
    log = [json.loads(line) for line in (tmp_path / "state" / "log.jsonl").read_text().splitlines()]
    assert log[-1]["event"] == "done" and log[-1]["final_dev_accuracy_greedy"] == 1.0
    solver = solvers.load(tmp_path / "model")
    assert isinstance(solver, tree.TreeSolver) and solver.default_beams == 5
    solution = solver.solve("学校把96本练习本平均分给8个班，每班多少本？")
    assert solution.best.written == "N0/N1" and solution.best.value == 12
    # the same command again resumes the finished run instead of starting over
    train_tree.main(args)
    resumed = [json.loads(line) for line in (tmp_path / "state" / "log.jsonl").read_text().splitlines()][len(log):]
    assert [line["event"] for line in resumed[:2]] == ["data", "resumed"] and "train" not in {line["event"] for line in resumed}

    # Weak labels: answer-only problems labelled by this model's beams (a wrong answer stays unlabelled), then a run
    # started from the checkpoint trains on them with its vocabulary and constants.
    answers_only = [{"id": str(k), "original_text": f"学校把{a * b}本练习本平均分给{b}个班，每班多少本？", "equation": "", "ans": str(a + d)}
                    for k, (a, b, d) in enumerate([(15, 3, 0), (16, 4, 0), (17, 5, 0), (18, 2, 1)])]
    labelled, counts = weak_labels.label(solver, answers_only, beams=1)
    assert counts == {"labelled": 3, "no beam has the answer": 1}
    assert [item["equation"] for item in labelled] == ["x=45/3", "x=64/4", "x=85/5"]
    weak_labels.write_jsonl(labelled, tmp_path / "weak.jsonl")
    start = {name: t.clone() for name, t in solver.model.state_dict().items()}
    continued = [*args[:args.index("--out")], "--out", str(tmp_path / "continued"), "--state-dir", str(tmp_path / "state2"),
                 "--threads", "1", "--init", str(tmp_path / "model"), "--epochs", "1", "--hidden", "8"]
    continued[1:2] = [str(train_file), str(tmp_path / "weak.jsonl")]
    train_tree.main(continued)
    again = solvers.load(tmp_path / "continued")
    assert again.model.config == solver.model.config  # the checkpoint's size wins over --hidden
    assert again.tokenizer.tokens == solver.tokenizer.tokens
    assert any(not torch.equal(again.model.state_dict()[name].float(), t.float()) for name, t in start.items())
    assert again.solve("学校把96本练习本平均分给8个班，每班多少本？").best.value == 12


def test_the_bundle_prefers_the_solver_with_the_higher_recorded_dev_accuracy(tmp_path):
    model, tokenizer = tiny_model()
    tree.save(model, tokenizer, tmp_path / solvers.TREE_FOLDER)
    record = lambda t5, tree_score: (tmp_path / "metrics.json").write_text(json.dumps(
        {**({"dev_beams3": {"raw": {"accuracy": t5}}} if t5 is not None else {}),
         **({"tree_dev_beams5": {"raw": {"accuracy": tree_score}}} if tree_score is not None else {})}))
    record(0.5, 0.7)
    assert solvers.preferred_kind(tmp_path) == "tree"
    assert isinstance(solvers.load(tmp_path), tree.TreeSolver)
    record(0.5, 0.4)
    assert solvers.preferred_kind(tmp_path) == "t5"
    record(0.5, None)
    assert solvers.preferred_kind(tmp_path) == "t5"  # an unmeasured tree model is not preferred
    with pytest.raises(ValueError, match="unknown solver"):
        solvers.load(tmp_path, kind="gpt")
