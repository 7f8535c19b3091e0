"""Shared fixtures: a running app on a free loopback port, data paths, tiny-model helpers."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED_DATA = REPO.parent / "shared" / "data"

# The Python that serves the app in tests: `make test` points it at .venv-app, made from requirements.txt alone (as
# Hugging Face Spaces makes it), so the test extras installed beside pytest cannot stand in for what the app lacks.
APP_PYTHON = os.environ.get("APP_PYTHON", sys.executable)

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")


def unexpected_tracebacks(log: str) -> list[str]:
    """The tracebacks in an app log, except Gradio's own print of a value it refused before any handler ran (a choice
    not in a dropdown, a number beyond a slider's range): that refusal reaches the caller as an error too."""
    found = []
    for block in log.split("Traceback (most recent call last):")[1:]:
        raised = next((line for line in block.splitlines()[1:] if line and not line[0].isspace()), "")
        if not raised.startswith("gradio.exceptions.Error:"):
            found.append(block)
    return found


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"public datasets not found at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture(scope="session")
def app_log(tmp_path_factory) -> Path:
    """Where the app started by ``app_url`` writes its log (stdout and stderr)."""
    return tmp_path_factory.mktemp("app") / "app.log"


@pytest.fixture(scope="session")
def app_url(app_log):
    """Start `python app.py` with ``APP_PYTHON`` on a free port and yield its URL (shared by API and browser tests)."""
    port = free_port()
    env = dict(os.environ, GRADIO_SERVER_NAME="127.0.0.1", GRADIO_SERVER_PORT=str(port), HF_HUB_OFFLINE="1")
    with open(app_log, "w") as log:
        proc = subprocess.Popen([APP_PYTHON, "app.py"], cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    deadline = time.time() + 120
    try:
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"app exited early:\n{app_log.read_text()}")
            try:
                urllib.request.urlopen(url, timeout=2)
                break
            except OSError:
                if time.time() > deadline:
                    raise RuntimeError(f"app did not start in 120 s:\n{app_log.read_text()}")
                time.sleep(0.5)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log_text = app_log.read_text()
        if unexpected_tracebacks(log_text):
            print(log_text)


def pytest_sessionfinish(session, exitstatus):
    """In CI every test must run: a skip there means a missing install step, so it fails the run."""
    if os.environ.get("CI", "").lower() != "true" or exitstatus != 0:
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = reporter.stats.get("skipped", []) if reporter else []
    if skipped:
        for rep in skipped:
            print(f"CI forbids skips: {rep.nodeid}: {rep.longrepr}")
        session.exitstatus = 1


@pytest.fixture
def one_torch_thread():
    """Beam search on tiny models is latency-bound: two threads on a busy 2-core machine are 10x slower."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
