"""The metrics files are the one source of the numbers people read: cards, docs/results.md and tab intros."""

from __future__ import annotations

import json

import pytest

from core import metrics


def test_record_replaces_by_key_and_renders_everywhere(tmp_path, monkeypatch):
    monkeypatch.setattr(metrics, "ASSETS_DIR", tmp_path)
    (tmp_path / "vae").mkdir()
    assert metrics.figure("vae", "nll", "nll") is None and metrics.card_table("vae").startswith("_Not recorded yet")
    metrics.record("vae", "nll", label="NLL", value="90.00 nats", raw={"nll": 90.0}, command="python -m core.vae.evaluate",
                   anchor="88.71")
    metrics.record("vae", "nll", label="NLL", value="85.68 nats", raw={"nll": 85.68}, command="python -m core.vae.evaluate",
                   anchor="88.71")
    saved = json.loads((tmp_path / "vae" / "metrics.json").read_text(encoding="utf-8"))
    assert list(saved) == ["nll"] and saved["nll"]["raw"] == {"nll": 85.68} and saved["nll"]["date"]
    assert metrics.figure("vae", "nll", "nll") == 85.68 and metrics.figure("vae", "nll", "nll.mean") is None
    assert "| NLL | **85.68 nats** | `python -m core.vae.evaluate` |" in metrics.card_table("vae")
    assert "| vae | NLL | **85.68 nats** |" in metrics.results_table()


def test_replace_block_fills_between_markers_and_refuses_a_missing_block():
    text = "a\n<!-- metrics:scores -->\nold\n<!-- /metrics:scores -->\nb"
    assert metrics.replace_block(text, "scores", "new") == "a\n<!-- metrics:scores -->\nnew\n<!-- /metrics:scores -->\nb"
    with pytest.raises(ValueError, match="metrics:results"):
        metrics.replace_block(text, "results", "new")


def test_results_doc_and_model_cards_agree_with_the_metrics_files():
    stale = [str(path) for path, text in metrics.rendered().items() if path.read_text(encoding="utf-8") != text]
    assert not stale, f"run `python -m core.metrics` to re-render: {stale}"


# --------------------------------------------------------------------------- each evaluate's --record, on tiny inputs
# The bundled models run on a few items; the entries go to a temporary file, never into assets/.


@pytest.fixture
def recorded(tmp_path, monkeypatch):
    """metrics.load/record read and write tmp files; returns load."""
    monkeypatch.setattr(metrics, "metrics_path", lambda model: tmp_path / f"{model}.metrics.json")
    return metrics.load


PAIRS = [("我喜欢北京", "我很喜欢北京"), ("今天天气不错", "广州和深圳哪个好"), ("怎么开通花呗", "花呗怎么开通"),
         ("如何申请退款", "快递一直没到怎么办"), ("忘记支付密码怎么办", "支付密码忘了怎么办"), ("电影不错", "红色的苹果")]


@pytest.fixture
def tiny_sts(tmp_path, monkeypatch):
    """Six pairs in each of the four test sets, as the default --sts-dir."""
    from core.roformer_sim import data, evaluate

    for name in data.DATASETS:
        labels = [5, 1, 4, 0, 5, 2] if name == "STS-B" else [1, 0, 1, 0, 1, 0]
        (tmp_path / "sts" / name).mkdir(parents=True)
        data.test_file(tmp_path / "sts", name).write_text(
            "".join(f"{a}\t{b}\t{label}\n" for (a, b), label in zip(PAIRS, labels)), encoding="utf-8")
    monkeypatch.setattr(evaluate, "STS_DIR", tmp_path / "sts")
    return evaluate


def test_roformer_sim_similarity_records_the_four_sets_in_one_entry(recorded, tiny_sts):
    result = tiny_sts.main(["similarity", "--threads", "1", "--record"])
    entry = recorded("roformer_sim")["test_spearman"]
    ours = result["spearman"]
    assert entry["value"].startswith(f"{ours['ATEC']:.2f} / {ours['BQ']:.2f} / {ours['LCQMC']:.2f} / {ours['STS-B']:.2f} "
                                      f"/ avg {ours['avg']:.2f} (character overlap, same run: avg ")
    assert entry["raw"] == result and "blog 8541" in entry["anchor"]
    assert entry["command"] == "python -m core.roformer_sim.evaluate similarity --threads 1 --record"


def test_roformer_sim_generate_records_the_input_count(recorded, tiny_sts):
    result = tiny_sts.main(["generate", "--datasets", "LCQMC", "--limit", "2", "--n", "4", "--threads", "1", "--record"])
    entry = recorded("roformer_sim")["generate_lcqmc_2_per_set_n4_p0.95"]
    assert entry["label"].startswith("paraphrases of 2 test inputs (first 2 positive pairs of LCQMC; n = 4, top-p 0.95)")
    assert entry["value"].startswith(f"{result['share_with_non_copy']:.0%} · ")


