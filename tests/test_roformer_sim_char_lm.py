"""The fluency judge's causal character LM: shapes, batched scoring, the summaries, saving, a toy LM that learns where
a splice is, and its trainer end to end on a tiny prose file."""

from __future__ import annotations

import json
import lzma

import numpy as np
import pytest
import torch

from core.roformer_sim import char_lm, train_char_lm
from core.roformer_sim.char_lm import BOS, EOS, SPECIAL_TOKENS, UNK, CharLM, CharLMConfig

TOY = ["春夏秋冬东南西北", "金木水火土日月星", "一二三四五六七八"]  # three "sentences" whose characters never mix


def tiny(vocab_size: int = 40, block_size: int = 16, seed: int = 0) -> CharLM:
    torch.manual_seed(seed)
    return CharLM(CharLMConfig(vocab_size, block_size, n_layer=2, n_head=2, n_embd=32)).eval()


def toy_index() -> dict[str, int]:
    vocab = [*SPECIAL_TOKENS, *dict.fromkeys("".join(TOY))]
    return {tok: i for i, tok in enumerate(vocab)}


def test_forward_shapes_and_context_limit():
    model = tiny()
    assert model(torch.randint(0, 40, (3, 7))).shape == (3, 7, 40)
    with pytest.raises(ValueError, match="exceed the character LM's context of 16"):
        model(torch.zeros(1, 17, dtype=torch.long))


def test_encode_marks_start_end_and_unknown_characters():
    index = toy_index()
    assert char_lm.encode("春夏猫", index, 16) == [index[BOS], index["春"], index["夏"], index[UNK], index[EOS]]
    long = char_lm.encode("春" * 30, index, 16)
    assert len(long) == 17 and long[-1] == index["春"]  # no </s> when cut: the model predicts 16 tokens after <s>


def test_batched_scoring_equals_one_by_one():
    model, rng = tiny(), np.random.default_rng(0)
    rows = [[2, *rng.integers(4, 40, size=n).tolist(), 3] for n in (1, 5, 12, 3, 14)]
    together = char_lm.token_log_probs(model, rows, batch_size=3)
    for row, scores in zip(rows, together):
        alone = char_lm.token_log_probs(model, [row])[0]
        assert scores.shape == (len(row) - 1,) and np.allclose(scores, alone, atol=1e-5)
        assert (scores < 0).all()


def test_summary_mean_worst_window_and_gain():
    log_probs, unigram = np.array([-1.0, -2.0, -9.0, -0.5, -1.5]), np.full(5, -4.0)
    mean, worst, gain = char_lm.lm_summary(log_probs, unigram, window=2)
    assert mean == pytest.approx(-2.8) and worst == pytest.approx(-5.5) and gain == pytest.approx(1.2)
    assert char_lm.lm_summary(np.array([-3.0]), np.array([-5.0]), window=3) == (-3.0, -3.0, 2.0)  # shorter than a window
    assert all(np.isnan(char_lm.lm_summary(np.zeros(0), np.zeros(0))))


def test_context_gain_averages_what_the_text_before_adds_over_split_points():
    log_probs = np.array([-5.0, -1.0, -1.0, -4.0, -1.0])  # the text's own, after <s>
    suffixes = [np.array([-3.0, -3.0, -4.0, -1.0]), np.array([-2.0, -4.0, -1.0]), np.array([-4.0, -1.0])]
    # split 1: (-1 - 1) - (-3 - 3) = 4; split 2: (-1 - 4) - (-2 - 4) = 1; split 3: (-4 - 1) - (-4 - 1) = 0
    assert char_lm.context_gain(log_probs, suffixes, window=2) == pytest.approx(5 / 3)
    assert char_lm.context_gain(np.array([-2.0, -1.0]), []) == 0.0  # one character: nothing stands before a split


