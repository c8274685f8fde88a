# Two entry points a fresh machine needs: `make run` (the benchmark workflow, default config) and
# `make test`. Everything installs into .venv; torch is pinned to the CPU build only when the venv
# has no torch yet, so a GPU user's own CUDA torch is left alone.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
CORES ?= 2
EXTRAS ?= test,slurm,tracks,modisco,bench,bpnet,docs
BPNET_LITE ?= bpnet-lite==1.1.0

.PHONY: setup run test lint docs clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -c "import torch" 2>/dev/null || $(BIN)/python -m pip install "torch==2.13.0"
	$(BIN)/python -m pip install -e ".[$(EXTRAS)]"
	# the bpnet extra: bpnet-lite without its declared macs3/bam2bw (see pyproject.toml)
	case ",$(EXTRAS)," in *,bpnet,*) $(BIN)/python -m pip install --no-deps "$(BPNET_LITE)";; esac
	touch $@

run: setup
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/snakemake --cores $(CORES)

# The docs build comes first (a few seconds), then ruff, the type checker (files and settings in
# pyproject.toml's [tool.mypy]) and the tests, so that pytest's summary stays the last line.
test: setup docs
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/ruff check . \
	  && PATH="$(abspath $(BIN)):$$PATH" $(BIN)/mypy \
	  && PATH="$(abspath $(BIN)):$$PATH" $(BIN)/python -m pytest

# The documentation site (mkdocs.yml, docs/) into site/, warnings as errors: an API page naming a function
# that no longer exists, or a broken link, fails the build (and so `make test`). Nothing is downloaded.
docs: setup
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict

lint: setup
	$(BIN)/ruff check .

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache .snakemake site
