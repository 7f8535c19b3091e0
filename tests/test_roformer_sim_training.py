"""RoFormer-Sim training and evaluation on tiny data: losses, batches, init from a masked LM, resumable run, JSON output."""

from __future__ import annotations

import json
import random
import zipfile

import pytest
import torch
from transformers import RoFormerConfig, RoFormerForMaskedLM

from core import training
from core.roformer_sim import data, evaluate, generate, train
from core.roformer_sim.model import TARGET, load
from tests.test_roformer_sim import VOCAB, hub_dir, sim  # noqa: F401 - fixtures shared with the model tests

PAIRS = [("我喜欢北京", "我很喜欢北京", 1), ("今天天气不错", "今天天气很好", 1), ("广州和深圳哪个好？", "我喜欢北京", 0),
         ("今天天气不好", "我不喜欢北京", 0), ("北京天气很好", "今天北京天气不错", 1), ("哪个人在广州", "深圳有人", 0)] * 12


def write_sts(root, split_names):
    for name in data.DATASETS:
        (root / name).mkdir(parents=True, exist_ok=True)
        rows = [(a, b, 4 * y + 1 if name == "STS-B" else y) for a, b, y in PAIRS]
        for split in split_names(name):
            (root / name / split).write_text("".join(f"{a}\t{b}\t{y}\n" for a, b, y in rows), encoding="utf-8")
    return root


@pytest.fixture
def sts_dir(tmp_path):
    return write_sts(tmp_path / "chinese_sts", lambda name: data.TRAIN_FILES[name] + [f"{name}.test.data"])


def test_cosent_loss_ranks_pairs():
    labels = torch.tensor([0.0, 1.0, 2.0])
    right = train.cosent_loss(torch.tensor([0.1, 0.5, 0.9]), labels, scale=20)
    wrong = train.cosent_loss(torch.tensor([0.9, 0.5, 0.1]), labels, scale=20)
    assert right < 0.01 < wrong
    two = train.cosent_loss(torch.tensor([0.6, 0.5]), torch.tensor([0.0, 1.0]), scale=20)
    assert two.item() == pytest.approx(torch.log1p(torch.exp(torch.tensor(20 * 0.1))).item(), rel=1e-5)


def test_contrastive_loss_pairs_each_row_with_its_mirror():
    v = torch.tensor([[1.0, 0.0], [1.0, 0.01], [0.0, 1.0], [0.01, 1.0]])
    assert train.contrastive_loss(v, 20).item() < 1e-3
    swapped = v[[0, 2, 1, 3]]
    assert train.contrastive_loss(swapped, 20).item() > 5


def test_supervised_contrastive_loss_wants_each_premise_nearest_its_own_entailment():
    premises = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    entailed = torch.tensor([[1.0, 0.05], [0.05, 1.0]])
    contradicting = torch.tensor([[-1.0, 0.0], [0.0, -1.0]])
    assert train.supervised_contrastive_loss(premises, entailed, contradicting, 20).item() < 0.01
    # a contradiction nearer its premise than the entailment is the error the hard negative punishes
    assert train.supervised_contrastive_loss(premises, entailed, entailed * 1.01 + 0.2, 20).item() > 0.5
    assert train.supervised_contrastive_loss(premises, entailed.flip(0), contradicting, 20).item() > 10


def test_nli_triplets_pair_each_entailment_with_a_contradiction_of_its_premise():
    rows = [("他在跑步", "他在运动", 2.0), ("他在跑步", "他在睡觉", 0.0), ("他在跑步", "他很累", 1.0),
            ("他在跑步", "他在动", 2.0), ("猫在睡觉", "猫醒着", 0.0), ("狗在叫", "狗很吵", 2.0)]
    assert data.nli_triplets(rows) == [("他在跑步", "他在运动", "他在睡觉"), ("他在跑步", "他在动", "他在睡觉")]
    assert data.nli_triplets([]) == []


