"""The bundled checkpoint, the evaluation command and the tab's handlers, end to end."""

import json

import gradio as gr
import pytest

from core import checkpoints
from core.math_solver import confidence, evaluate, model, normalize, solvers
from core.math_solver.solution import Solution, read_candidate
from demos import math_solver as tab
from demos.common import guarded

pytestmark = pytest.mark.usefixtures("one_torch_thread")

ASSET = checkpoints.spec("math_solver").asset_dir


@pytest.fixture(scope="module")
def solver():
    return checkpoints.load("math_solver", model.load, checkpoints.BUNDLED)


def test_bundle_fits_the_size_limits():
    files = [p for p in ASSET.iterdir() if p.is_file()]
    assert {"config.json", "model.safetensors", "vocab.txt", "MODEL_CARD.md"} <= {p.name for p in files}
    assert all(p.stat().st_size <= 9.5 * 2**20 for p in files)
    assert sum(p.stat().st_size for p in files) <= 10 * 2**20
    assert json.loads((ASSET / "config.json").read_text())["model_type"] == "t5"


def test_solves_a_simple_problem(solver):
    """The bundled model is weak (see its card): the right equation is among its 3 beams, not always first."""
    solution = solver.solve("学校把135本练习本平均分给3个班，每班多少本？", beams=3)
    assert "135 ÷ 3" in [c.equation for c in solution.candidates]
    assert solution.answer.value == solution.best.value == normalize.parse_answer(solution.best.equation.replace(" ", ""))
    for candidate in solution.candidates:  # every beam uses the problem's own numbers, substituted back
        assert set(candidate.written) <= set("N0123456789.+-*/^()%")
        assert "N" not in candidate.equation
        # the sequence log-prob is the per-token mean times the tokens written, end of sequence included
        assert candidate.log_prob == pytest.approx(candidate.score * len(solver.tokenizer.encode(candidate.written, 64)))


def test_tab_handler_and_its_messages(solver):
    normalised, answer, rows = tab.solve("学校把135本练习本平均分给3个班，每班多少本？", 3)
    assert "学校把N0本练习本平均分给N1个班" in normalised and "**N0** = 135" in normalised
    assert "## Answer: " in answer and "3 beams" in answer and "Equation:" in answer
    assert len(rows) == 3 and "135 ÷ 3" in [row[1] for row in rows] and "marks a percent" not in normalised
    normalised, _, _ = tab.solve("一件上衣原价480元，现在降价20%，便宜了多少元？", 3)
    assert "降价N1%" in normalised and "**N1** = 20%" in normalised and "marks a percent" in normalised
    for bad, message in [("", "empty"), ("一共有多少个苹果？", "no numbers"), ("有1个" * 200, "too long")]:
        with pytest.raises(gr.Error, match=message):
            guarded(tab.solve)(bad, 3)


def test_no_answer_note():
    problem = normalize.encode_problem("有5个苹果")
    failed = Solution(problem, (read_candidate("N0/(N0-N0)", -0.5, -4.0, problem),))
    text = tab.answer_markdown(failed, 12.0)
    assert "## No answer" in text and "division by zero" in text


def test_notes_when_the_answer_is_not_the_top_beam():
    problem = normalize.encode_problem("一件上衣的售价是480元，比原价降低了20%，原价多少元？")
    read = lambda *beams: Solution(problem, tuple(read_candidate(text, -0.1 * k, -k, problem) for k, text in enumerate(beams)))
    text = tab.answer_markdown(read("N1-N0", "N0/(N1-N1)", "N0/(1-N1)"), 12.0)
    assert "## Answer: 600" in text and "Beams 1–2 could not be evaluated or gave no plausible answer" in text
    assert "this answer comes from beam 3" in text and "No beam gave" not in text
    text = tab.answer_markdown(read("N1-N0"), 12.0)
    assert "No beam gave a plausible answer" in text and "comes from beam" not in text
    ranked = Solution(problem, read("N0*(1-N1)", "N0/(1-N1)").candidates, (0.2, 0.6))
    assert "The ranker prefers beam 2 (its chance of being right: 60%, beam 1: 20%)" in tab.answer_markdown(ranked, 12.0)
    assert [row[-1] for row in tab.candidate_rows(ranked)] == ["20%", "60%"]
    unranked = tab.candidate_rows(read("N1-N0"))  # no ranker: no ranker column
    assert len(unranked[0]) == len(tab.CANDIDATE_COLUMNS) and unranked[0][-1] == "N1-N0"
    import gradio as gr  # the tab's table keeps a header only for the columns a row has

    table = gr.Dataframe(headers=["#"] + [header for header, _, _ in tab.CANDIDATE_COLUMNS])
    assert table.postprocess(unranked).headers[-1] == "model wrote"
    assert table.postprocess(tab.candidate_rows(ranked)).headers[-1] == "ranker: chance right"
    implausible_choice = Solution(problem, read("N0/(1-N1)", "N1-N0").candidates, (0.3, 0.6))
    text = tab.answer_markdown(implausible_choice, 12.0)
    assert "though beam 1 gives a plausible one" in text and "No beam gave" not in text
    rows = tab.candidate_rows(read("N1-N0", "N0/(1-N1)"))
    assert rows[0][2] == "-2399/5 = -479又4/5 (not a plausible answer)" and rows[1][2] == "600"


