"""Perturbed Masking core: impacts against a brute-force reference, segmentation, trees, evaluation.

Tiny random encoders are built inside the tests: a character RoFormer like the bundled one and a
replica of the ``bert-base-chinese`` Hub layout (same config fields, vocab.txt layout, key names).
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from transformers import AutoModelForMaskedLM, BertConfig, BertForPreTraining, RoFormerForMaskedLM

from core.perturbed_masking import data, evaluate, impact, model, readout, segment, train, trees
from core.perturbed_masking.text import normalize, split_long

CHARS = list("大肠杆菌是人和许多动物道中最主要且数量的一种细计算机鼠标有什么比较特殊用途呢我爱北京天安门0123456789abc，。！？")


def roformer_dir(root: Path) -> Path:
    """A tiny bundled-style checkpoint written by the model's own save function."""
    torch.manual_seed(0)
    vocab = model.SPECIAL_TOKENS + CHARS
    masked_lm = RoFormerForMaskedLM(model.roformer_config(len(vocab), hidden=32, embedding=16, layers=2, heads=2, ffn=64, max_positions=64))
    model.save_pretrained(masked_lm, vocab, root / "roformer")
    return root / "roformer"


def bert_base_chinese_replica(root: Path) -> Path:
    """Layout of the Hub repo bert-base-chinese: [PAD], [unused1..99], [UNK]=100, [CLS]=101, [SEP]=102, [MASK]=103."""
    out = root / "bert-base-chinese"
    out.mkdir()
    vocab = ["[PAD]"] + [f"[unused{i}]" for i in range(1, 100)] + ["[UNK]", "[CLS]", "[SEP]", "[MASK]", "<S>", "<T>"] + CHARS
    (out / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    (out / "tokenizer_config.json").write_text(json.dumps({"do_lower_case": False, "model_max_length": 512}))
    torch.manual_seed(1)
    config = BertConfig(
        vocab_size=len(vocab), hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
        max_position_embeddings=512, type_vocab_size=2, pooler_fc_size=768, pooler_num_attention_heads=12,
        pooler_num_fc_layers=3, pooler_size_per_head=128, pooler_type="first_token_transform", directionality="bidi",
        architectures=["BertForMaskedLM"],
    )
    BertForPreTraining(config).save_pretrained(out)  # bert.*, cls.predictions.*, cls.seq_relationship.*
    return out


@pytest.fixture(scope="module", params=["roformer", "bert"])
def encoder(request, tmp_path_factory) -> impact.Encoder:
    root = tmp_path_factory.mktemp(request.param)
    directory = roformer_dir(root) if request.param == "roformer" else bert_base_chinese_replica(root)
    return model.load(directory, torch.device("cpu"))


def brute_force_impact(encoder: impact.Encoder, text: str, spans, i: int, j: int, layer: int) -> float:
    """One forward per masked version, straight from the definition."""
    ids = encoder.char_ids(text)

    def span_vector(masked: set[int]) -> torch.Tensor:
        row = [encoder.mask_id if any(spans[s][0] <= k < spans[s][1] for s in masked) else t for k, t in enumerate(ids)]
        x = torch.tensor([[encoder.cls_id, *row, encoder.sep_id]])
        with torch.no_grad():
            hidden = encoder.model(input_ids=x, output_hidden_states=True).hidden_states[layer][0]
        return hidden[1 + spans[i][0] : 1 + spans[i][1]].mean(0)

    return (span_vector({i}) - span_vector({i, j})).norm().item()


def test_impacts_match_definition(encoder):
    words = ["大肠杆菌", "是", "人", "和", "许多", "动物"]
    text = "".join(words)
    matrix = impact.word_matrix(encoder, words)
    assert matrix.shape == (encoder.num_layers + 1, 6, 6)
    spans = impact.word_spans(words)
    for i, j, layer in [(0, 4, encoder.num_layers), (5, 1, 1), (2, 3, 0)]:
        assert matrix[layer, i, j] == pytest.approx(brute_force_impact(encoder, text, spans, i, j, layer), rel=1e-4, abs=1e-6)
    assert np.all(np.diagonal(matrix, axis1=1, axis2=2) == 0)


def test_prediction_gains_match_definition(encoder):
    """gain[i, j] = log p(x_i | x∖{i}) − log p(x_i | x∖{i, j}), from the full masked LM, one forward per row."""
    text = "我爱北京天安门"
    ids = encoder.char_ids(text)
    masked_lm = AutoModelForMaskedLM.from_pretrained(encoder.model.config.name_or_path).eval()  # the whole MLM, as saved

    def log_prob(i: int, masked: set[int]) -> float:
        row = [encoder.mask_id if k in masked else t for k, t in enumerate(ids)]
        x = torch.tensor([[encoder.cls_id, *row, encoder.sep_id]])
        with torch.no_grad():
            logits = masked_lm(input_ids=x).logits[0, 1 + i]
        return torch.log_softmax(logits, -1)[ids[i]].item()

    _, gains = impact.adjacent_impacts(encoder, text)
    for k in [0, 3, 5]:
        two_way = (log_prob(k, {k}) - log_prob(k, {k, k + 1}) + log_prob(k + 1, {k + 1}) - log_prob(k + 1, {k, k + 1})) / 2
        assert gains[k] == pytest.approx(two_way, rel=1e-4, abs=1e-5)
    assert np.isnan(impact.cached_impacts(encoder, text, impact.char_spans(text), full=True).prediction).all()  # trees skip the head


def count_rows(encoder: impact.Encoder) -> list[int]:
    """Record the batch size of every forward the encoder runs."""
    seen: list[int] = []
    encoder.model.register_forward_pre_hook(lambda module, args, kwargs: seen.append(kwargs["input_ids"].shape[0]), with_kwargs=True)
    return seen


def test_rows_needed_and_cache(tmp_path):
    encoder = model.load(roformer_dir(tmp_path), torch.device("cpu"))
    encoder.batch_rows = 16
    rows = count_rows(encoder)
    text = "计算机的鼠标有什么比较特殊的用途呢"
    n = len(text)
    gaps, gains = impact.adjacent_impacts(encoder, text)
    assert sum(rows) == 2 * n - 1 and max(rows) == 16  # 2n − 1 rows, in batches
    assert gains.shape == (n - 1,) and np.isfinite(gains).all()
    full = impact.word_matrix(encoder, list(text))
    assert sum(rows) == 2 * n - 1 + n * (n + 1) // 2
    k = np.arange(n - 1)
    np.testing.assert_allclose(gaps, (full[:, k, k + 1] + full[:, k + 1, k]) / 2, rtol=1e-5, atol=1e-6)
    before = sum(rows)
    impact.adjacent_impacts(encoder, text)
    segment.analyse(encoder, text).words(1, 0.5)
    assert sum(rows) == before  # cached: moving the threshold or layer never reruns the model


def test_bad_spans_and_long_text_rejected(encoder):
    with pytest.raises(ValueError, match="tile"):
        impact.span_impacts(encoder, "我爱北京", [(0, 2), (3, 4)], [])
    with pytest.raises(ValueError, match="at most"):
        impact.word_matrix(encoder, ["我"] * (encoder.max_chars + 1))
    with pytest.raises(ValueError, match="empty"):
        segment.analyse(encoder, "  ")


def test_one_word_gets_a_trivial_matrix_and_tree(encoder):
    """A sentence that is one word (or one character) has no pairs: a 1×1 zero matrix, a one-leaf tree, ROOT as head."""
    for words in (["我"], ["今天"], ["我爱你"]):
        matrix = impact.word_matrix(encoder, words)
        assert matrix.shape == (encoder.num_layers + 1, 1, 1) and (matrix == 0).all()
        assert trees.bracketed(trees.split_tree(words, matrix[-1])) == words[0]
        assert trees.dependency_heads(matrix[-1]) == [0]


def test_unknown_and_fullwidth_characters(encoder):
    assert encoder.char_ids("１２ａＢ") == encoder.char_ids("12ab")
    assert encoder.char_ids("鑫")[0] == encoder.unk_id


def test_long_text_is_read_in_pieces(encoder):
    text = "大肠杆菌是人和许多动物肠道中最主要且数量最多的一种细菌，" * 4
    analysis = segment.analyse(encoder, text)
    assert analysis.gaps.shape == (encoder.num_layers + 1, len(text) - 1)
    assert np.isnan(analysis.gaps[0]).sum() == len(split_long(text, segment.PIECE_CHARS)) - 1
    words = analysis.words(encoder.num_layers, -1e9)  # everything joins except at cuts and punctuation
    assert "".join(words) == text and "，" in words
    assert segment.analyse(encoder, "我爱").gaps.shape == (encoder.num_layers + 1, 1)  # one pair only
    assert segment.analyse(encoder, "我").words(0, 0.0) == ["我"]


# ----------------------------------------------------------------------------- segmentation


def test_relative_join_scores():
    gaps = np.array([2.0, 8.0, 1.0, np.nan, 3.0, 6.0])
    scores = segment.join_scores(gaps, "relative")
    np.testing.assert_allclose(scores[:3], [2 / 8, 8 / 2, 1 / 8])  # each gap over its stronger neighbour
    assert np.isnan(scores[3])  # a cut stays a cut
    np.testing.assert_allclose(scores[4:], [3 / 6, 6 / 3])  # the cut is no neighbour
    np.testing.assert_allclose(segment.join_scores([5.0], "relative"), [1.0])  # a lone gap: compared with itself
    np.testing.assert_array_equal(segment.join_scores(gaps, "absolute"), gaps)
    with pytest.raises(ValueError, match="unknown join rule 'max'"):
        segment.join_scores(gaps, "max")
    assert segment.Segmentation("大肠杆菌是", np.array([[1.0, 0.5, 3.0, 0.2]])).words(0, 1.5, "relative") == ["大肠", "杆菌", "是"]


def test_combined_join_scores():
    gaps, gains = np.array([2.0, 8.0, 1.0, np.nan, 3.0]), np.array([1.0, 4.0, -1.0, np.nan, 2.0])
    combined = segment.join_scores(gaps, "combined", gains)
    contrast = np.array([1.0 - 4.0, 4.0 - 1.0, -1.0 - 4.0, np.nan, 0.0])  # minus the stronger neighbour; lone gap: 0
    np.testing.assert_allclose(combined, segment.join_scores(gaps, "relative") + segment.PREDICTION_WEIGHT * contrast)
    with pytest.raises(ValueError, match="needs the prediction gain"):
        segment.join_scores(gaps, "combined")
    with pytest.raises(ValueError, match="needs the prediction gain"):
        segment.Segmentation("大肠杆菌是", np.array([[1.0, 0.5, 3.0, 0.2]])).scores(0, "combined")


@settings(max_examples=40, deadline=None)
@given(st.text(alphabet="我爱北京天安门，。1a", min_size=1, max_size=30), st.data())
def test_segmentation_properties(text, data):
    gaps = data.draw(st.lists(st.floats(0, 10), min_size=len(text) - 1, max_size=len(text) - 1))
    low, high = sorted(data.draw(st.tuples(st.floats(0, 10), st.floats(0, 10))))
    coarse = segment.words_from_decisions(text, segment.join_decisions(text, gaps, low))
    fine = segment.words_from_decisions(text, segment.join_decisions(text, gaps, high))
    assert "".join(coarse) == text == "".join(fine)
    assert len(fine) >= len(coarse)  # larger threshold ⇒ finer words
    assert all(len(w) == 1 for w in coarse if any(c in "，。" for c in w))  # punctuation stands alone


def test_numbers_latin_words_and_doubled_marks_always_join():
    text = "共有１２.５%和GDP——对3.a……"
    everything_cut = segment.words_from_decisions(text, segment.join_decisions(text, [-1.0] * (len(text) - 1), 0.0))
    assert everything_cut == ["共", "有", "１２.５%", "和", "GDP", "——", "对", "3", ".", "a", "……"]


TOKENS = ["New", "York", "GDP", "3", "2024", "12.5%", "我们", "去", "北京", "旅行", "，"]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.sampled_from(TOKENS), min_size=1, max_size=8), st.lists(st.booleans(), min_size=8, max_size=8))
def test_typed_spaces_keep_latin_words_and_numbers_apart(tokens, spaced):
    """Mixed scripts: a space between two Latin words or numbers is always a word boundary, even where every score
    says join; without the space they join as one run; spaces between Chinese words are left to the model."""
    typed = tokens[0] + "".join((" " if space else "") + token for token, space in zip(tokens[1:], spaced))
    text, breaks = segment.without_spaces(typed)
    assert text == "".join(tokens)
    words = segment.Segmentation(text, np.full((1, len(text) - 1), 9.0), breaks=breaks).words(0, 0.0)
    assert "".join(words) == text
    boundaries = set(itertools.accumulate(len(w) for w in words))
    position = len(tokens[0])
    for token, space in zip(tokens[1:], spaced):
        if segment.script_run(text, position - 1):
            assert (position in boundaries) == space, (typed, words)
        position += len(token)