def test_unilm_rows_mirror_pairs_and_mark_targets(sim):
    rng = random.Random(0)
    batch = train.unilm_rows([("我喜欢北京", "今天天气很好"), ("广州和深圳", None)], sim.tokenizer, rng, max_chars=40)
    assert batch.ids.shape[0] == 4
    tgt = [sim.tokenizer.convert_ids_to_tokens(row[seg == TARGET].tolist()) for row, seg in zip(batch.ids, batch.segments)]
    assert "".join(tgt[0][:-1]) == "今天天气很好" and "".join(tgt[1][:-1]) == "我喜欢北京"
    assert all(t[-1] == "[SEP]" for t in tgt) and "".join(tgt[2][:-1]) == "广州和深圳" == "".join(tgt[3][:-1])
    assert torch.equal(batch.padding.sum(1), (batch.ids != 0).sum(1))
    h = sim.model.unilm(batch.ids, batch.segments, batch.padding)
    assert train.generation_loss(sim.model, batch, h).item() > 0


def test_whole_word_noise_masks_whole_words(sim):
    noised = [train.whole_word_noise("我喜欢北京今天天气很好", sim.tokenizer, random.Random(seed)) for seed in range(40)]
    assert all(len(n) == 11 for n in noised)
    assert any("[MASK]" in n for n in noised) and any("[MASK]" not in n for n in noised)


def test_first_piece_cuts_at_punctuation():
    assert data.first_piece("今天天气不错，我们去公园吧。", 40) == "今天天气不错"
    assert data.first_piece("好，很好吃", 40) == "好，很好吃"  # too short a first piece: keep going
    assert data.first_piece("一" * 50, 40) == "一" * 40


def test_init_from_masked_lm_keeps_every_tensor_and_starts_pooler_at_identity(tmp_path):
    config = RoFormerConfig(vocab_size=len(VOCAB), embedding_size=16, hidden_size=32, num_hidden_layers=2,
                            num_attention_heads=4, intermediate_size=64, max_position_embeddings=128, type_vocab_size=2)
    mlm = RoFormerForMaskedLM(config)
    mlm.save_pretrained(tmp_path)
    (tmp_path / "vocab.txt").write_text("\n".join(VOCAB) + "\n", encoding="utf-8")
    sim = train.init_model(tmp_path, torch.device("cpu"))
    assert torch.equal(sim.model.pooler.weight, torch.eye(32))
    state = sim.model.state_dict()
    for name, tensor in mlm.state_dict().items():
        assert torch.equal(state[name], tensor), name


def test_split_dev_is_disjoint_and_reproducible():
    pairs = {"A": [(str(i), "x", 0) for i in range(20)]}
    tr, dev = data.split_dev(pairs, 5, seed=0)
    assert len(dev["A"]) == 5 and len(tr["A"]) == 15 and not set(dev["A"]) & set(tr["A"])
    assert data.split_dev(pairs, 5, seed=0) == (tr, dev)


def test_training_never_reads_test_files(tmp_path):
    root = write_sts(tmp_path, lambda name: data.TRAIN_FILES[name])
    (root / "ATEC" / "ATEC.test.data").write_text("x\ty\tnot-a-number\n", encoding="utf-8")
    pairs = data.labelled_pairs(root)
    assert all(len(rows) == len(PAIRS) * len(data.TRAIN_FILES[name]) for name, rows in pairs.items())


EXTRA_ROWS = {"afqmc_train.tsv.xz": "我 喜欢北京\t我很喜欢北京\t1\n花呗怎么开通\t怎么开通花呗\t1\n",  # the first repeats an ATEC pair
              "simclue_train_pair_1w.tsv.xz": "在哪买手表\t哪里买手表\t1\n",
              "simclue_train_rank_1w_pairs.tsv.xz": "哪里买手表\t在哪买手表\t1\n",  # the same pair, reversed
              "qbqtc_dev.tsv.xz": "小孩咳嗽\t小孩咳嗽吃什么药\t2\n",
              "cmnli_dev.tsv.xz": "他在跑步\t他在运动\tentailment\n他在跑步\t他在睡觉\tcontradiction\n他在跑步\t他很累\tneutral\nbad line\n"}


