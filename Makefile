# Two entry points (see README): `make demo` and `make test`. Both set up .venv first.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
# Installed before the project so the `torch` range in pyproject never pulls another build.
TORCH_SPEC ?= torch==2.13.0
# Without an NVIDIA GPU, PyTorch's CPU wheel index: a plain `pip install torch` on Linux would
# download the multi-GB CUDA build. Where that index is unreachable (a mirror, wheels on disk),
# pip falls back to the configured indexes.
TORCH_INDEX ?= $(if $(shell command -v nvidia-smi),,https://download.pytorch.org/whl/cpu)
DEMO_OUT ?= runs/demo

.PHONY: setup setup-run system-deps demo test lint format clean

# `make demo` needs the package only; `make test` adds the test tools.
setup-run: $(VENV)/.installed-run
setup: $(VENV)/.installed

$(VENV)/.torch:
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(if $(TORCH_INDEX),$(BIN)/python -m pip install -q --retries 0 --timeout 20 \
		--extra-index-url "$(TORCH_INDEX)" "$(TORCH_SPEC)" ||) \
		$(BIN)/python -m pip install -q "$(TORCH_SPEC)"
	touch $@

$(VENV)/.installed-run: $(VENV)/.torch pyproject.toml setup.py
	$(BIN)/python -m pip install -q -e .
	touch $@

$(VENV)/.installed: $(VENV)/.torch pyproject.toml setup.py
	$(BIN)/python -m pip install -q -e ".[test]"
	touch $@ $(VENV)/.installed-run

# Real services and tools the tests drive: Prometheus (server + promtool), the Pushgateway,
# headless Chromium, and rustc (MultiPL-E's Rust programs; rustup's ~/.cargo/bin counts too).
SYSTEM_PACKAGES := prometheus prometheus-pushgateway chromium rustc
system-deps:
	@if command -v prometheus >/dev/null && command -v prometheus-pushgateway >/dev/null \
		&& command -v chromium >/dev/null \
		&& { command -v rustc >/dev/null || test -x "$$HOME/.cargo/bin/rustc"; }; then :; \
	elif [ "$$(id -u)" = 0 ]; then \
		apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q $(SYSTEM_PACKAGES); \
	else echo "install Debian packages: $(SYSTEM_PACKAGES) (tests that need them skip; under CI they fail)"; fi

# The main job on the embedded default corpus: the running Python's standard library, through
# the whole Kubeflow pipeline run locally (curate → tokenizer → pack → pretrain → evaluate → report).
demo: setup-run
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