def test_english_sentence_is_refused_and_spaced_latin_words_stay_apart(encoder):
    with pytest.raises(ValueError, match="reads Chinese"):
        segment.analyse(encoder, "I want to travel to Beijing")
    words = segment.analyse(encoder, "我们去 New York 旅行").words(0, -1e9, "absolute")  # every score joins
    assert "".join(words) == "我们去NewYork旅行" and not any("NewYork" in w for w in words)


def word_evidence(words: list[str], rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Gaps of 3 layers and gains in which layer 2 and the gain are larger inside words (noisy), with a cut."""
    inside = readout.inside_word(words)
    gaps = rng.uniform(0.5, 1.5, (3, len(inside)))
    gaps[2] += 2.0 * inside
    gains = rng.normal(0, 0.3, len(inside)) + inside
    gaps[:, 1], gains[1] = np.nan, np.nan
    return gaps, gains


def test_readout_learns_which_gaps_lie_inside_words():
    rng = np.random.default_rng(0)
    sentences = [["大肠", "杆菌", "是", "人和", "动物"], ["我们", "在", "野生", "动物园", "玩"]] * 20
    fitted = readout.fit([(*word_evidence(words, rng), words) for words in sentences])
    assert len(fitted.weights) == (2 * 3 + 2) * (2 * readout.WINDOW + 1)
    words = ["北京", "大学", "的", "学生"]
    gaps, gains = word_evidence(words, rng)
    scores = fitted.scores(gaps, gains)
    assert np.isnan(scores[1]) and not np.isnan(np.delete(scores, 1)).any()  # a cut stays a cut
    inside = readout.inside_word(words).astype(bool)
    kept = ~np.isnan(scores)
    assert (scores[kept & inside] > 0.5).all() and (scores[kept & ~inside] < 0.5).all()
    assert readout.Readout.from_json(json.loads(json.dumps(fitted.to_json()))) == fitted
    analysis = segment.Segmentation("北京大学的学生", gaps, gains, fitted)
    np.testing.assert_array_equal(analysis.scores(0, "fitted"), analysis.scores(2, "fitted"))  # reads every layer
    with pytest.raises(ValueError, match="fitted on 40 features per gap"):
        fitted.scores(gaps[:2], gains)
    with pytest.raises(ValueError, match="no fitted read-out"):
        segment.Segmentation("北京大学的学生", gaps, gains).words(0, 0.5, "fitted")
    with pytest.raises(ValueError, match="not this text"):
        readout.fit([(gaps, gains, ["北京大学"])])


def test_join_decisions_length_checked():
    with pytest.raises(ValueError):
        segment.join_decisions("我爱你", [1.0], 0.5)


def test_span_scores():
    counts = segment.SpanCounts()
    counts.add(["大肠杆菌", "是", "人和"], ["大肠杆菌", "是", "人", "和"])
    assert counts.scores() == pytest.approx({"precision": 2 / 3, "recall": 2 / 4, "f1": 2 * (2 / 3) * 0.5 / (2 / 3 + 0.5)})
    with pytest.raises(ValueError):
        counts.add(["我"], ["你"])


@settings(max_examples=30, deadline=None)
@given(st.text(alphabet="一二三，。！", max_size=80), st.integers(1, 20))
def test_split_long(text, limit):
    pieces = split_long(text, limit)
    assert "".join(pieces) == text and all(0 < len(p) <= limit for p in pieces)


def test_split_long_prefers_punctuation():
    assert split_long("今天天气很好，我们去公园。然后回家", 10) == ["今天天气很好，", "我们去公园。然后回家"]


# ----------------------------------------------------------------------------- trees


def brute_force_best_tree(scores: np.ndarray, root: int | None = None) -> float:
    n = len(scores) - 1
    best = -np.inf
    for heads in itertools.product(range(n + 1), repeat=n):
        if trees.is_tree(heads) and trees.is_projective(heads) and (root is None or heads[root - 1] == 0):
            best = max(best, sum(scores[h, d] for d, h in enumerate(heads, start=1)))
    return best


@settings(max_examples=25, deadline=None)
@given(st.integers(1, 5), st.integers(0, 10_000), st.data())
def test_eisner_finds_best_projective_tree(n, seed, data):
    matrix = np.random.default_rng(seed).random((n, n)) * 5
    scores = trees.head_scores(matrix)
    heads = trees.dependency_heads(matrix)
    assert trees.is_tree(heads) and trees.is_projective(heads)
    assert sum(scores[h, d] for d, h in enumerate(heads, start=1)) == pytest.approx(brute_force_best_tree(scores))
    root = data.draw(st.integers(1, n))  # the gold-root protocol: the best tree among those with this root
    heads = trees.dependency_heads(matrix, root)
    assert trees.is_tree(heads) and trees.is_projective(heads) and heads[root - 1] == 0
    assert sum(scores[h, d] for d, h in enumerate(heads, start=1)) == pytest.approx(brute_force_best_tree(scores, root))


def test_largest_impact_becomes_head():
    # word 1 is moved by nothing but moves everyone: it should be the root and head of all.
    matrix = np.array([[0, 9, 1, 1], [1, 0, 1, 1], [1, 9, 0, 1], [1, 9, 1, 0]], dtype=float)
    assert trees.dependency_heads(matrix) == [2, 0, 2, 2]


def test_chain_baselines():
    assert trees.chain_heads(4, "right") == [0, 1, 2, 3]
    assert trees.chain_heads(4, "left") == [2, 3, 4, 0]
    assert trees.is_tree(trees.chain_heads(4, "left"))
    with pytest.raises(ValueError):
        trees.chain_heads(3, "up")
    # given the root, the chain is kept and its loose end hangs on the root
    assert trees.chain_heads(4, "left", root=2) == [2, 0, 4, 2]
    assert trees.chain_heads(4, "right", root=3) == [3, 1, 0, 3]
    assert trees.chain_heads(4, "left", root=4) == [2, 3, 4, 0]
    for n, root, direction in itertools.product(range(1, 6), range(1, 6), ["left", "right"]):
        if root <= n:
            heads = trees.chain_heads(n, direction, root)
            assert trees.is_tree(heads) and heads[root - 1] == 0
    with pytest.raises(ValueError, match="root"):
        trees.dependency_heads(np.ones((3, 3)), root=4)


def test_split_tree_follows_blocks():
    words = ["计算机", "的", "鼠标", "有", "什么", "用途"]
    matrix = np.ones((6, 6))
    matrix[:3, :3] = matrix[3:, 3:] = 5.0  # two strongly bound halves
    np.fill_diagonal(matrix, 0)
    tree = trees.split_tree(words, matrix)
    assert tree == [[["计算机"], ["的", ["鼠标"]]], ["有", ["什么", ["用途"]]]]
    assert trees.bracketed(tree).replace("(", "").replace(")", "").split() == words
    assert trees.split_tree(["一"], np.zeros((1, 1))) == ["一"]
    with pytest.raises(ValueError):
        trees.split_tree(words, np.zeros((2, 2)))


# ----------------------------------------------------------------------------- training data


def test_vocab_packing_and_masking():
    chunks = data.pack_chunks(["１９９８年，我们好。", "他说：“ABC”"], 8, excluded={"他说："})
    assert all(len(c) <= 8 for c in chunks) and "".join(chunks) == "1998年，我们好。“abc”"
    vocab = data.build_vocab(chunks, 100)
    assert vocab[:5] == model.SPECIAL_TOKENS and {"1", "9", "8", "a"} <= set(vocab)
    ids = torch.from_numpy(data.encode(["我们好"] * 400, {t: i for i, t in enumerate(vocab)}, 8).astype(np.int64))
    inputs, chosen = model.mask_batch(ids, 0.15, len(vocab), torch.Generator().manual_seed(0))
    assert not chosen[ids < len(model.SPECIAL_TOKENS)].any()  # never [CLS]/[SEP]/[PAD]
    assert 0.12 < chosen.float().sum() / (ids >= 5).sum() < 0.18
    assert 0.7 < (inputs[chosen] == model.MASK).float().mean() < 0.9


def test_init_continues_from_a_checkpoint_with_the_same_vocabulary(tmp_path):
    init = roformer_dir(tmp_path)
    args = train.parse_args(["--hidden", "32", "--embedding", "16", "--layers", "2", "--heads", "2", "--ffn", "64",
                             "--max-positions", "64", "--init", str(init)])
    vocab = model.SPECIAL_TOKENS + CHARS
    continued = train.initial_model(args, vocab)
    saved = RoFormerForMaskedLM.from_pretrained(init).state_dict()
    assert all(torch.equal(continued.state_dict()[k], v.float()) for k, v in saved.items())
    with pytest.raises(ValueError, match="vocabulary"):
        train.initial_model(args, vocab[:-1] + ["另"])


def test_prose_files_are_read_without_idiom_blanks(tmp_path):
    import lzma

    (tmp_path / data.PROSE_DIR).mkdir()
    with lzma.open(tmp_path / data.PROSE_DIR / "chid_passages.txt.xz", "wt", encoding="utf-8") as f:
        f.write("他做事总是＿，大家都很佩服。今天天气很好。\n新闻标题\n")
    (tmp_path / data.PROSE_DIR / "notes.txt").write_text("不是语料\n", encoding="utf-8")  # only .txt.xz files are prose
    assert data.read_prose(tmp_path) == {"chid_passages": ["大家都很佩服。今天天气很好。", "新闻标题"]}


def test_people_daily_dev_slice_is_fixed(tmp_path):
    path = tmp_path / "pd.txt"
    path.write_text("迈向/v  充满/v\n\n中共中央/nt  总书记/n\n同胞/n  们/k\n", encoding="utf-8")
    sentences = data.people_daily_sentences(path)
    assert sentences == [["迈向", "充满"], ["中共中央", "总书记"], ["同胞", "们"]]
    assert data.split_people_daily(data.people_daily_lines(path), 1) == (["迈向充满", "中共中央总书记"], ["同胞们"])


# ----------------------------------------------------------------------------- evaluation


def test_parse_evaluation_on_conllu(tmp_path, encoder):
    conllu = tmp_path / "tiny.conllu"
    conllu.write_text(
        "# text = 我爱北京。\n1\t我\t我\tPRON\t_\t_\t2\tnsubj\t_\t_\n2\t爱\t爱\tVERB\t_\t_\t0\troot\t_\t_\n"
        "3\t北京\t北京\tPROPN\t_\t_\t2\tobj\t_\t_\n4\t。\t。\tPUNCT\t_\t_\t2\tpunct\t_\t_\n\n",
        encoding="utf-8",
    )
    sentences = data.read_conllu(conllu, None)
    assert sentences[0].words == ["我", "爱", "北京", "。"] and sentences[0].punctuation == [False, False, False, True]
    result = evaluate.evaluate_parsing(encoder, sentences, layer=1)
    assert result["words_scored"] == 3 and result["sentences"] == 1
    assert result["right_chain_uas"] == pytest.approx(1 / 3)  # 爱 → 我 wrong, 北京 → 爱 right
    assert result["left_chain_uas"] == pytest.approx(1 / 3)  # 我 → 爱 right
    assert 0 <= result["uas"] <= 1 and len(result["uas_by_layer"]) == encoder.num_layers + 1
    given_root = evaluate.evaluate_parsing(encoder, sentences, layer=1, gold_root=True)
    # 爱 is the root: the left chain's loose end 北京, and the right chain's 我, now hang on it
    assert given_root["root"] == "gold" and given_root["left_chain_uas"] == given_root["right_chain_uas"] == 1.0


def test_segment_evaluation_and_tuning(tmp_path, encoder):
    gold = [["大肠杆菌", "是", "人", "和", "许多", "动物"], ["我", "爱", "北京", "天安门"], ["我们", "在", "野生", "动物园", "玩"]]
    result = evaluate.evaluate_segmentation(encoder, gold, layer=1, threshold=0.0, rule="absolute")
    assert set(result) >= {"precision", "recall", "f1", "jieba_f1", "sentences"} and result["sentences"] == 3
    unsupervised = evaluate.tune(encoder, gold, thresholds=10)
    assert unsupervised["readout"] is None and "fitted" not in unsupervised["thresholds"] and unsupervised["sentences"] == 3
    assert unsupervised["dev_f1"] == pytest.approx(max(f1 for by_layer in unsupervised["f1_by_layer"].values() for f1 in by_layer.values()), abs=1e-4)
    tuned = evaluate.tune(encoder, gold, fit_lines=1, thresholds=10)  # read-out fitted on sentence 1, choices on 2 and 3
    assert (tuned["fitted_on"], tuned["sentences"]) == (1, 2) and set(tuned["thresholds"]) == set(segment.JOIN_RULES)
    assert tuned["dev_f1"] == pytest.approx(max(tuned["f1_by_rule"].values()), abs=1e-4)
    assert 0 <= tuned["layer"] <= encoder.num_layers
    fitted = readout.Readout.from_json(tuned["readout"])
    counts = segment.SpanCounts()  # the written threshold reproduces the tuned F1
    for words in gold[1:]:
        analysis = segment.analyse(encoder, "".join(words))
        analysis.readout = fitted
        counts.add(analysis.words(tuned["layer"], tuned["thresholds"][tuned["rule"]], tuned["rule"]), words)
    assert counts.scores()["f1"] == pytest.approx(tuned["dev_f1"])
    with pytest.raises(ValueError, match="fit_lines must leave sentences"):
        evaluate.tune(encoder, gold, fit_lines=3)


def test_tuned_defaults_file_is_read(tmp_path):
    directory = roformer_dir(tmp_path)
    assert impact.checkpoint_defaults(directory)[1] == impact.SegmentationDefaults(2)  # none written: Su's fallback
    tuned = {"layer": 1, "rule": "relative", "thresholds": {"absolute": 3.5, "relative": 0.9}}
    (directory / impact.DEFAULTS_FILE).write_text(json.dumps(tuned))
    layers, defaults = impact.checkpoint_defaults(directory)
    assert (layers, defaults.layer, defaults.rule, defaults.threshold) == (2, 1, "relative", 0.9) and defaults.readout is None
    with pytest.raises(ValueError, match="has no fitted read-out"):
        defaults.threshold_of("fitted")
    fitted = readout.Readout((0.0,) * 40, (1.0,) * 40, (0.5,) * 40, -1.0)
    (directory / impact.DEFAULTS_FILE).write_text(json.dumps({**tuned, "rule": "fitted", "readout": fitted.to_json()}))
    assert impact.checkpoint_defaults(directory)[1].readout == fitted
    (directory / impact.DEFAULTS_FILE).write_text(json.dumps(tuned))
    encoder = model.load(directory, torch.device("cpu"))
    text = "我爱北京天安门"
    assert segment.segment(encoder, text) == segment.analyse(encoder, text).words(1, 0.9, "relative")
