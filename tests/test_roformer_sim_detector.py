"""The detector of broken text: its pooling, batched scoring, saving, a toy detector that learns, its trainer end to
end on toy data, and its feature in the fluency judge's evidence."""

from __future__ import annotations

import json
import random
import shutil

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from core.roformer_sim import char_lm, detector, fluency, train_char_lm, train_detector
from core.roformer_sim.char_lm import SPECIAL_TOKENS, CharLM, CharLMConfig
from core.roformer_sim.detector import CharDetector

TOY = ["春夏秋冬东南西北", "金木水火土日月星", "一二三四五六七八"]


def toy_index() -> dict[str, int]:
    return {tok: i for i, tok in enumerate([*SPECIAL_TOKENS, *dict.fromkeys("".join(TOY))])}


def tiny_lm(seed: int = 0) -> CharLM:
    torch.manual_seed(seed)
    return CharLM(CharLMConfig(len(toy_index()), 16, n_layer=1, n_head=2, n_embd=16)).eval()


def random_detector(seed: int = 0) -> CharDetector:
    model = CharDetector.from_lm(tiny_lm(seed))
    torch.nn.init.normal_(model.break_head.weight)
    return model.eval()


def test_a_new_detector_keeps_its_lm_and_calls_nothing_broken():
    lm, index = tiny_lm(), toy_index()
    model = CharDetector.from_lm(lm).eval()
    ids = detector.padded(detector.rows(TOY, index, 16))
    assert torch.equal(model.hidden(ids), lm.hidden(ids))
    assert np.all(detector.whole_scores(model, index, TOY) == 0)


def test_pooling_is_a_soft_maximum_that_ignores_padding_and_length():
    model, index = random_detector(), toy_index()
    texts = ["春夏", "春夏秋冬东南西北金木水火", "一二三", "金木水火土"]
    together = detector.whole_scores(model, index, texts, batch_size=3)
    alone = np.array([detector.whole_scores(model, index, [t])[0] for t in texts])
    assert np.allclose(together, alone, atol=1e-5)
    # A constant per-position logit pools to itself, whatever the length; one high position lifts the pooled one.
    with torch.no_grad():
        model.break_head.weight.zero_()
        model.break_head.bias.fill_(-2.0)
    assert np.allclose(detector.whole_scores(model, index, texts), 2.0)
    ids = detector.padded(detector.rows(["春夏秋冬东南西北"], index, 16))
    logits = torch.full((1, ids.shape[1] - 1), -2.0)
    logits[0, 3] = 5.0
    pooled = torch.logsumexp(logits, dim=1) - np.log(logits.shape[1])
    assert -2.0 < pooled.item() < 5.0 and pooled.item() > 5.0 - np.log(logits.shape[1]) - 0.01


def test_save_and_load_keep_scores_and_refuse_the_other_kind(tmp_path):
    model, index = random_detector(), toy_index()
    model.save_pretrained(tmp_path / "detector", list(index), int8=False)
    loaded, loaded_index = char_lm.load(tmp_path / "detector", model_class=CharDetector)
    assert loaded_index == index
    assert np.allclose(detector.whole_scores(loaded, index, TOY), detector.whole_scores(model, index, TOY), atol=0.01)  # fp16 weights
    with pytest.raises(ValueError, match="holds a 'char-detector' model, not a 'char-lm' one"):
        char_lm.load(tmp_path / "detector")
    tiny_lm().save_pretrained(tmp_path / "lm", list(index))
    with pytest.raises(ValueError, match="holds a 'char-lm' model, not a 'char-detector' one"):
        char_lm.load(tmp_path / "lm", model_class=CharDetector)


def test_a_toy_detector_learns_to_call_substituted_sentences_broken():
    index, rng = toy_index(), random.Random(0)
    lm, alphabet = tiny_lm().train(), list("".join(TOY))
    optimizer = torch.optim.AdamW(lm.parameters(), lr=3e-3)
    for _ in range(150):  # first an LM of the toy sentences, as the real detector starts from the judge's char LM
        optimizer.zero_grad()
        train_char_lm.lm_loss(lm, detector.padded(detector.rows(TOY, index, 16))).backward()
        optimizer.step()
    model = CharDetector.from_lm(lm).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    for _ in range(200):
        broken = [fluency.substituted(t, rng, alphabet, [1] * len(alphabet)) for t in TOY]
        ids = detector.padded(detector.rows(TOY + broken, index, 16))
        optimizer.zero_grad()
        F.binary_cross_entropy_with_logits(model.break_logits(ids), torch.tensor([0.0] * 3 + [1.0] * 3)).backward()
        optimizer.step()
    model.eval()
    held_out = [fluency.substituted(t, random.Random(99), alphabet, [1] * len(alphabet)) for t in TOY]
    assert detector.whole_scores(model, index, TOY).min() > detector.whole_scores(model, index, held_out).max()


