"""Error handling every tab shares: plain messages, quiet logs for user mistakes, controls that survive a failure."""

from __future__ import annotations

import logging
import threading
import time

import gradio as gr
import pytest

from core import checkpoints
from demos import common, serving


def offline_checkpoint_error() -> checkpoints.CheckpointNotFound:
    try:
        checkpoints.locate("perturbed_masking", "bert-base-chinese")
    except checkpoints.CheckpointNotFound as exc:
        return exc
    raise AssertionError("the Hub checkpoint was found offline")


@pytest.fixture
def offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


def test_missing_model_message_is_plain(offline):
    message = common.user_message(offline_checkpoint_error())
    assert "needs network" in message
    assert "/" not in message.replace("bert-base-chinese", "") and "python -m" not in message and "rain" not in message


def test_user_mistakes_log_one_line_and_surprises_a_traceback(caplog):
    caplog.set_level(logging.INFO, logger="demos")

    def rejects(text):
        raise ValueError(f"cannot read {text}")

    def crashes(text):
        raise ZeroDivisionError("boom")

    with pytest.raises(gr.Error, match="cannot read &lt;b&gt;"):
        common.guarded(rejects)("<b>")
    expected = caplog.records[-1]
    assert expected.levelno == logging.INFO and expected.exc_info is None and "cannot read <b>" in expected.getMessage()
    with pytest.raises(gr.Error) as err:
        common.guarded(crashes)("x")
    assert "ZeroDivisionError" in err.value.message and "boom" not in err.value.message  # no internals on the page
    assert not err.value.print_exception  # logged once by us, not again by Gradio
    surprise = caplog.records[-1]
    assert surprise.levelno == logging.ERROR and surprise.exc_info is not None


def test_toast_text_is_escaped():
    with pytest.raises(gr.Error) as err:
        common.guarded(lambda: (_ for _ in ()).throw(ValueError("<img src=x onerror=alert(1)>")))()
    assert "<img" not in err.value.message and "&lt;img" in err.value.message


def test_failed_events_lose_their_error_marks_at_once():
    """After a failure the outputs keep their values: a private step clears Gradio's "Error" marks on all of them."""
    with gr.Blocks() as blocks:
        board, status = gr.HTML(), gr.Markdown()
        common.clear_error_marks(gr.Button().click(common.guarded(lambda: 1 / 0), None, [board, status], api_name="play"),
                                 [board, status])
    step = next(dep for dep in blocks.fns.values() if dep.api_name == "play_failed")
    assert step.trigger_only_on_failure and step.api_visibility == "private"
    assert step.fn() == (gr.skip(), gr.skip()) and step.outputs == [board, status]


def test_selector_marks_hub_models_when_offline(offline):
    with gr.Blocks():
        selector = common.model_selector("perturbed_masking")
    assert selector.choices == [("bundled", "bundled"), ("bert-base-chinese (needs network)", "bert-base-chinese")]
    assert "need network" in selector.info


def handler(blocks: gr.Blocks, api_name: str):
    return next(dep.fn for dep in blocks.fns.values() if dep.api_name == api_name)


def test_failed_model_switch_raises_restores_the_dropdown_and_keeps_controls(offline):
    with gr.Blocks() as blocks:
        selector = common.model_selector("perturbed_masking")
        other = gr.Slider()
        common.model_switch(selector, [other], lambda choice: (checkpoints.locate("perturbed_masking", choice),),
                            api_name="switch")
    with pytest.raises(gr.Error, match="needs network"):  # the toast, and the message an API caller receives
        handler(blocks, "switch")("bert-base-chinese")
    assert handler(blocks, "switch_failed")("bundled") == ("bundled", gr.skip())  # the dropdown shows the model in use
    active, directory = handler(blocks, "switch")("bundled")
    assert active == "bundled" and directory == checkpoints.spec("perturbed_masking").asset_dir


def test_handlers_run_in_at_most_one_model_slot_per_core_and_release_it_on_failure():
    """Busy use: beyond MODEL_SLOTS handlers at once, the others wait; nested wrapped calls do not wait for
    themselves; a failing handler gives its slot back."""
    running, peak, lock = 0, 0, threading.Lock()
    release = threading.Event()

    def handler(_):
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
        release.wait(5)
        with lock:
            running -= 1
        return common.guarded(lambda: "inner")()  # re-entrant: same thread, no second slot

    wrapped = common.guarded(handler)
    threads = [threading.Thread(target=wrapped, args=(i,)) for i in range(serving.MODEL_SLOTS + 2)]
    for thread in threads:
        thread.start()
    time.sleep(0.3)
    assert running == serving.MODEL_SLOTS  # the rest wait for a slot
    release.set()
    for thread in threads:
        thread.join(10)
    assert peak == serving.MODEL_SLOTS and not any(t.is_alive() for t in threads)

    def broken():
        raise ValueError("bad input")

    for _ in range(serving.MODEL_SLOTS + 1):  # would block forever if a failure kept its slot
        with pytest.raises(gr.Error):
            common.guarded(broken)()
