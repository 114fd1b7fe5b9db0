#!/usr/bin/env bash
# ThreadSanitizer run of the tests that use several threads (concurrent
# sessions on one model, the thread pool, cancel from another thread).
# Not part of scripts/test.sh: a TSan build of the library takes a while on
# two cores. Usage: scripts/tsan.sh [BUILD_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:-build-tsan}
cmake -S . -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DNEXTLM_CUDA=OFF -DNEXTLM_BUILD_EXAMPLES=OFF \
  -DNEXTLM_BUILD_PYTHON=OFF -DCMAKE_CXX_FLAGS="-fsanitize=thread -O1" -DCMAKE_EXE_LINKER_FLAGS=-fsanitize=thread \
  -DCMAKE_SHARED_LINKER_FLAGS=-fsanitize=thread >/dev/null
cmake --build "$dir" -j "$(nproc)" --target nextlm_tests
TSAN_OPTIONS=halt_on_error=1 "$dir/tests/nextlm_tests" \
  "session: sessions on several threads give their single-thread results,ops: thread pool covers every index once and rethrows,session: cancel from the callback and from another thread,ops: quantized MoE gives every token the same bits alone and in a batch"
