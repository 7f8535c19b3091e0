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
    assert "python -m core.perturbed_masking.train_mlm" in msg


def test_hub_id_is_downloaded_when_allowed(tmp_path, monkeypatch):
    got = {}

    def fake_download(hub_id, patterns):
        got["id"] = hub_id
        return make_ckpt(tmp_path / "snap")

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(checkpoints, "_download", fake_download)
    assert checkpoints.locate("roformer_sim", "junnyu/roformer_chinese_sim_char_small") == tmp_path / "snap"
    assert got["id"] == "junnyu/roformer_chinese_sim_char_small"


def test_hub_failure_is_reported(monkeypatch):
    def broken(hub_id, patterns):
        raise ConnectionError("no route to host")

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(checkpoints, "_download", broken)
    with pytest.raises(checkpoints.CheckpointNotFound, match="no route to host"):
        checkpoints.locate("roformer_sim", "junnyu/roformer_chinese_sim_char_small")


def test_sources_lists_hub_only_when_online(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert not any("/" in s for s in checkpoints.sources("roformer_sim"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    assert "junnyu/roformer_chinese_sim_char_ft_small" in checkpoints.sources("roformer_sim")


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
