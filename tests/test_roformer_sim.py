"""RoFormer-Sim on tiny random models: Hub layout loading, UniLM mask, cached decoding, ranking helpers."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from core import int8
from core.roformer_sim import generate
from core.roformer_sim.model import (
    BUNDLED_WEIGHTS,
    HUB_WEIGHTS,
    RoFormerSim,
    additive_mask,
    load,
    read_weights,
    save_pretrained,
    sim_config,
    unilm_allowed,
)

CHARS = list("我喜欢北京今天气不错很好广州和深圳哪个？的是在有人")
VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + CHARS + list("abc0123")


def hub_config() -> dict:
    """The fields of junnyu/roformer_chinese_sim_char_* config.json, tiny sizes."""
    return {
        "architectures": ["RoFormerForCausalLM"],
        "model_type": "roformer",
        "attention_probs_dropout_prob": 0.1,
        "embedding_size": 32,
        "hidden_act": "gelu",
        "hidden_dropout_prob": 0.1,
        "hidden_size": 32,
        "initializer_range": 0.02,
        "intermediate_size": 64,
        "layer_norm_eps": 1e-12,
        "max_position_embeddings": 128,
        "num_attention_heads": 4,
        "num_hidden_layers": 2,
        "pad_token_id": 0,
        "rotary_value": False,
        "type_vocab_size": 2,
        "use_cache": True,
        "vocab_size": len(VOCAB),
        "is_decoder": True,
        "eos_token_id": 3,
        "pooler_activation": "linear",
    }


@pytest.fixture(scope="module")
def hub_dir(tmp_path_factory):
    """A directory laid out exactly like the junnyu Hub repos: config.json (is_decoder true),
    pytorch_model.bin with roformer.* / roformer.pooler.dense.* / cls.predictions.* keys (tied tensors
    stored under both names, no embed_positions), vocab.txt, no tokenizer config."""
    torch.manual_seed(0)
    directory = tmp_path_factory.mktemp("junnyu_tiny")
    model = RoFormerSim(sim_config(hub_config()))
    for name, p in model.named_parameters():  # every tensor distinguishable from a fresh initialisation
        if "LayerNorm.weight" in name:
            p.data.normal_(1.0, 0.1)
        else:
            p.data.normal_(0, 0.02 if name.endswith("bias") else 0.2)
    state = {}
    for name, tensor in model.state_dict().items():
        if name == "roformer.encoder.embed_positions.weight":
            continue
        state[name.replace("pooler.", "roformer.pooler.dense.") if name.startswith("pooler.") else name] = tensor.clone()
    torch.save(state, directory / HUB_WEIGHTS)
    (directory / "config.json").write_text(json.dumps(hub_config()))
    (directory / "vocab.txt").write_text("\n".join(VOCAB) + "\n", encoding="utf-8")
    return directory


@pytest.fixture(scope="module")
def sim(hub_dir):
    return load(hub_dir, "cpu")


def test_hub_layout_has_the_expected_key_names(hub_dir):
    keys = set(torch.load(hub_dir / HUB_WEIGHTS, weights_only=True))
    assert {"roformer.pooler.dense.weight", "roformer.pooler.dense.bias", "cls.predictions.bias"} <= keys
    assert {"cls.predictions.decoder.weight", "cls.predictions.transform.dense.weight"} <= keys
    assert not any(k.startswith("pooler.") for k in keys)


def test_every_tensor_of_the_hub_file_is_used(hub_dir, sim):
    state = sim.model.state_dict()
    for name, tensor in torch.load(hub_dir / HUB_WEIGHTS, weights_only=True).items():
        ours = name.replace("roformer.pooler.dense.", "pooler.")
        assert torch.equal(state[ours], tensor), name
    assert sim.model.config.is_decoder is False
    # the pooler is linear: the [CLS] vector is exactly W h + b
    ids, padding = sim.tokenize(["我喜欢北京"])
    h = sim.model.hidden_states(ids, torch.zeros_like(ids), additive_mask(padding[:, None, :].bool().expand(-1, 7, -1)))
    expected = h[:, 0] @ state["pooler.weight"].T + state["pooler.bias"]
    assert torch.allclose(sim.model.sentence_vectors(ids, padding), expected, atol=1e-6)


def test_loader_refuses_unused_missing_and_untied_tensors(hub_dir, tmp_path):
    state = torch.load(hub_dir / HUB_WEIGHTS, weights_only=True)
    (tmp_path / "config.json").write_text(json.dumps(hub_config()))
    (tmp_path / "vocab.txt").write_text("\n".join(VOCAB) + "\n", encoding="utf-8")
    cases = {
        "no place": {**state, "roformer.pooler.extra": torch.zeros(1)},
        "lacks": {k: v for k, v in state.items() if "pooler" not in k},
        "tied": {**state, "cls.predictions.decoder.weight": state["cls.predictions.decoder.weight"] + 1},
    }
    for message, broken in cases.items():
        torch.save(broken, tmp_path / HUB_WEIGHTS)
        with pytest.raises(ValueError, match=message):
            load(tmp_path)


def test_is_decoder_flag_does_not_make_similarities_collapse(sim):
    # with a causal mask the [CLS] vector sees only itself: every pair would score 1.0
    assert generate.similarity(sim, "我喜欢北京", "今天天气不错") < 0.95


def test_bundled_layout_round_trip(sim, tmp_path):
    save_pretrained(sim, tmp_path, dtype=torch.float32)
    assert (tmp_path / BUNDLED_WEIGHTS).is_file() and (tmp_path / "vocab.txt").is_file()
    assert "roformer.pooler.dense.weight" in read_weights(tmp_path)
    again = load(tmp_path)
    texts = ["我喜欢北京", "广州和深圳哪个好？"]
    assert np.allclose(generate.encode(sim, texts), generate.encode(again, texts), atol=1e-6)


def test_int8_copy_of_the_bundled_layout_encodes_alike(sim, tmp_path, monkeypatch):
    monkeypatch.setattr(int8, "MIN_QUANTIZED", 64)  # the tiny model's matrices are below the real threshold
    save_pretrained(sim, tmp_path / "fp16")
    before, after = int8.convert(tmp_path / "fp16", tmp_path / "int8")
    assert after < 0.75 * before  # its vectors (layer norms, biases) stay fp16
    texts = ["我喜欢北京", "广州和深圳哪个好？"]
    fp16, quantized = (generate.encode(load(tmp_path / name), texts) for name in ("fp16", "int8"))
    assert (fp16 * quantized).sum(axis=1).min() > 0.99  # unit vectors: cosine


def test_unilm_mask_semantics():
    segments = torch.tensor([[0, 0, 0, 1, 1, 1, 0]])  # last position is padding
    padding = torch.tensor([[1, 1, 1, 1, 1, 1, 0]])
    allowed = unilm_allowed(segments, padding)[0]
    source, target = range(3), range(3, 6)
    for q in range(7):
        assert all(allowed[q, k] for k in source), "every position sees the whole source"
        assert not allowed[q, 6], "nobody sees padding"
    for q in source:
        assert not any(allowed[q, k] for k in target), "source never sees the target"
    for q in target:
        assert all(allowed[q, k] == (k <= q) for k in target), "target is causal"


def test_unilm_outputs_ignore_later_targets_and_follow_the_source(sim):
    torch.manual_seed(1)
    ids = torch.randint(5, len(VOCAB), (1, 10))
    segments = torch.tensor([[0] * 5 + [1] * 5])
    padding = torch.ones_like(ids)
    def run(ids):
        h = sim.model.unilm(ids, segments, padding)
        return sim.model.cls(h), sim.model.pooler(h[:, 0])

    logits, pooled = run(ids)
    changed_target = ids.clone()
    changed_target[0, 7] = (ids[0, 7] - 4) % (len(VOCAB) - 5) + 5
    logits2, pooled2 = run(changed_target)
    assert torch.equal(logits[:, :7], logits2[:, :7]) and torch.equal(pooled, pooled2)
    assert not torch.allclose(logits[:, 7:], logits2[:, 7:])
    changed_source = ids.clone()
    changed_source[0, 2] = changed_target[0, 7]
    logits3, _ = run(changed_source)
    assert all(not torch.allclose(logits[0, i], logits3[0, i]) for i in range(10))
    # the pooled vector of a training row is the sentence vector of its source
    assert torch.allclose(pooled, sim.model.sentence_vectors(ids[:, :5], padding[:, :5]), atol=1e-5)


def recording_sampler(seed: int, sep: int, stop_after: int):
    """Sample tokens, record the logits it was given, and stop rows at random-ish steps."""
    generator = torch.Generator().manual_seed(seed)
    seen: list[torch.Tensor] = []

    def choose(logits):
        seen.append(logits.clone())
        tokens = torch.multinomial(torch.softmax(logits, -1), 1, generator=generator)[:, 0]
        stop = torch.rand(len(tokens), generator=generator) < (len(seen) / stop_after)
        return torch.where(stop, torch.full_like(tokens, sep), tokens)

    return choose, seen


def test_cached_decoding_equals_full_recompute(sim):
    source = generate.source_ids(sim, "广州和深圳哪个好？")
    sep = sim.tokenizer.sep_token_id
    choose_cached, cached = recording_sampler(3, sep, 8)
    choose_full, full = recording_sampler(3, sep, 8)
    out_cached = generate.decode(sim, source, 6, choose_cached, max_new=12)
    out_full = generate.decode(sim, source, 6, choose_full, max_new=12, steps=generate.RecomputedSteps)
    assert out_cached == out_full
    assert len({len(o) for o in out_cached}) > 1, "rows must finish at different steps"
    assert len(cached) == len(full)
    for a, b in zip(cached, full):
        assert a.shape == b.shape and torch.allclose(a, b, atol=1e-4)


def test_paraphrase_contract(sim):
    results = generate.paraphrase(sim, "我喜欢北京", n=16, k=5, top_p=0.95, seed=0)
    assert 0 < len(results) <= 5
    texts = [t for t, _ in results]
    assert len(set(texts)) == len(texts) and "我喜欢北京" not in texts
    scores = [s for _, s in results]
    assert scores == sorted(scores, reverse=True) and all(-1.0001 <= s <= 1.0001 for s in scores)
    again = generate.paraphrase(sim, "我喜欢北京", n=16, k=5, top_p=0.95, seed=0)
    assert again == results
    for text, score in results:
        assert score == pytest.approx(generate.similarity(sim, "我喜欢北京", text), abs=1e-5)


def test_mask_positions_fill_in(sim):
    ids = generate.source_ids(sim, "我喜欢北京", mask_positions=[2, 3])
    assert ids[0, 2] == ids[0, 3] == sim.tokenizer.mask_token_id
    assert generate.paraphrase(sim, "我喜欢北京", n=4, k=4, seed=1, mask_positions=[2])
    with pytest.raises(ValueError, match="outside"):
        generate.source_ids(sim, "我喜欢北京", mask_positions=[6])


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"text": "   "}, "empty"),
        ({"text": "我" * 70}, "too long"),
        ({"n": 0}, "n "),
        ({"k": 0}, "k "),
        ({"top_p": 0.0}, "top-p"),
    ],
)
def test_bad_input_raises_clear_errors(sim, kwargs, message):
    args = {"text": "我喜欢北京", "n": 4, "k": 2, "top_p": 0.9, **kwargs}
    with pytest.raises(ValueError, match=message):
        generate.paraphrase(sim, **args)


@settings(max_examples=30, deadline=None)
@given(st.text(alphabet="I want to Beijing 0123 😀!?é", min_size=1, max_size=40).filter(str.strip),
       st.sampled_from(["", "我", "北京"]))
def test_text_in_other_scripts_is_refused_and_mixed_text_is_read(sim, other, chinese):
    """English, digits or emoji alone say the model reads Chinese; with one Chinese character the text is read."""
    if chinese:
        assert generate.check_text(other + chinese, sim) == (other + chinese).strip()
    else:
        with pytest.raises(ValueError, match="reads Chinese"):
            generate.check_text(other, sim)


@pytest.mark.parametrize("seed", [2**53, 10**23, int(1e23), 2**63 - 1, 10**30])
def test_a_huge_seed_is_refused_without_echoing_a_rounded_number(seed):
    """The page's number box rounds whole numbers beyond 2⁵³ − 1 (99999999999999999999999 arrives as
    99999999999999991611392): they are refused, and the message never shows a number the visitor did not type."""
    with pytest.raises(ValueError, match=r"from 0 to 9,007,199,254,740,991 \(2⁵³ − 1\), got a larger number$") as err:
        generate.check_seed(seed)
    assert str(seed) not in str(err.value)
    generate.check_seed(2**53 - 1)
    with pytest.raises(ValueError, match="got -1$"):
        generate.check_seed(-1)


def test_similarity_matrix_is_symmetric_with_unit_diagonal(sim):
    m = generate.similarity_matrix(sim, ["我喜欢北京", "我不喜欢北京", "今天天气不错"])
    assert m.shape == (3, 3) and np.allclose(m, m.T, atol=1e-6) and np.allclose(np.diag(m), 1, atol=1e-5)
    assert generate.encode(sim, ["我", "我喜欢北京今天"] * 40, batch_size=7).shape == (80, 32)


def nucleus_by_sorting(probs: torch.Tensor, top_p: float) -> set[int]:
    """The definition: sort, keep tokens until the cumulative probability first reaches p."""
    order = torch.argsort(probs, descending=True, stable=True).tolist()
    kept, mass = set(), 0.0
    for token in order:
        if mass >= top_p:
            break
        kept.add(token)
        mass += probs[token].item()
    return kept


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(0.001, 1.0), min_size=2, max_size=12, unique=True), st.floats(0.05, 1.0))
def test_in_nucleus_is_the_smallest_prefix_reaching_p(weights, top_p):
    probs = torch.tensor(weights, dtype=torch.float64)
    probs = probs / probs.sum()
    # Weights one ulp apart can tie once normalised; with a tie the sorted definition keeps whichever comes first and
    # in_nucleus keeps both, so ties are left out.
    assume(len(set(probs.tolist())) == len(weights))
    tokens = torch.arange(len(weights))
    kept = generate.in_nucleus(probs.expand(len(weights), -1), tokens, top_p)
    assert set(tokens[kept].tolist()) == nucleus_by_sorting(probs, top_p)


def test_top_p_bert4keras_example():
    probs = torch.tensor([[0.5, 0.3, 0.15, 0.05]])
    assert nucleus_by_sorting(probs[0], 0.8) == {0, 1}
    tokens = torch.arange(4)
    assert generate.in_nucleus(probs.expand(4, -1), tokens, 0.8).tolist() == [True, True, False, False]
    assert generate.in_nucleus(probs.expand(4, -1), tokens, 0.81).tolist() == [True, True, True, False]


def test_sampler_follows_the_renormalised_nucleus():
    probs = torch.tensor([[0.05, 0.5, 0.15, 0.3]]).repeat(20000, 1)
    draws = generate.sample_top_p(0.8, torch.Generator().manual_seed(0))(probs.log())
    counts = torch.bincount(draws, minlength=4).float() / len(draws)
    assert counts[0] == 0 and counts[2] == 0
    assert counts[1].item() == pytest.approx(0.5 / 0.8, abs=0.02) and counts[3].item() == pytest.approx(0.3 / 0.8, abs=0.02)


def test_pure_helpers():
    assert generate.detokenize(["我", "用", "iphone", "12", "##8", "，", "ok"]) == "我用iphone 128，ok"
    assert generate.distinct_candidates(["a ", "b", "a", "", "src", "c"], "src") == ["a", "b", "c"]
    ranked = [("这个苹果很甜。", 0.99), ("这个苹果很甜啊", 0.98), ("这个苹果很甜啊！", 0.97), ("那个苹果很甜", 0.9)]
    assert generate.beyond_punctuation(ranked, "这个苹果很甜") == [("这个苹果很甜啊", 0.98), ("那个苹果很甜", 0.9)]
    assert generate.changes("明天早上我要早点出门", "明天晚上我要早点出门") == "早→晚"
    assert generate.changes("晚上十点以后请不要大声说话", "晚上十点以后不要大声说话啊") == "−请 +啊"
    assert generate.changes("我喜欢北京", "我喜欢北京") == ""
    vectors = np.array([[1.0, 0.0], [0.6, 0.8], [0.0, 1.0]])
    ranked = generate.rank_by_cosine(np.array([0.0, 1.0]), vectors, ["x", "y", "z"], k=2)
    assert [t for t, _ in ranked] == ["z", "y"] and ranked[1][1] == pytest.approx(0.8)


def test_steer_to_source_raises_input_characters_and_lowers_repeats():
    source = torch.tensor([7, 8, 8])
    steer = generate.steer_to_source(source, vocab_size=10, copy_bias=2.0, repetition_penalty=3.0)
    logits = torch.zeros(2, 10)
    history = torch.tensor([[5, 5], [8, 9]])  # row 0 wrote 5 twice; row 1 wrote 8 once (the input has two) and 9
    out = steer(logits, history)
    assert out[0, 7] == 2.0 and out[0, 8] == 2.0 and out[0, 0] == 0.0  # the input's characters, unwritten
    assert out[0, 5] == -3.0 * 2  # written twice, the input has none
    assert out[1, 8] == 2.0  # a second 8 stays free: the input has two
    assert out[1, 9] == -3.0 and out[1, 7] == 2.0
    assert torch.equal(steer(logits, history), out) and torch.equal(logits, torch.zeros(2, 10))  # pure


def test_steered_paraphrases_copy_more_of_the_input(sim):
    plain = generate.sample(sim, "我喜欢北京", 16, 0.95, 0)
    steered = generate.sample(sim, "我喜欢北京", 16, 0.95, 0, copy_bias=6.0)
    share = lambda texts: np.mean([sum(ch in "我喜欢北京" for ch in t) / max(len(t), 1) for t in texts])  # noqa: E731
    assert share(steered) > share(plain)
    assert generate.paraphrase(sim, "我喜欢北京", n=8, k=3, seed=0, copy_bias=0.0) == generate.paraphrase(sim, "我喜欢北京", n=8, k=3, seed=0)


def test_stammer_blocks():
    assert generate.stammer_blocks([], set()) == []
    assert generate.stammer_blocks([5], set()) == [5]  # 5 5: a doubled character the input lacks
    assert generate.stammer_blocks([5], {5}) == []  # the input doubles it (看看): allowed
    assert generate.stammer_blocks([5, 6, 5], set()) == [5, 6]  # 5 5, and the pair 5 6 a second time
    assert generate.stammer_blocks([5, 6, 7, 5, 8, 5], {5}) == [6, 8]


def sep_by_length(sep: int):
    """A steer that makes [SEP] likelier with every token written, so random tiny models finish."""
    def steer(logits, history):
        out = logits.clone()
        out[:, sep] += 1.5 * history.shape[1]
        return out
    return steer


def mean_log_prob(sim, source, tokens, steer) -> float:
    """Mean log probability per token of tokens + [SEP], by full recompute (the reference recipe)."""
    stepper = generate.RecomputedSteps(sim, source, 1)
    logits, total, history = stepper.first_logits, 0.0, torch.empty(1, 0, dtype=torch.long)
    for token in tokens + [sim.tokenizer.sep_token_id]:
        total += torch.log_softmax(steer(logits, history).float(), -1)[0, token].item()
        history = torch.cat([history, torch.tensor([[token]])], dim=1)
        logits = stepper.advance(torch.tensor([token]))
    return total / (len(tokens) + 1)


def test_beam_search_is_ranked_by_mean_log_prob_and_never_stammers(sim):
    source = generate.source_ids(sim, "广州和深圳哪个好？")
    steer = sep_by_length(sim.tokenizer.sep_token_id)
    beams = generate.beam_search(sim, source, 6, max_new=12, steer=steer)
    assert beams == generate.beam_search(sim, source, 6, max_new=12, steer=steer, steps=generate.RecomputedSteps)
    assert 1 < len(beams) <= 6 and len({tuple(b) for b in beams}) == len(beams)
    scores = [mean_log_prob(sim, source, b, steer) for b in beams]
    assert scores == sorted(scores, reverse=True)
    for b in beams:
        assert all(generate.stammer_blocks(b[:i], set()).count(b[i]) == 0 for i in range(len(b)))


def test_pair_log_probs_equal_decoding_step_by_step_in_any_batch(sim):
    pairs = [("广州和深圳哪个好？", "深圳和广州哪个好"), ("我喜欢北京", "我爱北京天安门"), ("今天天气不错", "好")]
    unsteered = lambda logits, history: logits  # noqa: E731
    expected = []
    for source, target in pairs:
        tokens = sim.tokenizer.convert_tokens_to_ids(sim.tokenizer.tokenize(target))
        expected.append(mean_log_prob(sim, generate.source_ids(sim, source), tokens, unsteered))
    assert generate.pair_log_probs(sim, pairs) == pytest.approx(expected, abs=1e-4)  # padded together
    assert generate.pair_log_probs(sim, pairs, batch_size=1) == pytest.approx(expected, abs=1e-4)
    forth, back = generate.pair_log_probs(sim, [pairs[0], pairs[0][::-1]])
    assert forth != pytest.approx(back, abs=1e-6)  # a direction, not a symmetric score


def test_beam_paraphrases_ignore_seed_and_top_p(sim):
    beam = generate.paraphrase(sim, "我喜欢北京", n=6, k=3, seed=0, beam=True)
    assert beam == generate.paraphrase(sim, "我喜欢北京", n=6, k=3, top_p=0.3, seed=7, beam=True)
    assert len(beam) >= 1 and "我喜欢北京" not in [t for t, _ in beam]


@pytest.mark.parametrize("beam", [False, True])
def test_paraphrases_stop_at_twice_the_input_and_ten(sim, beam):
    assert generate.max_paraphrase_tokens(5) == 20 and generate.max_paraphrase_tokens(60) == generate.MAX_LEN
    texts = generate.sample(sim, "我喜欢北京", 8, 1.0, 0, beam=beam)
    assert texts and max(len(sim.tokenizer.tokenize(t)) for t in texts) <= 20
    assert any(len(sim.tokenizer.tokenize(t)) == 20 for t in texts)  # the random tiny model runs on to the limit


def test_steer_to_stop_lowers_all_but_the_end_once_the_input_is_written():
    vocabulary = ["[PAD]", "[SEP]", "今", "天", "不", "错", "怎", "么", "啊", "。", "，", "了"]
    ids = {token: i for i, token in enumerate(vocabulary)}
    source = torch.tensor([ids[c] for c in "今天不错了"])  # its ending is 不错: the final particle does not count
    steer = generate.steer_to_stop(vocabulary, ids["[SEP]"], source, tail_penalty=5.0)
    history = torch.tensor([[ids[c] for c in row] for row in ("今天不错", "天不错啊", "今天今天", "天不错，")])
    logits = torch.zeros(4, len(vocabulary))
    out = steer(logits, history)
    free = [ids[t] for t in ("[SEP]", "么", "啊", "。", "了")]  # the end, final particles, a sentence end
    others = [i for i in range(len(vocabulary)) if i not in free]
    for row in (0, 1):  # the input's ending written (then a particle): only the end and particles stay free
        assert torch.all(out[row, others] == -5.0) and torch.all(out[row, free] == 0.0)
    assert torch.all(out[2] == 0.0)  # the ending not written yet
    assert torch.all(out[3] == 0.0)  # a comma after it: that comma already paid the penalty
    assert torch.equal(logits, torch.zeros(4, len(vocabulary)))  # pure
    masked = generate.steer_to_stop(vocabulary, ids["[SEP]"], torch.tensor([ids["今"], ids["天"], 0]), tail_penalty=5.0)
    assert torch.all(masked(logits, history) == 0.0)  # an ending still to fill in (a mask, id 0 here) is never reached


def test_tail_penalty_changes_nothing_at_zero_and_runs_in_both_decodings(sim):
    plain = generate.paraphrase(sim, "我喜欢北京", n=8, k=3, seed=0)
    assert generate.paraphrase(sim, "我喜欢北京", n=8, k=3, seed=0, tail_penalty=0.0) == plain
    for beam in (False, True):
        texts = generate.sample(sim, "我喜欢北京", 4, 0.95, 0, beam=beam, tail_penalty=6.0)
        assert len(texts) == 4 and all(isinstance(t, str) for t in texts)