@pytest.mark.parametrize("argv, message", [
    (["similarity", "--datasets", "ATEC", "--record"], "all four test sets"),
    (["similarity", "--limit", "3", "--record"], "all four test sets"),
    (["generate", "--sts-dir", "elsewhere", "--record"], "drop --sts-dir"),
    (["similarity", "--checkpoint", "runs/roformer_sim/final", "--record"], "drop --checkpoint"),
])
def test_roformer_sim_record_refuses_runs_it_would_mislabel(recorded, tiny_sts, argv, message):
    with pytest.raises(SystemExit, match=message):
        tiny_sts.main(argv)
    assert recorded("roformer_sim") == {}


def test_record_refuses_the_checkpoint_override(recorded, monkeypatch):
    from core.vae import evaluate

    monkeypatch.setenv("VAE_CHECKPOINT", "assets/vae/component_0")
    with pytest.raises(SystemExit, match="unset VAE_CHECKPOINT"):
        evaluate.parse_args(["--record"])


def test_perturbed_masking_segment_parse_and_mlm_record(recorded, shared_data, tmp_path, monkeypatch):
    from core.perturbed_masking import evaluate

    gold = tmp_path / "pku_test_gold.utf8"
    gold.write_text("我们  在  野生  动物园  玩\n今天  天气  不错\n", encoding="utf-8")
    monkeypatch.setattr(evaluate, "PKU_TEST", gold)
    evaluate.main(["segment", "--record"])
    evaluate.main(["--checkpoint", "bundled", "parse", "--limit", "2", "--layer", "4", "--root", "gold", "--record"])
    monkeypatch.setattr(evaluate, "people_daily_lines", lambda path: ["迈向充满希望的新世纪", "一九九八年新年讲话"] * 20)
    evaluate.main(["mlm", "--record"])
    entries = recorded("perturbed_masking")
    assert list(entries) == ["pku_test_f1", "ud_dev_uas_layer4_gold_root_first2", "heldout_mlm_accuracy"]
    segment = entries["pku_test_f1"]
    assert segment["anchor"] == "FMM with the PKU dictionary 0.874"
    assert segment["label"].startswith("SIGHAN 2005 PKU test word F1, all 2 lines, fitted rule, every layer")
    others = segment["raw"]["other_rules_f1"]  # the tuned defaults' run also scores every other rule
    assert set(others) == {"absolute", "relative", "combined"}
    assert f"jieba {segment['raw']['jieba_f1']:.3f}; absolute rule {others['absolute']:.3f}" in segment["value"]
    parse = entries["ud_dev_uas_layer4_gold_root_first2"]
    assert parse["label"].startswith("UD Chinese GSDSimp dev UAS without punctuation, first 2 sentences (")
    assert parse["value"] == (f"{parse['raw']['uas']:.3f} (left chain {parse['raw']['left_chain_uas']:.3f}, "
                              f"right chain {parse['raw']['right_chain_uas']:.3f})")
    assert entries["heldout_mlm_accuracy"]["raw"]["dev_lines"] == 1000
    # a rule other than the tuned one is its own entry
    evaluate.main(["segment", "--rule", "relative", "--layer", "4", "--threshold", "0.9838", "--record"])
    relative = recorded("perturbed_masking")["pku_test_f1_relative_layer4_threshold0.9838"]
    assert "relative rule, layer 4" in relative["label"] and not relative["raw"]["other_rules_f1"]


@pytest.mark.parametrize("argv, message", [
    (["segment", "--limit", "150", "--record"], "whole PKU test set"),
    (["segment", "--gold", "other.utf8", "--record"], "whole PKU test set"),
    (["parse", "--conllu", "other.conllu", "--record"], "drop --conllu"),
    (["--checkpoint", "bert-base-chinese", "segment", "--record"], "drop --checkpoint"),
])
def test_perturbed_masking_record_refusals(recorded, argv, message):
    from core.perturbed_masking import evaluate

    with pytest.raises(SystemExit, match=message):
        evaluate.main(argv)


def test_vae_records_by_k_and_image_count(recorded, shared_data):
    from core.vae import evaluate

    result = evaluate.main(["--k", "4", "--limit", "3", "--threads", "1", "--record"])
    entry = recorded("vae")["valid_nll_k4_n3"]
    assert entry["label"] == "validation NLL, K = 4 importance samples, first 3 images"
    assert entry["value"].startswith(f"{result['nll_nats']:.2f} nats (")
    with pytest.raises(SystemExit, match="validation images"):
        evaluate.main(["--data", "other.mat", "--record"])
    with pytest.raises(SystemExit, match="drop --checkpoint"):
        evaluate.main(["--checkpoint", "assets/vae/component_1", "--record"])


