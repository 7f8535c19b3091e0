"""Fuzz every event handler of every tab with the odd inputs real users send.

The handlers are taken from the built app (``app.build_app().fns``), so a handler added later is fuzzed
too; inputs are drawn from the type of each input component, as Gradio would pass them after its own
preprocessing (slider values inside their range, dropdown values among their choices, files as paths).
Each input must get either a result or a clear message: ``gr.Error`` with text (what a ``gradio_client`` caller
receives too). Never an unexpected exception, never an "unexpected error" in the log, and a tab's per-user state
(``gr.State``) is unchanged by a rejected input.
"""

from __future__ import annotations

import copy
import inspect
import logging
from pathlib import Path

import gradio as gr
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

import app
from core.xiangqi.game import Game
from demos import perturbed_masking

EXAMPLES_PER_HANDLER = 8

ODD_TEXTS = [
    "", " ", "\n\t \r\n", "我", "今天", "我爱你", "a", "1", "😀", "👍🏽👨‍👩‍👧", "\x00\x01\x1b[31m\x7f", "a\u200bb\u202ec",
    "Hello 世界 мир مرحبا 🌏", "<script>alert(1)</script>", "${{7*7}} %s {0}", "我" * 10_000, "a " * 5_000,
    "\n".join(["我喜欢北京"] * 20), "学校把135本练习本平均分给3个班，每班多少本？", "有1个" * 200, "1/0=？",
    "9" * 400 + "个苹果，分给0个人，每人几个？", "h2e2", " H2E2 ", "a0a9", "炮二平五", "2,3", "-1", "1,,2", "99999999999999999999",
    "rnbakabnr/9/1c5c1/p1p1p1p1p/9/9/P1P1P1P1P/1C5C1/9/RNBAKABNR w - - 0 1", "R2k5/R8/9/9/9/9/9/9/9/4K4 b - - 0 1",
    "not a fen", "9/9/9/9/9/9/9/9/9/9 w", "我们 在 野生 动物园 玩",
]
texts = st.one_of(st.sampled_from(ODD_TEXTS), st.text(max_size=40))
squares = st.sampled_from(["h2", "e2", "h0", "a0", "i9", "e9", "z9", "", "h2e2", "😀", "a10"]) | st.none() | st.integers()


def number_strategy(component: gr.Number) -> st.SearchStrategy:
    if component.precision == 0:  # Gradio has rounded the typed value to a (possibly huge) integer
        return st.none() | st.integers(-(2**80), 2**80) | st.sampled_from([0, -1, 2**63 - 1, 2**63, 2**64])
    return st.none() | st.floats(allow_infinity=False)


def slider_strategy(component: gr.Slider) -> st.SearchStrategy:
    low, high = component.minimum, component.maximum  # Gradio rejects values outside the range itself
    return st.sampled_from([low, high]) | st.floats(low, high)


def choice_values(component) -> list:
    return [value for _, value in component.choices]


# --------------------------------------------------------------------------------------------- sample files


@pytest.fixture(scope="module")
def sample_files(tmp_path_factory) -> list[Path]:
    root = tmp_path_factory.mktemp("uploads")
    digit = np.full((200, 160, 3), 255, np.uint8)
    digit[30:170, 70:95] = 0
    files = {
        "digit.png": lambda p: Image.fromarray(digit).save(p),
        "digit.jpg": lambda p: Image.fromarray(digit).save(p, quality=90),
        "blank.png": lambda p: Image.new("RGB", (50, 50), "white").save(p),
        "tiny.gif": lambda p: Image.new("P", (1, 1)).save(p),
        "notes.txt": lambda p: p.write_text("怎么开通花呗\n花呗怎么还款\n\n 我 \n", encoding="utf-8"),
        "faq.csv": lambda p: p.write_text("question,answer\n怎么开通花呗,yes\n\"引号, 逗号\",x\n", encoding="utf-8"),
        "gbk.txt": lambda p: p.write_bytes("怎么开通花呗\n".encode("gbk")),
        "empty.txt": lambda p: p.write_bytes(b""),
        "fake.png": lambda p: p.write_bytes(b"this is not a picture"),
        "truncated.png": lambda p: p.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00"),
        "binary.bin": lambda p: p.write_bytes(bytes(range(256)) * 8),
    }
    for name, write in files.items():
        write(root / name)
    return [root / name for name in files]


def image_arrays() -> list[np.ndarray | None]:
    drawn = np.full((280, 280, 4), 255, np.uint8)
    drawn[40:240, 120:160, :3] = 0
    return [None, np.zeros((1, 1, 4), np.uint8), np.full((2, 2, 4), 255, np.uint8), drawn, np.zeros((64, 64, 4), np.uint8),
            np.random.default_rng(0).integers(0, 256, (64, 48, 4), dtype=np.uint8), np.full((5, 300, 4), 255, np.uint8)]


def sketch_values() -> list[dict | None]:
    blank = np.full((280, 280), 255, np.uint8)
    stroke = blank.copy()
    stroke[40:240, 120:150] = 0
    return [None, {"background": None, "layers": [], "composite": None}, {"background": blank, "layers": [], "composite": blank},
            {"background": blank, "layers": [stroke], "composite": stroke}, {"background": None, "layers": [], "composite": np.zeros((280, 280), np.uint8)}]


