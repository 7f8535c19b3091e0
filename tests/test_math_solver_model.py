"""Tokenizer, beam reading, and both training paths on tiny models: scratch T5 and an mT5 Hub replica."""

import json
import logging
from fractions import Fraction

import pytest
import torch

from core import checkpoints
from core.math_solver import model as m
from core.math_solver import normalize, ranker, train
from core.math_solver.solution import Solution, read_candidate

PROBLEMS = [
    {"original_text": "学校把135本练习本平均分给3个班，每班多少本？", "equation": "x=135/3", "ans": "45"},
    {"original_text": "他有5个苹果，又买了2个，一共有几个？", "equation": "x=5+2", "ans": "7"},
    {"original_text": "一件上衣480元，降低了20%，降价了多少元？", "equation": "x=480*20%", "ans": "96"},
    {"original_text": "一段布长6米，剪去(2/5)，剪去多少米？", "equation": "x=6*(2/5)", "ans": "(12/5)"},
    {"original_text": "小明有12颗糖，分给4个人，每人几颗？", "equation": "x=12/4", "ans": "3"},
]

pytestmark = pytest.mark.usefixtures("one_torch_thread")



@pytest.fixture()
def problem_files(tmp_path):
    train_file = tmp_path / "train.ape.json"
    train_file.write_text("\n".join(json.dumps(p, ensure_ascii=False) for p in PROBLEMS), encoding="utf-8")
    test_file = tmp_path / "test.ape.json"
    test_file.write_text(json.dumps(PROBLEMS[-1], ensure_ascii=False), encoding="utf-8")
    return train_file, test_file


def test_char_tokenizer_keeps_placeholders_and_digits(tmp_path):
    tok = m.CharTokenizer.build(["每班N0本N12个", "每班N1本"])
    ids = tok.encode("每班N12本3.5%", max_tokens=50)
    assert [tok.tokens[i] for i in ids] == ["每", "班", "N12", "本", "3", ".", "5", "%", "</s>"]
    assert tok.decode(ids) == "每班N12本3.5%"
    assert tok.tokens[tok.encode("鑫", 5)[0]] == "<unk>"
    assert len(tok.encode("一" * 300, 16)) == 16
    tok.save_pretrained(tmp_path)
    assert m.CharTokenizer.from_pretrained(tmp_path).tokens == tok.tokens


def test_best_beam_is_the_first_that_evaluates():
    problem = normalize.encode_problem("学校把135本练习本平均分给3个班，每班多少本？")
    beams = [("N0/(N1-N1)", -0.1), ("N7+1", -0.2), ("N0/N1", -0.3), ("N0*N1", -0.4)]
    solution = Solution(problem, tuple(read_candidate(text, score, 8 * score, problem) for text, score in beams))
    first, second, third, _ = solution.candidates
    assert first.value is None and "division by zero" in first.error and first.equation == "135 ÷ (3 − 3)"
    assert second.value is None and "N7" in second.error and second.equation == ""
    assert solution.best is third and third.value == 45 and third.equation == "135 ÷ 3"
    assert solution.answer.answer == "45"
    nothing = Solution(problem, (first, second))
    assert nothing.best is None and nothing.answer is None


def test_best_beam_prefers_a_plausible_answer():
    problem = normalize.encode_problem("一件上衣的售价是480元，比原价降低了20%，原价多少元？")
    beams = [("N1-N0", -0.1), ("N0*(1-N1)", -0.2), ("N0/(1-N1)", -0.3)]
    solution = Solution(problem, tuple(read_candidate(text, score, 8 * score, problem) for text, score in beams))
    negative, rounded, right = solution.candidates
    assert negative.value < 0 and rounded.value == Fraction(1920, 5)  # 384: plausible, so it wins over the right 600
    assert solution.best is rounded
    assert Solution(problem, (negative, right)).best is right
    assert Solution(problem, (negative,)).best is negative  # nothing plausible: the best beam that evaluates


