"""The app shell: five tabs in order, failures stay inside their tab, offline build."""

import importlib
import subprocess
import sys

import gradio as gr
import pytest

import app
from tests.conftest import REPO

TITLES = [
    "相似句 Paraphrase & similarity",
    "数学题 Math",
    "象棋 Xiangqi",
    "分词与句法 Segmentation & parse",
    "密度 VAE density",
]


def tabs_of(blocks: gr.Blocks) -> list[gr.Tab]:
    return [b for b in blocks.blocks.values() if isinstance(b, gr.Tab)]


def test_five_tabs_in_order():
    assert [t for _, t in app.TABS] == TITLES
    blocks = app.build_app()
    assert [t.label for t in tabs_of(blocks)] == TITLES


def test_failing_tab_is_isolated(monkeypatch):
    broken = importlib.import_module("demos.math_solver")

    def explode():
        raise RuntimeError("injected failure: weights are corrupt")

    monkeypatch.setattr(broken, "build", explode)
    blocks = app.build_app()
    assert [t.label for t in tabs_of(blocks)] == TITLES
    errors = [b for b in blocks.blocks.values() if isinstance(b, gr.Markdown) and "tab-error" in (b.elem_classes or [])]
    assert len(errors) == 1
    assert "injected failure: weights are corrupt" in errors[0].value
    assert "How to fix it" in errors[0].value
    # every other tab still built its own components
    for module_name, _ in app.TABS:
        if module_name != "math_solver":
            tab = next(t for t in tabs_of(blocks) if t.id == module_name)
            assert tab.children, f"{module_name} tab is empty"


def test_builds_offline_in_a_fresh_interpreter():
    env_cmd = "import os; os.environ['HF_HUB_OFFLINE']='1'; import app; app.build_app()"
    out = subprocess.run([sys.executable, "-c", env_cmd], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr


def test_no_share_and_server_env_honoured():
    source = (REPO / "app.py").read_text()
    assert "share=False" in source and "share=True" not in source
    assert "GRADIO_SERVER_NAME" in source and "GRADIO_SERVER_PORT" in source


def test_every_event_has_an_api_name():
    blocks = app.build_app()
    for dep in blocks.fns.values():
        if dep.show_api is False or dep.api_name is False:
            continue
        assert dep.api_name, f"event {dep.name} has no api_name"


@pytest.mark.parametrize("module_name", [m for m, _ in app.TABS])
def test_demo_modules_do_not_leak_gradio_into_core(module_name):
    core_dir = REPO / "core"
    for path in core_dir.rglob("*.py"):
        assert "import gradio" not in path.read_text(), f"{path} imports gradio"