def test_working_confidence_and_beams_table():
    problem = normalize.encode_problem("一件上衣的售价是480元，比原价降低了20%，原价多少元？")
    read = lambda *beams: Solution(problem, tuple(read_candidate(text, lp / 8, lp, problem) for text, lp in beams))
    sure = read(("N0/(1-N1)", -0.2), ("N0*(1-N1)", -2.0), ("N0/(100-N1*100)*100", -3.0))
    text = tab.answer_markdown(sure, 12.0)
    assert "**Working:**\n\n1. 1 − 20% = 80%\n2. 480 ÷ 80% = 600" in text
    assert "**Confidence:** the model gives this answer **87%** probability (beams 1, 3 agree)" in text
    assert "Unsure" not in text
    unsure = tab.answer_markdown(read(("N0/(1-N1)", -1.5), ("N0*(1-N1)", -1.6)), 12.0)
    assert "Unsure: check this one" in unsure and "only **22%** probability (beam 1;" in unsure
    assert "Working:" in unsure
    headers = ["#"] + [header for header, _, _ in tab.CANDIDATE_COLUMNS]
    rows = [dict(zip(headers, row)) for row in tab.candidate_rows(sure)]
    assert [row["gives the answer"] for row in rows] == ["✓", "", "✓"]
    assert [row["probability"] for row in rows] == ["82%", "14%", "5.0%"] and rows[1]["value"] == "384"
    assert tab.working_markdown(read(("N0", -0.1))).startswith("**Working:** the equation is a number")


def test_score_counts_the_answer_the_first_evaluating_beam_and_the_oracle():
    problem = normalize.encode_problem("一件上衣的售价是480元，比原价降低了20%，原价多少元？")
    beams = ("N1-N0", "N0*(1-N1)", "N0/(1-N1)")  # −479.8 (implausible), 384 (plausible, wrong), 600 (right)
    solution = Solution(problem, tuple(read_candidate(text, -0.1, -1.0, problem) for text in beams))
    counts = evaluate.score([solution, None], [{"ans": "600"}, {"ans": "1"}])
    # exp(-1) × 2 = 0.74 of probability gives 384: sure; a refused problem is unsure
    assert counts == {"correct": 0, "valid": 1, "rule_correct": 0, "first_evaluating_correct": 0,
                      "most_probable_value_correct": 0, "some_beam_correct": 1, "unsure": 1, "unsure_correct": 0}
    assert evaluate.score([solution], [{"ans": "384"}])["correct"] == 1
    shares = evaluate.metrics({**counts, "correct": 1}, 2)
    assert shares["accuracy"] == 0.5 and shares["unsure_share"] == 0.5
    assert shares["accuracy_when_sure"] == 1.0 and shares["accuracy_when_unsure"] == 0.0


def test_the_vote_picks_the_value_whose_plausible_beams_are_most_probable_together():
    problem = normalize.encode_problem("一件上衣的售价是480元，比原价降低了20%，原价多少元？")
    written = (("N1-N0", -0.1), ("N0*(1-N1)", -0.5), ("N0/(1-N1)", -1.0), ("N0/(1-N1)*1", -1.0))
    solution = Solution(problem, tuple(read_candidate(text, lp, lp, problem) for text, lp in written))
    assert solution.best.value == 384  # the best plausible beam; −479.8 is not plausible
    assert confidence.most_probable_value(solution) == 600  # 2·e^−1 = 0.74 against e^−0.5 = 0.61
    counts = evaluate.score([solution], [{"ans": "600"}])
    assert counts["most_probable_value_correct"] == 1 and counts["correct"] == 0
    implausible_only = Solution(problem, solution.candidates[:1])
    assert confidence.most_probable_value(implausible_only) == implausible_only.candidates[0].value


