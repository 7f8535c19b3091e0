# The README quick start: `make run` (set up + launch the app), `make test` (set up + run all tests).
#
# Two environments that never share an install: `make run` serves the app from .venv-app, made from
# requirements.txt alone, as Hugging Face Spaces makes it; `make test` runs pytest from .venv-test (the
# package with its [test] extra) and starts every app it tests with .venv-app's Python (APP_PYTHON), so a
# dependency the app needs but requirements.txt lacks fails the tests instead of hiding behind the extras.
PYTHON ?= python3
SHELL := /bin/bash
APP_VENV := .venv-app
TEST_VENV := .venv-test
export GRADIO_ANALYTICS_ENABLED := False
export HF_HUB_DISABLE_TELEMETRY := 1

.PHONY: run test clean

# Without an NVIDIA GPU (no nvidia-smi), torch comes from PyTorch's CPU index, as PyTorch's install
# guide does it: PyPI's torch==2.13.0 for Linux is the CUDA build plus ~3 GB of nvidia-* wheels, and
# the index's 2.13.0+cpu outranks it. Everything else still comes from PyPI. Where that index cannot
# be reached (an offline CI machine with a local wheel), a short timeout and one retry keep each
# lookup from stalling the install (pip's default of 5 retries made it minutes).
# requirements.txt names that index itself (for Spaces' CPU hardware); with a GPU, make leaves that line out.
GPU := $(shell command -v nvidia-smi)
TORCH_CPU_INDEX := https://download.pytorch.org/whl/cpu
PIP_OPTIONS := --disable-pip-version-check -q $(if $(GPU),,--timeout 15 --retries 1)
REQUIREMENTS := $(if $(GPU),<(grep -v -e '^--extra-index-url' requirements.txt),requirements.txt)

# Re-install whenever the dependency list changes; the stamp files record the last install.
$(APP_VENV)/.installed: requirements.txt
	$(PYTHON) -m venv $(APP_VENV)
	$(APP_VENV)/bin/pip install $(PIP_OPTIONS) -r $(REQUIREMENTS)
	touch $@

$(TEST_VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(TEST_VENV)
	$(TEST_VENV)/bin/pip install $(PIP_OPTIONS) $(if $(GPU),,--extra-index-url $(TORCH_CPU_INDEX)) -e '.[test]'
	touch $@

run: $(APP_VENV)/.installed
	$(APP_VENV)/bin/python app.py

test: $(APP_VENV)/.installed $(TEST_VENV)/.installed
	APP_PYTHON=$(abspath $(APP_VENV))/bin/python $(TEST_VENV)/bin/python -m pytest $(PYTEST_ARGS)

clean:
	rm -rf $(APP_VENV) $(TEST_VENV) tests/artifacts .pytest_cache
