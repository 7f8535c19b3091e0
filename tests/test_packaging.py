"""Set-up files agree with each other: pyproject, requirements.txt (Spaces), README front matter, CI."""

import re
import subprocess
import tomllib

from tests.conftest import REPO


def pyproject():
    return tomllib.loads((REPO / "pyproject.toml").read_text())


def requirement_lines() -> list[str]:
    lines = (REPO / "requirements.txt").read_text().splitlines()
    return [ln.strip() for ln in lines if ln.strip() and not ln.startswith("#")]


def test_requirements_match_pyproject():
    declared = {d.replace("_", "-").lower() for d in pyproject()["project"]["dependencies"]}
    required = {ln.replace("_", "-").lower() for ln in requirement_lines() if not ln.startswith("-")}
    assert declared == required


def test_spaces_and_make_take_torch_from_the_same_cpu_index():
    options = [ln for ln in requirement_lines() if ln.startswith("-")]
    assert options == ["--extra-index-url https://download.pytorch.org/whl/cpu"]
    index = options[0].split()[1]
    assert f"TORCH_CPU_INDEX := {index}" in (REPO / "Makefile").read_text()


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


def make_dry_run(target: str) -> str:
    """The commands `make <target>` would run on a fresh clone (-B: as if nothing were installed yet)."""
    return subprocess.run(["make", "-n", "-B", target], cwd=REPO, capture_output=True, text=True, check=True).stdout


def test_make_run_and_make_test_never_share_an_install():
    """`make run` installs requirements.txt alone (as Spaces does) into .venv-app; `make test` installs the test
    extras into .venv-test only, and serves the app it tests from .venv-app."""
    run = make_dry_run("run")
    assert ".venv-app/bin/pip install" in run and "-r requirements.txt" in run and "[test]" not in run
    assert ".venv-app/bin/python app.py" in run
    test = make_dry_run("test")
    extras = [line for line in test.splitlines() if "[test]" in line]
    assert extras and all(".venv-test/bin/pip install" in line for line in extras)
    assert "APP_PYTHON=" in test and ".venv-app/bin/python .venv-test/bin/python -m pytest" in test
