import threading
import time
from pathlib import Path

import pytest

from core import checkpoints


def make_ckpt(dirpath: Path) -> Path:
    dirpath.mkdir(parents=True, exist_ok=True)
    (dirpath / "config.json").write_text("{}")
    return dirpath


def test_env_override_local_dir_wins(tmp_path, monkeypatch):
    ckpt = make_ckpt(tmp_path / "mine")
    monkeypatch.setenv("VAE_CHECKPOINT", str(ckpt))
    assert checkpoints.locate("vae") == ckpt


def test_bundled_is_the_override_when_set_else_the_assets(tmp_path, monkeypatch):
    monkeypatch.delenv("PERTURBED_MASKING_CHECKPOINT", raising=False)
    assert checkpoints.locate("perturbed_masking", checkpoints.BUNDLED) == checkpoints.spec("perturbed_masking").asset_dir
    ckpt = make_ckpt(tmp_path / "mine")
    (ckpt / "MODEL_CARD.md").write_text("# my own masked LM")
    monkeypatch.setenv("PERTURBED_MASKING_CHECKPOINT", str(ckpt))
    assert checkpoints.locate("perturbed_masking", checkpoints.BUNDLED) == ckpt
    assert checkpoints.sources("perturbed_masking")[0] == checkpoints.BUNDLED
    assert checkpoints.model_card("perturbed_masking", checkpoints.BUNDLED) == "# my own masked LM"


def test_both_tabs_hand_the_bundled_choice_to_checkpoints(monkeypatch):
    """Neither tab interprets 'bundled' itself: checkpoints.locate decides for both."""
    from demos import perturbed_masking, roformer_sim

    asked = []
    monkeypatch.setattr(checkpoints, "load", lambda model, loader, source=None: asked.append((model, source)))
    roformer_sim.sim_for(checkpoints.BUNDLED)
    perturbed_masking.encoder_for(checkpoints.BUNDLED)
    assert asked == [("roformer_sim", checkpoints.BUNDLED), ("perturbed_masking", checkpoints.BUNDLED)]


def test_missing_checkpoint_names_model_places_and_command(tmp_path, monkeypatch):
    monkeypatch.setattr(checkpoints, "ASSETS_DIR", tmp_path)
    monkeypatch.setattr(checkpoints.ModelSpec, "asset_dir", property(lambda s: tmp_path / s.name))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("PERTURBED_MASKING_CHECKPOINT", str(tmp_path / "nowhere"))
    with pytest.raises(checkpoints.CheckpointNotFound) as err:
        checkpoints.locate("perturbed_masking")
    msg = str(err.value)
    assert "perturbed_masking" in msg
    assert str(tmp_path / "nowhere") in msg  # the override
    assert str(tmp_path / "perturbed_masking") in msg  # the bundled directory
    assert "bert-base-chinese" in msg and "HF_HUB_OFFLINE" in msg  # the Hub, and why it was skipped
    assert "python -m core.perturbed_masking.train" in msg
    for_users = err.value.user_message  # what a web page shows: plain words, no server paths or commands
    assert str(tmp_path) not in for_users and "python -m" not in for_users and "/" not in for_users.replace("bert-base-chinese", "")
    assert "not installed" in for_users and "needs network" in for_users


def test_hub_id_is_downloaded_when_allowed(tmp_path, monkeypatch):
    got = {}

    def fake_download(hub_id, patterns):
        got["id"] = hub_id
        return make_ckpt(tmp_path / "snap")

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(checkpoints, "hub_reachable", lambda: True)
    monkeypatch.setattr(checkpoints, "_download", fake_download)
    assert checkpoints.locate("roformer_sim", "junnyu/roformer_chinese_sim_char_small") == tmp_path / "snap"
    assert got["id"] == "junnyu/roformer_chinese_sim_char_small"


def test_hub_failure_is_reported(monkeypatch):
    def broken(hub_id, patterns):
        raise ConnectionError("no route to host")

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(checkpoints, "hub_reachable", lambda: True)
    monkeypatch.setattr(checkpoints, "_download", broken)
    with pytest.raises(checkpoints.CheckpointNotFound, match="no route to host") as err:
        checkpoints.locate("roformer_sim", "junnyu/roformer_chinese_sim_char_small")
    assert "needs network" in err.value.user_message and "no route" not in err.value.user_message