def write_extra(extra, distinct_rows=0):
    """The extra files: ``EXTRA_ROWS``, or ``distinct_rows`` made-up pairs in each file (enough to train on)."""
    import lzma

    extra.mkdir(parents=True, exist_ok=True)
    for name, files in data.EXTRA_FILES.items():
        labels = list(data.NLI_LABELS) if name == "NLI" else [0, 1, 2] if name == "QBQTC" else [0, 1]
        for file in files:
            made_up = "".join(f"{a}{file}{i}\t{b}{i}\t{labels[i % len(labels)]}\n" for i, (a, b, _) in enumerate(PAIRS[:distinct_rows]))
            with lzma.open(extra / file, "wt", encoding="utf-8") as f:
                f.write(made_up if distinct_rows else EXTRA_ROWS.get(file, ""))
    return extra


def test_extra_pairs_join_without_repeats_and_keep_the_original_dev_split(tmp_path):
    root = write_sts(tmp_path / "chinese_sts", lambda name: data.TRAIN_FILES[name])
    extra = write_extra(tmp_path / "chinese_sts_extra")
    pairs = data.labelled_pairs(root, extra)
    assert pairs["AFQMC"] == [("花呗怎么开通", "怎么开通花呗", 1.0)]
    assert pairs["SimCLUE"] == [("在哪买手表", "哪里买手表", 1.0)]
    assert [label for _, _, label in pairs["NLI"]] == [2.0, 0.0, 1.0]
    assert data.split_dev(pairs, 5)[1]["ATEC"] == data.split_dev(data.labelled_pairs(root), 5)[1]["ATEC"]
    assert data.is_positive("AFQMC", 1.0) and data.is_positive("SimCLUE", 1.0)
    assert not data.is_positive("QBQTC", 2.0) and not data.is_positive("NLI", 2.0)  # relevance and entailment are not paraphrase


def test_dev_spearman_adds_the_four_test_families_mean_when_extra_sources_are_scored(sim):  # noqa: F811
    four = {name: [(a, b, y) for a, b, y in PAIRS[:12]] for name in data.DATASETS}
    scores = data.dev_spearman(sim, four)
    assert set(scores) == set(data.DATASETS) | {"avg"}
    scores = data.dev_spearman(sim, {**four, "NLI": four["ATEC"]})
    assert scores["avg4"] == pytest.approx(sum(scores[d] for d in data.DATASETS) / 4, abs=0.01)
    assert scores["avg"] == pytest.approx((4 * scores["avg4"] + scores["NLI"]) / 5, abs=0.01)


def write_raw_corpus(data_dir):
    corpus = data_dir / "chinese_nlp_corpus"
    corpus.mkdir(parents=True)
    (corpus / "waimai_10k.csv").write_text("label,review\n1,很好吃，很快\n0,今天送得太慢了\n", encoding="utf-8")
    (corpus / "ChnSentiCorp_htl_all.csv").write_text("label,review\n1,北京的酒店不错。下次再来\n", encoding="utf-8")
    with zipfile.ZipFile(corpus / "dh_msra.zip", "w") as z:
        z.writestr("dh_msra.txt", "广\tB-LOC\n州\tI-LOC\n天\tO\n气\tO\n很\tO\n好\tO\n\n深\tB-LOC\n圳\tI-LOC\n有\tO\n人\tO\n在\tO\n")