def toy_corpus(monkeypatch) -> None:
    """The trainer's corpus and generator replaced by toys: real sentences are stretches of each TOY line read round
    and round (120 of them), the generator's samples their characters mixed."""
    real = [(t * 2)[i : i + n] for t in TOY for i in range(8) for n in range(4, 9)]
    monkeypatch.setattr(train_detector, "read_chinese_prose_and_bank", lambda data_dir, prose: real * 2)
    monkeypatch.setattr(train_detector, "read_prose", lambda path: [])

    def salad(sources, per_source, seed, temperature, top_p):
        rng = random.Random(seed)
        return ["".join(rng.sample("".join(TOY), len(s))) for s in sources for _ in range(per_source)]

    monkeypatch.setattr(fluency, "generated_samples", salad)


def test_trainer_runs_resumes_and_keeps_the_best_checkpoint(tmp_path, monkeypatch, capsys):
    toy_corpus(monkeypatch)
    tiny_lm().save_pretrained(tmp_path / "lm", list(toy_index()))
    common = ["--init", str(tmp_path / "lm"), "--work", str(tmp_path / "work"), "--out", str(tmp_path / "model"),
              "--dev-real", "10", "--dev-sources", "10", "--sources", "10", "--per-source", "2", "--batch", "8", "--warmup", "2", "--dev-every", "5"]
    first = train_detector.main([*common, "--steps", "6"])
    assert first["steps"] == 6 and set(first["dev_auc"]) == {*fluency.FIT_KINDS, "mean"}
    second = train_detector.main([*common, "--steps", "12"])
    assert second["steps"] == 12 and second["dev_auc"]["mean"] >= first["dev_auc"]["mean"]
    log = [json.loads(line) for line in (tmp_path / "work" / "log.jsonl").read_text().splitlines()]
    assert any(line["event"] == "resumed" and line["step"] == 6 for line in log)
    assert log[0]["event"] == "data" and log[0]["dev_real"] == 10 and log[0]["train_real"] == 100 and log[0]["train_generated"] == 20
    model, index = char_lm.load(tmp_path / "model", model_class=CharDetector)
    assert index == toy_index() and (tmp_path / "model" / "training_metrics.json").is_file()
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["event"] == "done"
    synthetic = train_detector.main([*common[:2], "--work", str(tmp_path / "work_s"), "--out", str(tmp_path / "model_s"),
                                     *common[6:], "--synthetic-only", "--steps", "2"])
    dev = synthetic["dev_auc"]  # its checkpoint is picked by the kinds it trains on; the generator's are only measured
    assert dev["mean"] == pytest.approx(np.mean([dev[kind] for kind in train_detector.SYNTHETIC]), abs=1e-4)
    assert train_detector.SYNTHETIC == ("substituted", "cut", "repeated")


def test_the_detector_feature_comes_from_the_judge_folder(tmp_path):
    (tmp_path / fluency.NGRAM_FILE).write_bytes(b"not read")
    shutil.copytree(fluency.ASSET_DIR / fluency.CHAR_LM_DIR, tmp_path / fluency.CHAR_LM_DIR)
    assert "detector_score" not in fluency.Evidence.in_folder(tmp_path).available()
    with pytest.raises(ValueError, match="needs .*detector_score.* a detector in detector/"):
        fluency.build(tmp_path, tmp_path, tmp_path, tmp_path, tmp_path / "prose.txt.xz", 10, 2, 0, feature_set="detector_alone")
    lm, index = char_lm.load(tmp_path / fluency.CHAR_LM_DIR)
    CharDetector.from_lm(lm).save_pretrained(tmp_path / fluency.DETECTOR_DIR, list(index))
    evidence = fluency.Evidence.in_folder(tmp_path)
    assert "detector_score" in evidence.available()
    assert np.allclose(evidence.features(["今天天气怎么样", "样么天怎今气天"], fluency.DETECTOR_FEATURES), 0.0)  # its head starts at zero