def test_a_ranker_picks_the_evaluating_beam_it_likes_best():
    problem = normalize.encode_problem("一件上衣的售价是480元，比原价降低了20%，原价多少元？")
    beams = [("N1-N0", -0.1), ("N0*(1-N1)", -0.2), ("N0/(N1-N1)", -0.25), ("N0/(1-N1)", -0.3)]
    candidates = tuple(read_candidate(text, score, 8 * score, problem) for text, score in beams)
    rows = ranker.beam_features(candidates, problem)
    assert len(rows) == 4 and all(len(row) == len(ranker.FEATURES) for row in rows)
    feature = lambda name: [row[ranker.FEATURES.index(name)] for row in rows]
    assert feature("evaluates") == [1.0, 1.0, 0.0, 1.0] and feature("plausible") == [0.0, 1.0, 0.0, 1.0]
    assert feature("uses_every_number") == [1.0, 1.0, 1.0, 1.0] and feature("first_beam") == [1.0, 0.0, 0.0, 0.0]
    # the beam that does not evaluate is never chosen, however much the ranker likes it
    ranked = Solution(problem, candidates, (0.1, 0.2, 0.99, 0.7))
    assert ranked.best is candidates[3] and ranked.best_by_rule is candidates[1] and ranked.answer.answer == "600"
    assert Solution(problem, candidates[2:3], (0.9,)).best is None


def test_ranker_cues_read_what_the_problem_asks():
    problem = normalize.encode_problem("平均每个班有12人，3.5个班一共有多少人？")
    assert normalize.question_of(problem.text) == "3.5个班一共有多少人"  # a decimal point ends no clause
    candidates = tuple(read_candidate(text, -0.1, -0.5, problem) for text in ("N0*N1", "N1/N0", "N1-N0"))
    rows = ranker.beam_features(candidates, problem)
    cue = lambda name: [row[ranker.FEATURES.index(name)] for row in rows]
    assert cue("count_asked_whole") == [1.0, 0.0, 0.0] and cue("count_asked_fraction") == [0.0, 1.0, 1.0]
    assert cue("total_adds_or_multiplies") == [1.0, 0.0, 0.0] and cue("average_divides") == [0.0, 1.0, 0.0]
    assert cue("negative_answer") == [0.0, 0.0, 1.0] and cue("times_asked_divides") == [0.0, 0.0, 0.0]


def test_ranker_fit_learns_which_feature_marks_the_right_beam_and_round_trips(tmp_path):
    rng = torch.Generator().manual_seed(0)
    rows = torch.rand(400, len(ranker.FEATURES), generator=rng)
    labels = (rows[:, ranker.FEATURES.index("answer_mass")] > 0.5).double()
    fitted = ranker.fit(rows.tolist(), labels.tolist(), {"fitted_on": "toy"})
    probabilities = fitted.probabilities(rows.tolist())
    assert sum((p > 0.5) == bool(y) for p, y in zip(probabilities, labels)) >= 390
    fitted.save(tmp_path / "ranker.json")
    loaded = ranker.Ranker.load(tmp_path / "ranker.json")
    assert loaded.probabilities(rows[:5].tolist()) == pytest.approx(probabilities[:5]) and loaded.about == {"fitted_on": "toy"}
    saved = json.loads((tmp_path / "ranker.json").read_text())
    (tmp_path / "other.json").write_text(json.dumps({**saved, "features": ["log_prob"]}))
    with pytest.raises(ValueError, match="other features"):
        ranker.Ranker.load(tmp_path / "other.json")
    with pytest.raises(ValueError, match="as many labels"):
        ranker.fit(rows.tolist(), [1.0])


def test_decoding_is_restricted_to_equation_tokens():
    tok = m.CharTokenizer.build(["每班N0本多少个"] * 2)
    restrict = m.OnlyTokens(tok.equation_ids(), len(tok))
    scores = restrict(None, torch.zeros(1, len(tok)))
    allowed = {tok.tokens[i] for i in torch.nonzero(scores[0] == 0).flatten().tolist()}
    assert allowed == {"</s>", *m.EQUATION_TOKENS}


