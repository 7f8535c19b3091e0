"""Set-up files agree with each other: pyproject, requirements.txt (Spaces), README front matter, CI."""

import re
import tomllib

from tests.conftest import REPO


def pyproject():
    return tomllib.loads((REPO / "pyproject.toml").read_text())


def test_requirements_match_pyproject():
    declared = {d.replace("_", "-").lower() for d in pyproject()["project"]["dependencies"]}
    lines = (REPO / "requirements.txt").read_text().splitlines()
    required = {ln.strip().replace("_", "-").lower() for ln in lines if ln.strip() and not ln.startswith("#")}
    assert declared == required


def test_torch_is_pinned():
    assert "torch==2.13.0" in pyproject()["project"]["dependencies"]


def test_readme_front_matter_is_a_gradio_space():
    readme = (REPO / "README.md").read_text()
    front = readme.split("---")[1]
    assert re.search(r"^sdk: gradio$", front, re.M)
    gradio_pin = next(d for d in pyproject()["project"]["dependencies"] if d.startswith("gradio=="))
    assert re.search(rf"^sdk_version: {re.escape(gradio_pin.split('==')[1])}$", front, re.M)
    assert re.search(r"^app_file: app.py$", front, re.M)


def test_quick_start_and_ci_use_the_same_test_command():
    readme = (REPO / "README.md").read_text()
    assert "make run" in readme and "make test" in readme
    ci = REPO / ".ci" / "run"
    assert ci.stat().st_mode & 0o111, ".ci/run must be executable"
    assert "make test" in ci.read_text()