def test_tiny_training_run_resumes_and_writes_a_loadable_checkpoint(hub_dir, sts_dir, tmp_path):  # noqa: F811
    write_raw_corpus(tmp_path)
    out, work = tmp_path / "out", tmp_path / "work"
    argv = ["--init", str(hub_dir), "--out", str(out), "--work", str(work), "--sts-dir", str(sts_dir), "--data-dir", str(tmp_path),
            "--stage1-steps", "2", "--stage2-steps", "2", "--pairs-per-batch", "4", "--cosent-pairs", "8",
            "--stage2-gen-pairs", "2", "--dev-pairs", "6", "--warmup", "1", "--log-every", "1"]
    train.main(argv)
    first = json.loads((out / "training_log.json").read_text())
    assert [e["step"] for e in first["log"] if e["event"] == "train"] == [1, 2, 3, 4]
    assert any(e["event"] == "dev" for e in first["log"])
    loaded = load(out)
    assert loaded.model.config.is_decoder is False
    assert torch.load(work / "state.pt", weights_only=False)["progress"]["step"] == 4
    train.main(argv + ["--stage2-steps", "3"])  # resumes at step 4: only step 5 runs
    events = [json.loads(line) for line in (work / "log.jsonl").read_text().splitlines()]
    assert [e["step"] for e in events if e["event"] == "resumed"] == [4]
    assert [e["step"] for e in events if e["event"] == "train"] == [1, 2, 3, 4, 5]
    assert events[-1]["event"] == "done" and events[-1]["steps"] == 5
    with pytest.raises(ValueError, match=r"different run \(differs in: lr2\)"):
        train.main(argv + ["--stage2-steps", "3", "--lr2", "1e-3"])  # a stale state is never resumed silently


def write_prose(data_dir, long_line: str):
    """Modern prose, one sentence a line: PAIRS' sentences in order, and one line longer than --max-chars."""
    import lzma

    (data_dir / data.PROSE_FILE).parent.mkdir(parents=True)
    lines = [a for a, _, _ in PAIRS[:6]] + [long_line] + [b for _, b, _ in PAIRS[:6]]
    with lzma.open(data_dir / data.PROSE_FILE, "wt", encoding="utf-8") as f:
        f.write("".join(line + "\n" for line in lines))


def test_stage0_trains_the_generator_alone_on_whole_prose_sentences_and_resumes_into_stage1(hub_dir, sts_dir, tmp_path,
                                                                                             monkeypatch):  # noqa: F811
    write_raw_corpus(tmp_path)
    write_prose(tmp_path, long_line="北京" * 25)
    out, work = tmp_path / "out", tmp_path / "work"
    argv = ["--init", str(hub_dir), "--out", str(out), "--work", str(work), "--sts-dir", str(sts_dir), "--data-dir", str(tmp_path),
            "--stage0-steps", "2", "--stage1-steps", "2", "--stage2-steps", "1", "--pairs-per-batch", "4", "--cosent-pairs", "8",
            "--stage2-gen-pairs", "2", "--dev-pairs", "6", "--warmup", "1", "--log-every", "1"]
    stop_if_asked = training.RunState.stop_if_asked

    def sigterm_during_step_2(state, save, runtime, log_file, step):
        state._signalled = step == 2
        return stop_if_asked(state, save, runtime, log_file, step)

    monkeypatch.setattr(training.RunState, "stop_if_asked", sigterm_during_step_2)
    train.main(argv)
    assert not out.exists() and torch.load(work / "state.pt", weights_only=False)["progress"]["step"] == 2
    monkeypatch.undo()
    train.main(argv)
    log = json.loads((out / "training_log.json").read_text())["log"]
    assert log[0]["prose_pairs"] == 12 and log[0]["stage0_prose_pairs"] == 10  # the two pairs with the long line are left out
    steps = [e for e in log if e["event"] == "train"]
    assert [(e["step"], e["stage"]) for e in steps] == [(1, 0), (2, 0), (3, 1), (4, 1), (5, 2)]
    assert all(e["sim"] == 0 for e in steps[:2]) and all(e["sim"] > 0 for e in steps[2:])  # no similarity loss on prose
    assert [e["step"] for e in log if e["event"] == "resumed"] == [2]
    assert [e["step"] for e in log if e["event"] == "dev"] == [2, 4, 5]
    assert steps[0]["lr"] == pytest.approx(5e-4) and steps[2]["lr"] == pytest.approx(3e-4)  # each stage its own warm-up
    done = json.loads((work / "log.jsonl").read_text().splitlines()[-1])
    assert done["event"] == "done" and done["steps"] == 5