def test_examples_come_from_the_test_set(shared_data):
    examples = tab.test_set_examples()
    test_texts = {json.loads(line)["original_text"] for line in (shared_data / "ape210k" / "test.ape.json").open()}
    assert len(examples) == tab.N_EXAMPLES and set(examples) <= test_texts


def test_evaluate_command_prints_metrics_last(shared_data, capsys):
    evaluate.main(["--data", str(shared_data / "ape210k" / "test.ape.json"), "--limit", "24", "--beams", "2"])
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["n"] + result["unscored"] == 24
    assert 0 <= result["accuracy"] <= result["valid_expression_rate"] <= 1 and result["valid_expression_rate"] > 0.5
    assert max(result["accuracy"], result["first_evaluating_beam_accuracy"]) <= result["some_beam_correct"] <= 1
    assert result["rule_accuracy"] <= result["some_beam_correct"]
    if solvers.load(checkpoints.locate("math_solver", checkpoints.BUNDLED)).ranker:  # the ranker and its fit are reported
        assert result["ranker"]["dev_accuracy_2_fold"] > 0.3
    else:  # answered by the fixed rule
        assert result["ranker"] is None and result["accuracy"] == result["rule_accuracy"]


def test_a_ranker_fitted_to_other_weights_is_not_used(tmp_path):
    bundled = checkpoints.locate("math_solver", checkpoints.BUNDLED)
    for name in ("config.json", "model.safetensors", "vocab.txt", "ranker.json"):
        (tmp_path / name).write_bytes((bundled / name).read_bytes())
    assert model.load(tmp_path).ranker is not None
    saved = json.loads((tmp_path / "ranker.json").read_text())
    saved["about"]["model_fingerprint"] = "0" * 16
    (tmp_path / "ranker.json").write_text(json.dumps(saved))
    assert model.load(tmp_path).ranker is None


def test_the_bundled_solver_ranks_its_beams_with_its_ranker():
    solver = checkpoints.load("math_solver", model.load, checkpoints.BUNDLED)
    solution = solver.solve("学校把135本练习本平均分给3个班，每班多少本？", beams=3)
    assert solver.ranker is not None and len(solution.ranker_probabilities) == 3
    assert all(0 < p < 1 for p in solution.ranker_probabilities) and solution.answer.answer == "45"


def test_evaluate_reports_each_file_and_all(tmp_path, capsys):
    """A Math23K-style JSON array and an xz-compressed JSON Lines file: accuracy per file and over both."""
    import lzma

    problems = [{"original_text": "学校把135本练习本平均分给3个班，每班多少本？", "equation": "x=135/3", "ans": "45"},
                {"original_text": "他有5个苹果，又买了2个，一共有几个？", "equation": "x=5+2", "ans": "7"},
                {"original_text": "一共有多少个苹果？", "equation": "x=1", "ans": "1"},  # no numbers: refused, wrong
                {"original_text": "有5个苹果", "equation": "x=5", "ans": "五"}]  # unscored
    array = tmp_path / "testset.json"
    array.write_text(json.dumps(problems[:2], ensure_ascii=False), encoding="utf-8")
    lines = tmp_path / "full.jsonl.xz"
    with lzma.open(lines, "wt", encoding="utf-8") as handle:
        handle.write("\n".join(json.dumps(p, ensure_ascii=False) for p in problems[2:]))
    evaluate.main(["--test", str(array), str(lines), "--format", "math23k", "ape210k", "--beams", "2"])
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    per_source = result["per_source"]
    assert list(per_source) == [f"{tmp_path.name}/testset", f"{tmp_path.name}/full"]
    assert per_source[f"{tmp_path.name}/testset"]["n"] == 2 and per_source[f"{tmp_path.name}/full"]["n"] == 1
    assert per_source[f"{tmp_path.name}/full"]["accuracy"] == 0 and per_source[f"{tmp_path.name}/full"]["unscored"] == 1
    assert result["n"] == 3 and result["unscored"] == 1 and result["data"] == [str(array), str(lines)]
    assert result["accuracy"] == round(per_source[f"{tmp_path.name}/testset"]["accuracy"] * 2 / 3, 4)
    assert per_source[f"{tmp_path.name}/full"]["unsure_share"] == 1  # the refused problem
    with pytest.raises(SystemExit):
        evaluate.parse_args(["--test", str(array), str(lines), str(array), "--format", "math23k", "ape210k"])