def test_train_from_scratch_then_solve(problem_files, tmp_path):
    train_file, test_file = problem_files
    out = tmp_path / "model"
    args = ["--train", str(train_file), "--test", str(test_file), "--batch-size", "2", "--dev-every", "2",
            "--dev-size", "1", "--out", str(out), "--state-dir", str(tmp_path / "state"), "--warmup", "1"]
    train.main(args + ["--epochs", "2"])
    log = [json.loads(line) for line in (tmp_path / "state" / "log.jsonl").read_text().splitlines()]
    assert any(e["event"] == "dev" and e["step"] == 2 and "all" in e["dev_accuracy_greedy"] for e in log)
    stats = json.loads((out / "training_stats.json").read_text())
    assert stats["train"] == 3 and stats["dev"] == 1 and stats["dropped"] == {"also in the test set": 1}
    assert stats["steps"] == 4
    train.main(args + ["--epochs", "3"])  # a larger budget resumes at step 4
    assert json.loads((out / "training_stats.json").read_text())["steps"] == 6
    with pytest.raises(ValueError, match="differs in: lr"):  # another recipe never resumes this state
        train.main(args + ["--epochs", "3", "--lr", "1e-2"])

    solver = m.load(out)
    assert type(solver.model).__name__ == "T5ForConditionalGeneration"
    solution = solver.solve("学校把135本练习本平均分给3个班，每班多少本？", beams=3)
    assert len(solution.candidates) == 3
    scores = [c.score for c in solution.candidates]
    assert scores == sorted(scores, reverse=True)
    for candidate in solution.candidates:  # untrained, but it may only write equation symbols
        assert set(m.CharTokenizer._PIECE.findall(candidate.written)) <= set(m.EQUATION_TOKENS)
    greedy = solver.solve("他有5个苹果，又买了2个，一共有几个？", beams=1)
    assert len(greedy.candidates) == 1 and greedy.candidates[0].score <= 0
    with pytest.raises(ValueError, match="beams"):
        solver.solve("有5个苹果", beams=0)
    with pytest.raises(ValueError, match="no numbers"):
        solver.solve("一共有几个苹果？")


def make_mt5_replica(directory, texts):
    """A tiny directory laid out like google/mt5-small: config.json, weights, spiece.model."""
    import sentencepiece as spm
    from transformers import MT5Config, MT5ForConditionalGeneration, T5Tokenizer

    corpus = directory / "corpus.txt"
    corpus.write_text("\n".join(texts * 20), encoding="utf-8")
    spm.SentencePieceTrainer.train(
        input=str(corpus), model_prefix=str(directory / "spiece"), vocab_size=120, character_coverage=1.0,
        hard_vocab_limit=False, pad_id=0, eos_id=1, unk_id=2, bos_id=-1, model_type="unigram",
    )
    corpus.unlink()
    (directory / "spiece.vocab").unlink()
    config = MT5Config(vocab_size=len(T5Tokenizer.from_pretrained(str(directory))), d_model=32, d_kv=8, d_ff=64, num_layers=1, num_decoder_layers=1,
                       num_heads=2, decoder_start_token_id=0, pad_token_id=0, eos_token_id=1)
    MT5ForConditionalGeneration(config).save_pretrained(directory)


def test_fine_tune_mt5_layout_with_init(problem_files, tmp_path):
    """The --init path on a replica of google/mt5-small: MT5 class + T5Tokenizer, found via core.checkpoints."""
    pytest.importorskip("google.protobuf")
    train_file, test_file = problem_files
    hub_like = tmp_path / "mt5-small"
    hub_like.mkdir()
    make_mt5_replica(hub_like, [p["original_text"] for p in PROBLEMS] + ["N0/N1+(N2-N3)*N4%"])
    assert checkpoints.locate("math_solver", str(hub_like)) == hub_like
    out = tmp_path / "tuned"
    train.main(["--init", str(hub_like), "--train", str(train_file), "--test", str(test_file), "--epochs", "1",
                "--batch-size", "2", "--dev-size", "1", "--out", str(out), "--state-dir", str(tmp_path / "state")])
    assert (out / "tokenizer.json").is_file() and json.loads((out / "config.json").read_text())["model_type"] == "mt5"
    solver = m.load(out)
    assert type(solver.model).__name__ == "MT5ForConditionalGeneration"
    assert type(solver.tokenizer).__name__ == "SentencePieceTokenizer"
    encoded = solver.tokenizer.encode("N0/N1+2", 32)
    assert solver.tokenizer.decode(encoded) == "N0/N1+2"
    solution = solver.solve("他有5个苹果，又买了2个，一共有几个？", beams=2)
    assert len(solution.candidates) == 2
    assert all(isinstance(c.value, (Fraction, type(None))) for c in solution.candidates)