def test_unreachable_hub_is_not_tried(monkeypatch):
    """Without network a Hub choice fails at once with a plain reason, instead of waiting on download retries."""

    def must_not_download(hub_id, patterns):
        raise AssertionError("the Hub was tried although it cannot be reached")

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(checkpoints, "hub_reachable", lambda: False)
    monkeypatch.setattr(checkpoints, "_download", must_not_download)
    with pytest.raises(checkpoints.CheckpointNotFound) as err:
        checkpoints.locate("perturbed_masking", "bert-base-chinese")
    assert err.value.user_message == ("The Chinese masked LM for Perturbed Masking is not available: bert-base-chinese comes "
                                      "from the Hugging Face Hub and needs network, and this server cannot reach the Hub.")


def test_hub_reachable_needs_permission_and_a_resolving_host(monkeypatch):
    monkeypatch.setattr(checkpoints, "_hub_answer", None)
    lookups = []
    monkeypatch.setattr(checkpoints, "_resolves", lambda host, timeout: lookups.append(host) or host == "hub.example")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert not checkpoints.hub_reachable() and not lookups  # switched off: no lookup at all
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    monkeypatch.setenv("HF_ENDPOINT", "https://nowhere.invalid")
    assert not checkpoints.hub_reachable() and lookups == ["nowhere.invalid"]
    assert not checkpoints.hub_reachable() and len(lookups) == 1  # the answer is remembered
    monkeypatch.setattr(checkpoints, "_hub_answer", None)
    monkeypatch.setenv("HF_ENDPOINT", "https://hub.example")
    assert checkpoints.hub_reachable()


def test_a_hanging_lookup_counts_as_unreachable(monkeypatch):
    monkeypatch.setattr(checkpoints.socket, "getaddrinfo", lambda *a: time.sleep(5))
    start = time.perf_counter()
    assert not checkpoints._resolves("huggingface.co", 0.2)
    assert time.perf_counter() - start < 1.0


def test_sources_lists_bundled_then_hub_ids():
    assert checkpoints.sources("roformer_sim") == [checkpoints.BUNDLED, *checkpoints.spec("roformer_sim").hub_ids]
    assert checkpoints.sources("vae") == [checkpoints.BUNDLED]


def test_unknown_model_is_a_value_error():
    with pytest.raises(ValueError, match="unknown model"):
        checkpoints.locate("gpt5")


def test_cached_loads_once_under_concurrency():
    calls = []

    def slow_factory():
        calls.append(1)
        time.sleep(0.2)
        return object()

    results = []
    threads = [
        threading.Thread(target=lambda: results.append(checkpoints.cached("test-once", slow_factory))) for _ in range(16)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 1
    assert len(results) == 16 and all(r is results[0] for r in results)


def test_failed_build_is_not_cached():
    attempts = []

    def flaky():
        attempts.append(1)
        if len(attempts) == 1:
            raise OSError("disk hiccup")
        return "ok"

    with pytest.raises(OSError):
        checkpoints.cached("test-flaky", flaky)
    assert checkpoints.cached("test-flaky", flaky) == "ok"


def test_load_passes_directory_and_device(tmp_path, monkeypatch):
    ckpt = make_ckpt(tmp_path / "vae")
    monkeypatch.setenv("VAE_CHECKPOINT", str(ckpt))
    monkeypatch.setenv("DEMO_DEVICE", "cpu")
    checkpoints.clear_cache()
    seen = checkpoints.load("vae", lambda d, dev: (d, str(dev)))
    assert seen == (ckpt, "cpu")
    checkpoints.clear_cache()


def test_every_bundled_model_has_a_card():
    for spec in checkpoints.MODELS.values():
        if (spec.asset_dir / "config.json").is_file():
            card = spec.asset_dir / "MODEL_CARD.md"
            assert card.is_file(), f"{spec.asset_dir} lacks MODEL_CARD.md"
            text = card.read_text()
            assert spec.train_command.split()[-1] in text, f"{card} does not give its training command"