def test_tiny_training_run_with_the_extra_pairs_scores_their_dev_pairs(hub_dir, sts_dir, tmp_path):  # noqa: F811
    write_raw_corpus(tmp_path)
    write_extra(tmp_path / "chinese_sts_extra", distinct_rows=len(PAIRS))
    out = tmp_path / "out"
    train.main(["--init", str(hub_dir), "--out", str(out), "--work", str(tmp_path / "work"), "--sts-dir", str(sts_dir),
                "--data-dir", str(tmp_path), "--extra-pairs", "--stage1-steps", "1", "--stage2-steps", "3", "--pairs-per-batch", "4",
                "--cosent-pairs", "8", "--stage2-gen-pairs", "2", "--dev-pairs", "6", "--warmup", "1"])
    log = json.loads((out / "training_log.json").read_text())["log"]
    assert set(log[0]["labelled_pairs"]) == set(data.DATASETS) | set(data.EXTRA_FILES)
    assert set(log[-1]["dev_spearman"]) == set(data.DATASETS) | set(data.EXTRA_FILES) | {"avg", "avg4"}


def write_nli(extra, premises=6):
    """Extra files whose NLI file holds ``premises`` premises with an entailment, a contradiction and a neutral each."""
    import lzma

    write_extra(extra, distinct_rows=len(PAIRS))
    with lzma.open(extra / "cmnli_dev.tsv.xz", "wt", encoding="utf-8") as f:
        f.write("".join(f"{a}{i}\t{b}{label}\t{label}\n" for i, (a, b, _) in enumerate(PAIRS[:premises])
                        for label in ("entailment", "contradiction", "neutral")))


@pytest.mark.filterwarnings("ignore:An input array is constant")  # 2 dev pairs of one source may share a label
def test_tiny_training_run_with_nli_triplets_adds_the_supervised_simcse_loss(hub_dir, sts_dir, tmp_path):  # noqa: F811
    write_raw_corpus(tmp_path)
    write_nli(tmp_path / "chinese_sts_extra")
    argv = ["--init", str(hub_dir), "--work", str(tmp_path / "work"), "--sts-dir", str(sts_dir), "--data-dir", str(tmp_path),
            "--extra-pairs", "--stage1-steps", "1", "--stage2-steps", "1", "--pairs-per-batch", "4", "--cosent-pairs", "8",
            "--stage2-gen-pairs", "2", "--dev-pairs", "2", "--warmup", "1", "--log-every", "1"]
    train.main(argv + ["--out", str(tmp_path / "out"), "--nli-triplets", "3"])
    log = json.loads((tmp_path / "out" / "training_log.json").read_text())["log"]
    assert 4 <= log[0]["nli_triplets"] <= 6  # one per premise; the 2 NLI dev pairs may break up two of them
    with pytest.raises(ValueError, match="--nli-triplets 40 needs at least as many NLI triplets"):
        train.main(argv + ["--out", str(tmp_path / "more"), "--work", str(tmp_path / "more"), "--nli-triplets", "40"])


def test_evaluate_dev_scores_the_trainers_dev_pairs_and_is_never_recorded(hub_dir, tmp_path, capsys):  # noqa: F811
    root = write_sts(tmp_path / "chinese_sts", lambda name: data.TRAIN_FILES[name])
    extra = write_extra(tmp_path / "chinese_sts_extra", distinct_rows=len(PAIRS))
    result = evaluate.main(["dev", "--checkpoint", str(hub_dir), "--sts-dir", str(root), "--extra-dir", str(extra)])
    _, dev = data.split_dev(data.labelled_pairs(root, extra))
    assert result["dev_spearman"] == data.dev_spearman(load(hub_dir), dev)
    assert "avg4" in result["dev_spearman"]
    with pytest.raises(SystemExit):
        evaluate.main(["dev", "--checkpoint", str(hub_dir), "--sts-dir", str(root), "--record"])
    assert "dev scores choose runs and are not recorded" in capsys.readouterr().err


