#!/usr/bin/env bash
# Runs the test suite: every ctest of build/ (GPU tests skip without a GPU),
# then the GGUF/quant unit tests and the corrupt-file corpus again under
# AddressSanitizer + UndefinedBehaviorSanitizer (build-asan/), then a short
# libFuzzer run of the GGUF reader when clang is present.
#   NEXTLM_FUZZ_SECONDS  fuzzing time (default 30; 0 skips it)
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc)
[ -f build/CMakeCache.txt ] || NEXTLM_SKIP_MAIN_JOB=1 scripts/setup.sh
cmake --build build -j "$jobs"

echo "== ctest (build/)"
ctest --test-dir build --output-on-failure -j "$jobs"

echo "== sanitizer build (build-asan/, ASan + UBSan, CPU only)"
cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DNEXTLM_SANITIZE=ON -DNEXTLM_CUDA=OFF \
  -DNEXTLM_BUILD_EXAMPLES=OFF -DCMAKE_CXX_FLAGS="-O1" >/dev/null
cmake --build build-asan -j "$jobs" --target nextlm_tests
ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ctest --test-dir build-asan --output-on-failure -j "$jobs" -L unit

seconds=${NEXTLM_FUZZ_SECONDS:-15}
if [ "$seconds" != 0 ] && command -v clang++ >/dev/null; then
  echo "== fuzzing for ${seconds}s per target (build-fuzz/, clang, ASan + UBSan)"
  CC=clang CXX=clang++ cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DNEXTLM_FUZZ=ON \
    -DNEXTLM_SANITIZE=ON -DNEXTLM_CUDA=OFF -DNEXTLM_BUILD_EXAMPLES=OFF >/dev/null
  targets=$(cd build-fuzz && ninja -t targets all | sed -n 's/^\(fuzz_[a-z_]*\): phony$/\1/p' | sort -u)
  cmake --build build-fuzz -j "$jobs" --target make_gguf_corpus $targets
  rm -rf build-fuzz/corpus && mkdir -p build-fuzz/corpus/fuzz_gguf
  build-fuzz/tests/fuzz/make_gguf_corpus build-fuzz/corpus/fuzz_gguf >/dev/null
  for t in $targets; do
    mkdir -p "build-fuzz/corpus/$t"
    echo "-- $t"
    build-fuzz/tests/fuzz/$t -max_total_time="$seconds" -max_len=4096 -print_final_stats=0 \
      "build-fuzz/corpus/$t" 2>&1 | tail -n 2
  done
fi
