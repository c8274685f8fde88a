# Two entry points a fresh machine needs: `make run` (the benchmark workflow, default config) and
# `make test`. Everything installs into .venv; torch is pinned to the CPU build only when the venv
# has no torch yet, so a GPU user's own CUDA torch is left alone.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
CORES ?= 2
EXTRAS ?= test,slurm,tracks,modisco,bench

.PHONY: setup run test lint clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -c "import torch" 2>/dev/null || $(BIN)/python -m pip install "torch==2.13.0"
	$(BIN)/python -m pip install -e ".[$(EXTRAS)]"
	touch $@

run: setup
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/snakemake --cores $(CORES)

# ruff, then the type checker (files and settings in pyproject.toml's [tool.mypy]), then the tests.
test: setup
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/ruff check . \
	  && PATH="$(abspath $(BIN)):$$PATH" $(BIN)/mypy \
	  && PATH="$(abspath $(BIN)):$$PATH" $(BIN)/python -m pytest

lint: setup
	$(BIN)/ruff check .

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache .snakemake
