# Two entry points (see README): `make demo` and `make test`. Both set up .venv first.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
# Installed before the project so the `torch` range in pyproject never pulls a CUDA build here.
TORCH_SPEC ?= torch==2.13.0
DEMO_OUT ?= runs/demo

.PHONY: setup system-deps demo test lint format clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml setup.py
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q "$(TORCH_SPEC)"
	$(BIN)/python -m pip install -q -e ".[test]"
	touch $@

# Real services the tests drive: Prometheus (server + promtool), the Pushgateway and headless
# Chromium.
SYSTEM_PACKAGES := prometheus prometheus-pushgateway chromium
system-deps:
	@if command -v prometheus >/dev/null && command -v prometheus-pushgateway >/dev/null \
		&& command -v chromium >/dev/null; then :; \
	elif [ "$$(id -u)" = 0 ]; then \
		apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q $(SYSTEM_PACKAGES); \
	else echo "install Debian packages: $(SYSTEM_PACKAGES) (tests that need them skip; under CI they fail)"; fi

# The main job on the embedded default corpus: the running Python's standard library, through
# the whole Kubeflow pipeline run locally (curate → tokenizer → pack → pretrain → evaluate → report).
demo: setup
	$(BIN)/tritter run --input python-stdlib --output $(DEMO_OUT)

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: setup
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

test: setup system-deps lint
	$(BIN)/python -m pytest -q --durations=25

clean:
	rm -rf $(VENV) runs .pytest_cache .ruff_cache
