"""The app shell: five tabs in order, failures stay inside their tab, offline build."""

import importlib
import json
import os
import subprocess
import sys

import gradio as gr
import pytest

import app
from demos import common
from tests.conftest import APP_PYTHON, REPO, unexpected_tracebacks

TITLES = [
    "相似句 Paraphrase & similarity",
    "数学题 Math",
    "象棋 Xiangqi",
    "分词与句法 Segmentation & parse",
    "密度 VAE density",
]


def tabs_of(blocks: gr.Blocks) -> list[gr.Tab]:
    """The app's top-level tabs (a tab may hold inner tabs of its own)."""
    return [b for b in blocks.blocks.values() if isinstance(b, gr.Tab) and (b.elem_id or "").startswith("tab-")]


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


BUILD_AND_REPORT = """
import importlib.util, json, os
os.environ["HF_HUB_OFFLINE"] = "1"
import gradio as gr, app
blocks = app.build_app()
errors = [b.value for b in blocks.blocks.values() if isinstance(b, gr.Markdown) and "tab-error" in (b.elem_classes or [])]
print(json.dumps({"errors": errors, "pytest": importlib.util.find_spec("pytest") is not None}))
"""


def test_an_install_of_requirements_txt_alone_builds_every_tab():
    """What Hugging Face Spaces and `make run` install (requirements.txt, nothing else) serves all five tabs: `make
    test` makes that environment (.venv-app) and names its Python in APP_PYTHON; no test extra is in it."""
    if "APP_PYTHON" not in os.environ:
        pytest.skip("run through `make test`: it makes the app-only environment .venv-app and sets APP_PYTHON")
    out = subprocess.run([APP_PYTHON, "-c", BUILD_AND_REPORT], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout.strip().splitlines()[-1])
    assert not report["pytest"], f"{APP_PYTHON} has the test extras: it is not the app-only environment"
    assert report["errors"] == [], "\n\n".join(report["errors"])


@pytest.mark.parametrize(
    "module, listed",
    [
        ("faiss", "requirements.txt (the app's dependencies, what `make run` and Hugging Face Spaces install) lists "
                  "`faiss-cpu==1.15.1`, but this Python environment does not have it"),
        ("google.protobuf", "lists `protobuf==7.36.2`, but this Python environment does not have it"),
        ("pytest", "Only pyproject.toml's [test] extra (not installed with the app) lists `pytest==9.2.0`; "
                   "requirements.txt, the app's dependency list, does not"),
        ("no_such_module", "No dependency list of this project (requirements.txt, pyproject.toml) names a package that "
                           "provides `no_such_module`"),
    ],
)
def test_a_missing_module_is_named_with_the_list_that_lacks_it(module, listed):
    message = common.tab_error("Some tab", ModuleNotFoundError(f"No module named '{module}'", name=module))
    assert f"No module named &#x27;{module}&#x27;" in message
    assert listed in message


def test_faiss_start_up_lines_are_silenced_but_its_warnings_stay():
    """faiss logs at INFO each build it fails to load ('swigfaiss_avx512'), which reads like an error."""
    script = "import logging, sys; import app; {} ; import faiss; logging.getLogger('faiss.loader').warning('kept')"
    plain = subprocess.run([APP_PYTHON, "-c", script.format("logging.basicConfig(level=logging.INFO)")], cwd=REPO,
                           capture_output=True, text=True, timeout=120)
    assert "INFO:faiss.loader" in plain.stderr  # what the app would print without its logging set-up
    configured = subprocess.run([APP_PYTHON, "-c", script.format("app.configure_logging()")], cwd=REPO,
                                capture_output=True, text=True, timeout=120)
    assert "INFO:faiss" not in configured.stderr and "swigfaiss" not in configured.stderr
    assert "WARNING:faiss.loader:kept" in configured.stderr


def test_no_share_and_server_env_honoured():
    source = (REPO / "app.py").read_text()
    assert "share=False" in source and "share=True" not in source
    assert "GRADIO_SERVER_NAME" in source and "GRADIO_SERVER_PORT" in source


EVENTS = {"click", "change", "input", "submit", "select", "upload", "release", "clear", "then", "success", "load", "tick"}


def test_every_event_has_an_api_name():
    """Each event listener in demos/ names its endpoint, so every tab is also an HTTP API."""
    import ast

    missing = []
    for path in sorted((REPO / "demos").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in EVENTS:
                keywords = {k.arg for k in node.keywords}
                receiver = getattr(node.func.value, "id", "")
                is_listener = receiver != "checkpoints" and (len(node.args) >= 3 or keywords & {"fn", "inputs", "outputs"})
                if is_listener and "api_name" not in keywords:
                    missing.append(f"{path.name}:{node.lineno} .{node.func.attr}(...)")
    assert not missing, "events without api_name: " + ", ".join(missing)
    blocks = app.build_app()
    assert all(dep.api_name for dep in blocks.fns.values())


@pytest.mark.parametrize("module_name", [m for m, _ in app.TABS])
def test_demo_modules_do_not_leak_gradio_into_core(module_name):
    core_dir = REPO / "core"
    for path in core_dir.rglob("*.py"):
        assert "import gradio" not in path.read_text(), f"{path} imports gradio"


def test_bad_inputs_through_the_running_app(app_url, app_log, tmp_path):
    """A sample of the fuzz test's odd inputs over HTTP: each gets a clear message or a result, the game state
    survives a rejected move, and the server log holds one line per mistake, no traceback."""
    from gradio_client import Client, handle_file
    from gradio_client.exceptions import AppError

    from demos.xiangqi import DEFAULT_STRENGTH

    client = Client(app_url, verbose=False)
    with pytest.raises(AppError, match="seed must be a whole number"):
        client.predict("我喜欢北京", 8, 3, 0.95, 10**30, "", True, "sampling (top-p)", "bundled", api_name="/roformer_sim_paraphrase")
    *_, brackets = client.predict("我", "bundled", 4, 1.0, "combined", "Perturbed Masking words",
                                  api_name="/perturbed_masking_analyse")
    assert brackets == "我"
    with pytest.raises(AppError, match="needs network"):  # offline: refused, the tab stays on the bundled model
        client.predict("bert-base-chinese", api_name="/perturbed_masking_model")
    not_a_picture = tmp_path / "digit.png"
    not_a_picture.write_text("hello")
    with pytest.raises(AppError, match="digit.png is not a picture"):
        client.predict(handle_file(str(not_a_picture)), 100, api_name="/vae_score_image")

    *_, fen_before = client.predict("h2e2", DEFAULT_STRENGTH, api_name="/xiangqi_play")
    with pytest.raises(AppError, match="h2h9 is not a legal move"):  # illegal: an error, nothing changes
        client.predict("h2h9", DEFAULT_STRENGTH, api_name="/xiangqi_play")
    *_, fen_after = client.predict(api_name="/xiangqi_flip")
    assert fen_after == fen_before

    log = app_log.read_text()
    assert not unexpected_tracebacks(log), log
    assert log.count("rejected input") >= 3
