# One image for web, worker and beat (docker-compose.yml). For a CUDA worker build with
# --build-arg CMAKE_ARGS="-DGGML_CUDA=on" on a CUDA base image.
FROM python:3.11-slim
ARG CMAKE_ARGS=""
RUN apt-get update && apt-get install -y --no-install-recommends build-essential cmake git && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY . .
# llama.cpp without its AMX matmul (segfaults on Intel Xeons, llama.cpp #20824): the Makefile's flags.
# (x86-64 only: other CPUs have no AMX and their compilers no such flags)
RUN cflags="$([ "$(uname -m)" = x86_64 ] && cat .ci/llama-cpp-cflags)"; \
    CMAKE_ARGS="$CMAKE_ARGS" CFLAGS="$cflags" CXXFLAGS="$cflags" pip install --no-cache-dir -e . && \
    python -m workers.engine.llamacpp.cpu_path --check-build