# --------------------------------------------------------------------------------------------- per-user state


def game_samples() -> list[Game | None]:
    selected = Game()
    selected.click("h2")
    played = Game()
    played.play("h2e2")  # the model has not answered: it is the model's turn
    finished = Game(fen="R2k5/R8/9/9/9/9/9/9/9/4K4 b - - 0 1")
    as_black = Game("black")
    return [None, Game(), selected, played, finished, as_black]


def game_snapshot(game: Game) -> tuple:
    return game.board.fen(), list(game.board.move_stack), game.selected, game.flipped, game.human


@pytest.fixture(scope="module")
def state_samples() -> dict[str, list]:
    """Sample values for each handler parameter that receives a gr.State, by parameter name."""
    analysis = [perturbed_masking.analyse(text, "bundled", 4, 1.0, "combined", perturbed_masking.TREE_WORDS[0],
                                          progress=lambda *a, **k: None)[0] for text in ("计算机的鼠标有什么用途", "我")]
    return {"game": game_samples(), "state": [None, *analysis], "current": ["bundled"]}


def snapshot(value):
    """A comparable copy of a state value (a game by its position and selection; anything else deep-copied)."""
    return game_snapshot(value) if isinstance(value, Game) else copy.deepcopy(value)


def same(a, b) -> bool:
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return np.array_equal(a, b, equal_nan=True)
    return a == b


# --------------------------------------------------------------------------------------------- the handlers


def handlers() -> list:
    """Every distinct event handler of the tabs (the same function wired to click and submit is fuzzed once)."""
    blocks = app.build_app()
    seen, found = set(), []
    for dep in blocks.fns.values():
        inner = inspect.unwrap(dep.fn) if dep.fn else None
        if inner is None or not inner.__module__.startswith("demos.") or (dep.fn, dep.preprocess) in seen:
            continue
        seen.add((dep.fn, dep.preprocess))
        found.append(pytest.param(dep, id=dep.api_name))
    return found


HANDLERS = handlers()


def input_strategy(component, param: str, preprocess: bool, files: list[Path], states: dict) -> st.SearchStrategy:
    if isinstance(component, gr.State):
        assert param in states, f"no sample states for the handler parameter {param!r}: add them to state_samples"
        return st.sampled_from(states[param])
    if isinstance(component, (gr.Dropdown, gr.Radio)):
        return st.sampled_from(choice_values(component))
    if isinstance(component, gr.Slider):
        return slider_strategy(component)
    if isinstance(component, gr.Number):
        return number_strategy(component)
    if isinstance(component, gr.Checkbox):
        return st.booleans()
    if isinstance(component, gr.Textbox):
        return texts
    if isinstance(component, gr.ImageEditor):  # the sketchpad
        return st.sampled_from(sketch_values())
    if isinstance(component, (gr.Image, gr.File)) and not preprocess:
        return st.none() | st.sampled_from([{"path": str(p), "orig_name": p.name} for p in files])
    if isinstance(component, gr.Image):
        return st.sampled_from(image_arrays())
    if isinstance(component, gr.File):
        return st.none() | st.sampled_from([str(p) for p in files])
    raise AssertionError(f"no input strategy for {type(component).__name__}: add one to the fuzz test")


def call(dep, args: list, event_square=None):
    fn = dep.fn
    params = inspect.signature(inspect.unwrap(fn)).parameters
    kwargs = {}
    if "evt" in params:
        kwargs["evt"] = gr.EventData(None, {"square": event_square})
    if "progress" in params:
        kwargs["progress"] = lambda *a, **k: None
    if dep.batch:  # a batched handler takes and returns one list per input and output
        return fn(*[[a] for a in args], **kwargs)
    return fn(*args, **kwargs)


@pytest.mark.parametrize("dep", HANDLERS)
def test_every_input_gets_a_result_or_a_clear_message(dep, sample_files, state_samples, caplog):
    params = [p for p in inspect.signature(inspect.unwrap(dep.fn)).parameters if p not in ("evt", "progress")]
    strategies = [input_strategy(c, name, dep.preprocess, sample_files, state_samples) for c, name in zip(dep.inputs, params)]
    caplog.set_level(logging.INFO, logger="demos")

    @settings(max_examples=EXAMPLES_PER_HANDLER if strategies else 1, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
    @given(st.tuples(*strategies), squares)
    def check(args, square):
        states = {i: snapshot(a) for i, (a, c) in enumerate(zip(args, dep.inputs)) if isinstance(c, gr.State)}
        caplog.clear()
        try:
            call(dep, list(args), square)
            rejected, message = False, ""
        except gr.Error as exc:
            rejected, message = True, exc.message
        unexpected = [r for r in caplog.records if r.levelno >= logging.ERROR]
        assert not unexpected, f"unexpected failure for {args!r}: {unexpected[0].getMessage()}\n{caplog.text}"
        if rejected:
            assert message.strip(), f"a rejection without a message for {args!r}"
            for i, before in states.items():
                assert same(snapshot(args[i]), before), f"rejected input {args!r} changed the state"

    check()