def test_xiangqi_predict_and_match_record(recorded, monkeypatch):
    from core.xiangqi import data, evaluate
    from core.xiangqi.board import Board

    games = ["h2e2 h9g7 h0g2 i9h9 i0h0", "b2e2 b9c7 b0c2"]

    def two_games(path, vocab, work_dir):
        boards = [data.game_boards(Board.from_moves(moves)) for moves in games]
        return data.GameSet([], [vocab.encode_game(moves.split(), "1-0") for moves in games], [], boards)

    monkeypatch.setattr(evaluate, "cached_games", two_games)
    evaluate.main(["predict", "--record"])
    evaluate.main(["match", "--opponent", "random", "--n-games", "2", "--mode", "greedy", "--record"])
    entries = recorded("xiangqi")
    predict = entries["predict_validation_games2"]
    assert predict["label"] == "validation move prediction top-1 / top-5 among legal moves, all 2 games (8 positions)"
    assert predict["value"] == f"{predict['raw']['top1']:.1%} / {predict['raw']['top5']:.1%}"
    match = entries["match_greedy_vs_random"]
    raw = match["raw"]
    assert match["label"] == "greedy mode vs a random mover, 2 games"
    assert match["value"] == f"{raw['score']:.1%} ({raw['wins']} W {raw['draws']} D {raw['losses']} L)"
    evaluate.main(["match", "--opponent", "random", "--n-games", "2", "--mode", "greedy", "--seed", "2", "--record"])
    other_games = recorded("xiangqi")["match_greedy_vs_random_seed2"]  # does not replace the entry of seed 0
    assert other_games["label"] == "greedy mode vs a random mover, 2 games (seed 2)"


@pytest.mark.parametrize("argv, message", [
    (["predict", "--split", "train", "--record"], "validation games"),
    (["match", "--opponent", "random", "--prefix", "unknown", "--record"], "drop --prefix"),
    (["match", "--opponent", "greedy", "--max-plies", "50", "--search-nodes", "100", "--record"], "drop --search-nodes, --max-plies"),
    (["match", "--opponent", "fairy-stockfish", "--mode", "search", "--evaluation", "material", "--skip-openings", "40",
      "--policy-weight", "1", "--record"], "drop --skip-openings, --policy-weight, --evaluation"),
    (["--checkpoint", "runs/xq/model", "match", "--opponent", "random", "--record"], "drop --checkpoint"),
])
def test_xiangqi_record_refusals(argv, message):
    from core.xiangqi import evaluate

    with pytest.raises(SystemExit, match=message):
        evaluate.parse_args(argv)


# --------------------------------------------------------------------------- tab intros read their number from the files

# Scores that were typed into the intros before; none may come back by hand.
TYPED_BEFORE = {"roformer_sim": ["58.8", "58.79"], "perturbed_masking": ["0.75", "0.82"], "vae": ["85.7", "85.68"],
                "xiangqi": ["35%", "95%", "53%", "45%"]}
# model: (measurement, its number, how the intro writes it)
INTRO_FIGURES = {"roformer_sim": ("test_spearman", "spearman.avg", "{:.1f}"),
                 "math_solver": ("tree_ape210k_test_beams5", "accuracy", "{:.1%}"),
                 "xiangqi": ("predict_validation_games300", "top1", "{:.1%}"),
                 "perturbed_masking": ("pku_test_f1", "f1", "{:.3f}"),
                 "vae": ("valid_nll_k5000_n1000", "nll_nats", "{:.2f}")}


def nested(path: str, value: float) -> dict:
    head, _, rest = path.partition(".")
    return {head: nested(rest, value) if rest else value}


@pytest.mark.parametrize("model", sorted(INTRO_FIGURES))
def test_tab_intro_is_two_lines_with_one_number_from_its_metrics_file(model, tmp_path, monkeypatch):
    import importlib

    tab = importlib.import_module(f"demos.{model}")
    key, field, shown = INTRO_FIGURES[model]
    number = f"**{shown.format(metrics.figure(model, key, field))}**"
    assert number in tab.INTRO and len(tab.INTRO.splitlines()) <= 2 and "model card below" in tab.INTRO
    assert not [typed for typed in TYPED_BEFORE.get(model, []) if typed in tab.INTRO.replace(number, "")]
    monkeypatch.setattr(metrics, "metrics_path", lambda name: tmp_path / f"{name}.json")
    metrics.record(model, key, label="some score", value="0.1235", raw=nested(field, 0.123456), command="python -m x")
    try:
        assert f"**{shown.format(0.123456)}**" in importlib.reload(tab).INTRO
        (tmp_path / f"{model}.json").unlink()
        assert "has not been measured yet" in importlib.reload(tab).INTRO
    finally:
        monkeypatch.undo()
        importlib.reload(tab)
