# The README quick start: `make run` (set up + launch the app), `make test` (set up + run all tests).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export GRADIO_ANALYTICS_ENABLED := False
export HF_HUB_DISABLE_TELEMETRY := 1

.PHONY: run test clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Without an NVIDIA GPU (no nvidia-smi), torch comes from PyTorch's CPU index, as PyTorch's install
# guide does it: PyPI's torch==2.13.0 for Linux is the CUDA build plus ~3 GB of nvidia-* wheels, and
# the index's 2.13.0+cpu outranks it. Everything else still comes from PyPI. Where that index cannot
# be reached (an offline CI machine with a local wheel), a short timeout and one retry keep each
# lookup from stalling the install (pip's default of 5 retries made it minutes).
TORCH_CPU_INDEX := https://download.pytorch.org/whl/cpu
PIP_INSTALL := $(BIN)/pip install --disable-pip-version-check -q \
	$(if $(shell command -v nvidia-smi),,--extra-index-url $(TORCH_CPU_INDEX) --timeout 15 --retries 1)

# Re-install whenever pyproject.toml changes; the stamp files record the last install.
$(VENV)/.app-installed: pyproject.toml | $(BIN)/python
	$(PIP_INSTALL) -e .
	touch $@

$(VENV)/.test-installed: pyproject.toml | $(BIN)/python
	$(PIP_INSTALL) -e '.[test]'
	touch $@ $(VENV)/.app-installed

run: $(VENV)/.app-installed
	$(BIN)/python app.py

test: $(VENV)/.test-installed
	$(BIN)/python -m pytest $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) tests/artifacts .pytest_cache