def test_context_gains_read_each_suffix_after_the_start_token():
    index, model = toy_index(), tiny(len(toy_index()))
    text = TOY[0][:5]
    row = char_lm.encode(text, index, 16)
    own = char_lm.token_log_probs(model, [row])[0]
    suffixes = char_lm.token_log_probs(model, [[row[0], *row[i + 1 :]] for i in range(1, len(text))])
    gains = char_lm.context_gains(model, char_lm.read(model, index, [text, "春", TOY[1]]))
    assert gains[0] == pytest.approx(char_lm.context_gain(own, suffixes), abs=1e-6) and gains[1] == 0.0 and gains.shape == (3,)


def test_a_right_to_left_lm_reads_each_text_reversed():
    index, model = toy_index(), tiny(len(toy_index()))
    backward = CharLM(CharLMConfig(len(index), 16, n_layer=2, n_head=2, n_embd=32, reverse=True)).eval()
    backward.load_state_dict(model.state_dict())
    texts = [TOY[0], TOY[1][:5]]
    read_backward, read_reversed = char_lm.read(backward, index, texts), char_lm.read(model, index, [t[::-1] for t in texts])
    assert np.allclose(char_lm.text_summaries(backward, read_backward), char_lm.text_summaries(model, read_reversed))
    assert np.allclose(char_lm.context_gains(backward, read_backward), char_lm.context_gains(model, read_reversed))


def test_both_ways_worst_window_adds_each_characters_two_readings():
    forward = np.array([-1.0, -5.0, -1.0, -2.0, -0.5])  # 4 characters, then </s>
    backward = np.array([-1.0, -1.0, -6.0, -1.0, -0.5])  # the same characters from the end: the 2nd from the left is the 3rd read
    # per character: -2, -11, -2, -3; windows of 2: -6.5, -6.5, -2.5
    assert char_lm.both_ways_worst_window(forward, backward, window=2) == pytest.approx(-6.5)
    assert char_lm.both_ways_worst_window(np.array([-1.0, -1.0]), np.array([-2.0, -1.0])) == pytest.approx(-3.0)  # one character
    assert np.isnan(char_lm.both_ways_worst_window(np.array([-1.0]), np.array([-1.0])))  # no characters
    with pytest.raises(ValueError, match="read 3 and 2 tokens: not the same characters"):
        char_lm.both_ways_worst_window(np.zeros(3), np.zeros(2))


def test_both_ways_worst_windows_align_the_two_readings():
    index = toy_index()
    forward = tiny(len(index), seed=0)
    backward = CharLM(CharLMConfig(len(index), 16, n_layer=2, n_head=2, n_embd=32, reverse=True)).eval()
    text = TOY[2][:6]
    f = char_lm.token_log_probs(forward, [char_lm.encode(text, index, 16)])[0]
    b = char_lm.token_log_probs(backward, [char_lm.encode(text[::-1], index, 16)])[0]
    both = char_lm.both_ways_worst_windows(char_lm.read(forward, index, [text]), char_lm.read(backward, index, [text]))
    assert both[0] == pytest.approx(char_lm.both_ways_worst_window(f, b))
    long = ["春" * 40]  # longer than the context: both read its first 15 characters, with </s>
    assert [len(lp) for _, lp in char_lm.read(backward, index, long)] == [16]
    assert np.isfinite(char_lm.both_ways_worst_windows(char_lm.read(forward, index, long), char_lm.read(backward, index, long))).all()


def test_save_and_load_keep_scores_and_the_unigram_baseline(tmp_path):
    index = toy_index()
    model = tiny(len(index))
    model.unigram_log_probs.copy_(torch.linspace(-9, -1, len(index)))
    model.save_pretrained(tmp_path, list(index), int8=True)
    loaded, loaded_index = char_lm.load(tmp_path)
    assert loaded_index == index
    assert torch.allclose(loaded.unigram_log_probs, model.unigram_log_probs, atol=1e-2)  # fp16 vector
    before = char_lm.text_summaries(model, char_lm.read(model, index, TOY))
    assert np.allclose(char_lm.text_summaries(loaded, char_lm.read(loaded, index, TOY)), before, atol=0.05)  # int8 rows