def test_char_f1_and_punctuation():
    assert evaluate.char_f1("今天天气不错", "今天天气不错") == 1.0
    assert evaluate.char_f1("abcd", "xyz") == 0.0
    assert evaluate.char_f1("今天好", "今天不好呀") == pytest.approx(2 * 3 / 8)
    assert generate.without_punctuation("你好，世界！ ok?") == "你好世界ok"


def test_evaluate_prints_one_json_line_last(hub_dir, sts_dir, capsys):  # noqa: F811
    result = evaluate.main(["similarity", "--checkpoint", str(hub_dir), "--sts-dir", str(sts_dir), "--limit", "30"])
    last = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert last == result
    assert set(last["spearman"]) == set(data.DATASETS) | {"avg"}
    assert last["char_overlap_baseline"]["avg"] == pytest.approx(sum(last["char_overlap_baseline"][d] for d in data.DATASETS) / 4, abs=0.01)
    result = evaluate.main(["generate", "--checkpoint", str(hub_dir), "--sts-dir", str(sts_dir), "--limit", "2",
                            "--n", "4", "--datasets", "BQ,STS-B", "--compare-checkpoint", str(hub_dir)])
    last = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert last["inputs"] == 4 and 0 <= last["share_with_non_copy"] <= 1
    assert last["copy_input_baseline"]["share_with_non_copy"] == 0.0
    assert 0 < last["top5_candidates_judged"] <= 4 * 4 and 0 <= last["top5_fluent_share"] <= 1
    from core.roformer_sim.fluency import FluencyJudge

    references = [b for _, b in evaluate.generation_inputs(sts_dir, ["BQ", "STS-B"], 2)]  # the judge on the human side
    assert last["human_paraphrase_fluent_share"] == round(sum(FluencyJudge().is_fluent(b) for b in references) / 4, 4)
    # the same checkpoint, inputs and seeds: the comparison repeats the figures exactly
    assert {k: v for k, v in last["compare"].items() if k != "checkpoint"} == {
        k: last[k] for k in last["compare"] if k != "checkpoint"}
    assert evaluate.compared_note(last) == (f" (`{hub_dir}` in the same run: {last['top5_fluent_share']:.1%} · "
                                            f"{last['share_with_fluent_non_copy_cosine_0.8']:.0%})")
    assert evaluate.compared_note({}) == ""


def test_soup_is_the_mean_of_the_runs_weights(hub_dir, sts_dir, tmp_path):  # noqa: F811
    from core.roformer_sim import soup
    from core.roformer_sim.model import DERIVED, RoFormerSim, Sim, save_pretrained

    base, shifted = load(hub_dir), load(hub_dir)
    with torch.no_grad():
        for name, param in shifted.model.named_parameters():
            if name not in DERIVED:  # the rotary table is recomputed on load, never stored
                param.add_(0.01 * torch.randn_like(param))
    save_pretrained(base, tmp_path / "a", dtype=torch.float32)
    save_pretrained(shifted, tmp_path / "b", dtype=torch.float32)
    record = soup.main([str(tmp_path / "a"), str(tmp_path / "b"), "--out", str(tmp_path / "soup"), "--sts-dir", str(sts_dir)])
    mixed = load(tmp_path / "soup").model.state_dict()
    a, b = base.model.state_dict(), shifted.model.state_dict()
    assert all(torch.allclose(mixed[name].float(), (a[name].float() + b[name].float()) / 2, atol=2e-3) for name in a)
    assert set(record["dev_spearman"]) == set(data.DATASETS) | {"avg"}
    assert json.loads((tmp_path / "soup" / soup.RECORD_FILE).read_text()) == record
    with pytest.raises(ValueError, match="at least 2"):
        soup.soup([base])
    smaller = base.model.config.__class__(**{**base.model.config.to_dict(), "num_hidden_layers": 1})
    with pytest.raises(ValueError, match="different architecture"):
        soup.soup([base, Sim(RoFormerSim(smaller), base.tokenizer)])


