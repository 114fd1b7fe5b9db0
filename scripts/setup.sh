#!/usr/bin/env bash
# Sets up a fresh Debian machine for nextlm: installs the build and test
# dependencies, configures and builds, synthesises the small bundled model
# and runs the main job on it: the chat example answering one prompt
# (the model is random, so the answer is noise; the pipeline is real).
#   NEXTLM_CUDA_ARCHITECTURES  CUDA architectures (default 80;86;89;90)
#   NEXTLM_SKIP_APT=1          skip the package installation
#   NEXTLM_SKIP_MAIN_JOB=1     build only
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(build-essential cmake ninja-build pkg-config libfmt-dev catch2 pybind11-dev python3-dev python3-numpy
          python3-pytest python3-pip nlohmann-json3-dev libcpp-httplib-dev clang libclang-rt-dev unicode-data)
if [ "${NEXTLM_SKIP_APT:-0}" != 1 ]; then
  missing=()
  for p in "${packages[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  if [ ${#missing[@]} -gt 0 ]; then
    sudo=""
    [ "$(id -u)" = 0 ] || sudo=sudo
    echo "== installing: ${missing[*]}"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
fi
# The official openai client, for the server's tests (server.pytest) and load test.
if [ "${NEXTLM_SKIP_APT:-0}" != 1 ] && ! /usr/bin/python3 -c "import openai" 2>/dev/null; then
  echo "== installing the openai Python client for /usr/bin/python3"
  /usr/bin/python3 -m pip install -q --break-system-packages openai
fi

jobs=$(nproc)
echo "== configuring build/ (Release)"
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DNEXTLM_CUDA_ARCHITECTURES="${NEXTLM_CUDA_ARCHITECTURES:-80;86;89;90}" \
  -DPython_EXECUTABLE=/usr/bin/python3 >/dev/null
echo "== building with $jobs jobs"
cmake --build build -j "$jobs"

[ "${NEXTLM_SKIP_MAIN_JOB:-0}" = 1 ] && exit 0
mkdir -p models
if [ ! -f models/tiny-synth-iq3_m.gguf ]; then
  echo "== synthesising models/tiny-synth-iq3_m.gguf"
  build/examples/cli/nextlm synth --preset tiny --types iq3_m --seed 1 --out models/tiny-synth-iq3_m.gguf
fi
echo "== nextlm info models/tiny-synth-iq3_m.gguf (summary)"
build/examples/cli/nextlm info models/tiny-synth-iq3_m.gguf | sed -n '1,4p'  # sed reads it all: no SIGPIPE under pipefail
echo "== nextlm-chat models/tiny-synth-iq3_m.gguf -p 'Hello!'"
build/examples/chat/nextlm-chat models/tiny-synth-iq3_m.gguf -p "Hello!" -n 32