def test_trained_toy_lm_finds_the_joint_of_a_splice():
    index = toy_index()
    model = tiny(len(index)).train()
    rows = train_char_lm.batch_tensor(*flat([char_lm.encode(t, index, 16) for t in TOY * 4]), range(12))
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    for _ in range(150):
        optimizer.zero_grad()
        train_char_lm.lm_loss(model, rows).backward()
        optimizer.step()
    model.eval()
    spliced = TOY[0][:4] + TOY[1][4:]  # 春夏秋冬土日月星: 冬 is never followed by 土
    readings = char_lm.read(model, index, [TOY[0], spliced])
    real, joined = char_lm.text_summaries(model, readings)
    assert joined[1] < real[1] - 2  # the worst window
    assert joined[0] < real[0]
    real_gain, joined_gain = char_lm.context_gains(model, readings)
    assert joined_gain < real_gain - 1  # 土日月星 is read as well without 春夏秋冬 before it


def flat(rows: list[list[int]]) -> tuple[np.ndarray, np.ndarray]:
    return np.concatenate([np.asarray(r) for r in rows]), np.cumsum([0, *map(len, rows)])


def test_trainer_runs_resumes_and_keeps_the_best_checkpoint(tmp_path, capsys):
    prose = tmp_path / "prose.txt.xz"
    with lzma.open(prose, "wt", encoding="utf-8") as f:
        f.write("\n".join(TOY[i % 3] + "。" for i in range(60)) + "\n")
    common = ["--prose", str(prose), "--work", str(tmp_path / "work"), "--out", str(tmp_path / "model"), "--judge-lines", "6",
              "--dev-lines", "6", "--vocab-size", "20", "--n-layer", "1", "--n-head", "2", "--n-embd", "16", "--batch", "8",
              "--warmup", "2", "--dev-every", "5", "--block-size", "16"]
    first = train_char_lm.main([*common, "--steps", "10"])
    assert first["steps"] == 10 and (tmp_path / "model" / "model.safetensors").is_file()
    second = train_char_lm.main([*common, "--steps", "20"])
    assert second["steps"] == 20 and second["dev_nats_per_token"] <= first["dev_nats_per_token"]
    log = [json.loads(line) for line in (tmp_path / "work" / "log.jsonl").read_text().splitlines()]
    assert any(line["event"] == "resumed" and line["step"] == 10 for line in log)
    model, index = char_lm.load(tmp_path / "model")
    assert len(index) == 20 and model.unigram_log_probs.exp().sum() == pytest.approx(1, abs=0.01)
    assert model.unigram_log_probs[index[EOS]] == pytest.approx(np.log(48 / (528 - 48)), abs=0.01)  # a line's end: 1 in 10
    evaluated = train_char_lm.main([*common, "--evaluate", str(tmp_path / "model")])
    assert evaluated["dev_nats_per_token"] == second["dev_nats_per_token"]
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["dev_tokens"] == evaluated["dev_tokens"]


