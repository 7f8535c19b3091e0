"""The shared training helpers in one process: schedule, batching, sharding, the resumable-state policy."""

from __future__ import annotations

import random
import time

import pytest
import torch
from hypothesis import given, strategies as st

from core import training


def test_warmup_cosine_rises_then_decays_to_the_floor():
    peak = 1e-3
    assert training.warmup_cosine(0, peak, warmup=10, progress=0.0) == pytest.approx(peak / 10)
    assert training.warmup_cosine(9, peak, warmup=10, progress=0.0) == pytest.approx(peak)
    assert training.warmup_cosine(50, peak, warmup=10, progress=0.0) == pytest.approx(peak)
    assert training.warmup_cosine(50, peak, warmup=10, progress=0.5) == pytest.approx(peak * 0.55)
    assert training.warmup_cosine(50, peak, warmup=10, progress=1.0) == pytest.approx(peak * 0.1)
    assert training.warmup_cosine(50, peak, warmup=10, progress=7.0, floor=0.0) == pytest.approx(0.0)


def test_schedule_ends_at_the_budget_or_the_last_step_whichever_comes_first():
    # 30 of 60 minutes used and step 55 of 100 after 10 warm-up steps (45 of 90 decay steps): both halfway
    assert training.budget_or_step_progress(30.0, 60.0, 55, 10, 100) == pytest.approx(0.5)
    assert training.budget_or_step_progress(45.0, 60.0, 55, 10, 100) == pytest.approx(0.75)  # the budget is further
    assert training.budget_or_step_progress(45.0, None, 55, 10, 100) == pytest.approx(0.5)  # no budget: steps alone
    assert training.budget_or_step_progress(45.0, 60.0, 55, 10, None) == pytest.approx(0.75)  # no step limit
    assert training.budget_or_step_progress(45.0, None, 55, 10, None) == 0.0  # neither: the peak rate stays


@given(st.lists(st.integers(1, 200), min_size=1, max_size=300), st.integers(1, 17), st.integers(0, 10**6))
def test_length_bucketed_batches_cover_every_index_once(lengths, batch_size, seed):
    batches = training.length_bucketed_batches(lengths, batch_size, random.Random(seed))
    flat = sorted(i for batch in batches for i in batch)
    assert flat == list(range(len(lengths)))
    assert all(1 <= len(batch) <= batch_size for batch in batches)


@given(st.integers(0, 50), st.integers(2, 4))
def test_shard_gives_every_rank_the_same_count_of_distinct_items(n, world):
    shards = [training.shard(list(range(n)), training.Runtime(torch.device("cpu"), rank, world)) for rank in range(world)]
    assert len({len(s) for s in shards}) == 1
    flat = [x for s in shards for x in s]
    assert len(flat) == len(set(flat)) and len(flat) >= n - world + 1


def tiny():
    torch.manual_seed(0)
    model = torch.nn.Linear(3, 2)
    return model, torch.optim.AdamW(model.parameters(), lr=1e-2)


def test_run_state_round_trip_and_refusals(tmp_path):
    runtime = training.Runtime(torch.device("cpu"))
    path = tmp_path / "state.pt"
    model, optimizer = tiny()
    state = training.RunState(path, {"lr": 1e-2, "epochs": 1}, may_change=("epochs",))
    assert state.resume(model, optimizer, runtime) is None
    training.optimizer_step(model, optimizer, model(torch.ones(4, 3)).sum())
    state.save(model, optimizer, {"step": 1}, runtime)
    assert not path.with_name("state.pt.tmp").exists()

    fresh, fresh_optimizer = tiny()
    budget_grew = training.RunState(path, {"lr": 1e-2, "epochs": 5}, may_change=("epochs",))
    assert budget_grew.resume(fresh, fresh_optimizer, runtime) == {"step": 1}
    assert training.weights_fingerprint(fresh) == training.weights_fingerprint(model)

    with pytest.raises(training.StateMismatch, match="differs in: lr"):
        training.RunState(path, {"lr": 5e-3, "epochs": 1}, may_change=("epochs",)).resume(*tiny(), runtime)

    torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(), "step": 3}, path)  # a pre-core state
    with pytest.raises(training.StateMismatch, match="older version of this trainer"):
        state.resume(*tiny(), runtime)


def test_sigterm_asks_the_run_to_stop(tmp_path):
    import os
    import signal

    state, saved = training.RunState(tmp_path / "state.pt", {}), []
    runtime = training.Runtime(torch.device("cpu"))
    assert not state.should_stop(runtime)
    assert not state.stop_if_asked(lambda: saved.append(1), runtime, tmp_path / "log.jsonl", step=3)
    os.kill(os.getpid(), signal.SIGTERM)
    assert state.should_stop(runtime)
    assert state.stop_if_asked(lambda: saved.append(1), runtime, tmp_path / "log.jsonl", step=3) and saved == [1]
    assert '"event": "interrupted", "step": 3' in (tmp_path / "log.jsonl").read_text()
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def test_budget_minutes_count_cpu_time_on_the_cpu_and_wall_time_on_a_gpu():
    # A GPU run's process mostly waits on the device, so only wall time bounds how long it takes.
    cpu = training.Runtime(torch.device("cpu"), started_cpu=time.process_time(), started_wall=time.monotonic() - 600)
    gpu = training.Runtime(torch.device("cuda"), started_cpu=time.process_time(), started_wall=time.monotonic() - 600)
    assert training.budget_minutes(cpu) < 1
    assert training.budget_minutes(gpu, before=2.0) == pytest.approx(12.0, abs=0.1)