def test_evaluate_shown_writes_what_the_tab_shows(hub_dir, tmp_path, capsys):  # noqa: F811
    from core.roformer_sim.fluency import FluencyJudge, judged_paraphrases

    inputs = tmp_path / "inputs.txt"
    inputs.write_text("我喜欢北京\n\n今天天气不错\n", encoding="utf-8")
    out = tmp_path / "shown.jsonl"
    result = evaluate.main(["shown", "--checkpoint", str(hub_dir), "--inputs", str(inputs), "--out", str(out)])
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1]) == result
    lines = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [line["input"] for line in lines] == ["我喜欢北京", "今天天气不错"] and result["inputs"] == 2
    tab = judged_paraphrases(load(hub_dir), FluencyJudge(), "我喜欢北京", **evaluate.generate.TAB_DEFAULTS)
    assert lines[0]["shown"] == [row[0] for row in tab[:5]]  # the tab's first five, in its order
    passing = sum(row[3] for text in ("我喜欢北京", "今天天气不错")
                  for row in judged_paraphrases(load(hub_dir), FluencyJudge(), text, **evaluate.generate.TAB_DEFAULTS)[:5])
    assert result["top5_passing_share"] == round(passing / result["top5_candidates"], 4)
    with pytest.raises(SystemExit):
        evaluate.main(["shown", "--checkpoint", str(hub_dir), "--inputs", str(inputs)])


def test_tiny_training_run_with_prose_and_bq_generation_pairs(hub_dir, sts_dir, tmp_path):  # noqa: F811
    import lzma

    write_raw_corpus(tmp_path)
    (tmp_path / "modern_prose").mkdir()
    with lzma.open(tmp_path / data.PROSE_FILE, "wt", encoding="utf-8") as f:
        f.write("我们今天去公园。\n公园里人很多。\n\n晚上大家都回家了。\n回家以后吃饭。\n")
    assert data.consecutive_sentences(tmp_path / data.PROSE_FILE) == [
        ("我们今天去公园。", "公园里人很多。"), ("晚上大家都回家了。", "回家以后吃饭。")]  # never across a blank line
    (tmp_path / "chinese_sts_extra").mkdir()
    with lzma.open(tmp_path / "chinese_sts_extra" / "bq_train.tsv.xz", "wt", encoding="utf-8") as f:
        f.write("借呗怎么还款\t借呗如何还款\t1\n花呗额度\t今天天气\t0\n")
    out = tmp_path / "out"
    train.main(["--init", str(hub_dir), "--out", str(out), "--work", str(tmp_path / "work"), "--sts-dir", str(sts_dir),
                "--data-dir", str(tmp_path), "--stage1-steps", "0", "--stage2-steps", "2", "--cosent-pairs", "8",
                "--stage2-gen-pairs", "2", "--prose-gen-pairs", "2", "--bq-train", "--cpu-bf16", "--dev-pairs", "6",
                "--warmup", "1", "--log-every", "1"])
    log = json.loads((out / "training_log.json").read_text())["log"]
    plain = data.split_dev(data.labelled_pairs(sts_dir), 6)[0]
    positives = sum(data.is_positive(name, y) for name, rows in plain.items() for _, _, y in rows)
    assert log[0]["prose_pairs"] == 2 and log[0]["positive_pairs"] == positives + 1  # the one positive BQ train pair
    assert [e["step"] for e in log if e["event"] == "train"] == [1, 2] and all(e["gen"] > 0 for e in log if e["event"] == "train")
    load(out)