def test_trainer_continues_a_checkpoint_on_chinese_prose_with_its_vocabulary(tmp_path):
    prose = tmp_path / "prose.txt.xz"
    with lzma.open(prose, "wt", encoding="utf-8") as f:
        f.write("\n".join(TOY[i % 3] for i in range(40)) + "\n")
    (tmp_path / "data" / "chinese_prose").mkdir(parents=True)
    with lzma.open(tmp_path / "data" / "chinese_prose" / "talk.txt.xz", "wt", encoding="utf-8") as f:
        f.write("\n".join("春夏秋冬。一二三四？金木水火" for _ in range(20)) + "\n")  # three sentences a line
    shape = ["--vocab-size", "20", "--n-layer", "1", "--n-head", "2", "--n-embd", "16", "--batch", "8", "--warmup", "2",
             "--dev-every", "5", "--block-size", "16", "--dev-lines", "6"]
    train_char_lm.main([*shape, "--prose", str(prose), "--judge-lines", "4", "--steps", "6", "--work", str(tmp_path / "w1"),
                        "--out", str(tmp_path / "base")])
    continued = train_char_lm.main([*shape, "--init", str(tmp_path / "base"), "--corpus", "chinese_prose", "--data-dir",
                                    str(tmp_path / "data"), "--steps", "6", "--work", str(tmp_path / "w2"), "--out", str(tmp_path / "cont")])
    assert continued["steps"] == 6
    (base, base_index), (model, index) = char_lm.load(tmp_path / "base"), char_lm.load(tmp_path / "cont")
    assert index == base_index and torch.isfinite(model.unigram_log_probs).all()
    assert not torch.allclose(model.unigram_log_probs, base.unigram_log_probs, atol=1e-2)  # counted on the new text
    log = [json.loads(line) for line in (tmp_path / "w2" / "log.jsonl").read_text().splitlines()]
    assert log[0]["train_rows"] == 60 - 6  # each line split into its three sentences, 6 held out
    # Evaluated on that corpus without --init: still in the checkpoint's vocabulary, not one counted from the corpus.
    evaluated = train_char_lm.main([*shape, "--corpus", "chinese_prose", "--data-dir", str(tmp_path / "data"), "--work",
                                    str(tmp_path / "w3"), "--evaluate", str(tmp_path / "cont")])
    assert evaluated["dev_nats_per_token"] == pytest.approx(continued["dev_nats_per_token"], abs=1e-3)


def test_trainer_turns_a_checkpoint_into_a_right_to_left_lm(tmp_path):
    prose = tmp_path / "prose.txt.xz"
    with lzma.open(prose, "wt", encoding="utf-8") as f:
        f.write("\n".join(TOY[i % 3] for i in range(40)) + "\n")
    common = ["--prose", str(prose), "--judge-lines", "4", "--vocab-size", "20", "--n-layer", "1", "--n-head", "2", "--n-embd",
              "16", "--batch", "8", "--warmup", "2", "--dev-every", "5", "--block-size", "16", "--dev-lines", "6", "--steps", "6"]
    train_char_lm.main([*common, "--work", str(tmp_path / "w1"), "--out", str(tmp_path / "forward")])
    backward = train_char_lm.main([*common, "--init", str(tmp_path / "forward"), "--reverse", "--work", str(tmp_path / "w2"),
                                   "--out", str(tmp_path / "backward")])
    model, _ = char_lm.load(tmp_path / "backward")
    assert model.config.reverse and not char_lm.load(tmp_path / "forward")[0].config.reverse
    assert any("reversed" in p.name for p in (tmp_path / "w2").glob("corpus-*.npz"))
    # --evaluate reads the dev text in the checkpoint's own order, without being told
    evaluated = train_char_lm.main([*common[:-2], "--work", str(tmp_path / "w3"), "--evaluate", str(tmp_path / "backward")])
    assert evaluated["dev_nats_per_token"] == pytest.approx(backward["dev_nats_per_token"], abs=1e-3)


def test_trainer_saves_a_checkpoint_when_its_budget_is_spent_before_the_first_step(tmp_path):
    prose = tmp_path / "prose.txt.xz"
    with lzma.open(prose, "wt", encoding="utf-8") as f:
        f.write("\n".join(TOY[i % 3] for i in range(40)) + "\n")
    metrics = train_char_lm.main(["--prose", str(prose), "--judge-lines", "4", "--vocab-size", "20", "--n-layer", "1",
                                  "--n-head", "2", "--n-embd", "16", "--block-size", "16", "--dev-lines", "6",
                                  "--cpu-minutes", "1e-6", "--work", str(tmp_path / "w"), "--out", str(tmp_path / "model")])
    assert metrics["steps"] == 0 and char_lm.load(tmp_path / "model")[0].config.vocab_size == 20


def test_bank_questions_drop_every_pair_that_touches_an_excluded_sentence():
    pairs = [("花呗怎么还款", "花呗如何还款", 1.0), ("借呗额度", "ＡＢＣ借呗", 0.0), ("微粒贷利息", "微粒贷怎么算利息", 1.0)]
    assert train_char_lm.bank_questions(pairs, {"花呗如何还款", "abc借呗"}) == ["微粒贷利息", "微粒贷怎么算利息"]
