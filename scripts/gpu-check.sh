#!/usr/bin/env bash
# One-command GPU check (issue 7): on a machine with an NVIDIA GPU, runs the
# GPU tests, synthesizes the user's model shape (reap-40b, IQ3_M, ~18 GB),
# runs `nextlm bench --device cuda` on it (which also measures the device's
# read bandwidth and each generation row's roofline), and prints a short
# markdown table. Meant to finish within 10 minutes on an H100.
#
# Two modes:
#   bundle  .gpu/ from scripts/gpu_pack.sh is present (and built for this
#           GPU's architecture; see .gpu/arch): its binaries are used as they
#           are. This is the mode for a lent, bare GPU machine, which lacks
#           the build dependencies (fmt, nlohmann-json, Catch2): pack here,
#           carry .gpu, run this there.
#   build   no bundle (or NEXTLM_GPU_CHECK_BUILD=1): configures and builds
#           nextlm and nextlm_tests for the GPU's compute capability in
#           $NEXTLM_GPU_BUILD (default build-gpu-check); needs the usual build
#           dependencies and nvcc. Build time is not part of the 10 minutes.
#
# Knobs (environment):
#   NEXTLM_GPU_CHECK_DEPTH   depth of the K q8_0 / V q4_0 bench (default 16384;
#                            0 skips it); it runs only if the time spent so far
#                            leaves room for its timeout inside the budget
#   NEXTLM_GPU_CHECK_BUDGET  seconds for the whole check (default 570)
#   NEXTLM_GPU_CHECK_MODEL   the synthesized model (default
#                            /tmp/nextlm-reap-40b-iq3_m.gguf, as gpu_run.sh's
#                            reap step; reused when present)
#   NEXTLM_GPU_TEST_TIMEOUT  seconds for the GPU tests (default 180)
#   NEXTLM_FIXTURES          fixture models for the tests (bundle: .gpu/fixtures;
#                            build: ./shared/fixtures or ../shared/fixtures)
# Logs (tests, bench JSON, the table) go to $OUT when set (the device tool's
# output folder), else to /tmp/nextlm-gpu-check.
# Exit status: 0 when every step passed, 1 otherwise (a step's failure is
# shown in the table; no GPU is an immediate error).
set -euo pipefail
cd "$(dirname "$0")/.."

die() {
  echo "gpu-check: error: $*" >&2
  exit 1
}

# --- the GPU ---------------------------------------------------------------
command -v nvidia-smi >/dev/null 2>&1 || die "nvidia-smi not found: this check needs a machine with an NVIDIA GPU"
gpu=$(nvidia-smi --query-gpu=name,compute_cap,memory.total --format=csv,noheader 2>&1 | head -n 1) ||
  die "nvidia-smi found no usable GPU: $gpu"
[[ "$gpu" == *,*,* ]] || die "nvidia-smi found no usable GPU: $gpu"
gpu_name=${gpu%%,*}
cc=$(echo "$gpu" | cut -d, -f2 | tr -d ' ')
arch=${cc/./}  # "9.0" -> "90", CMake's spelling
[[ "$arch" =~ ^[0-9]+$ ]] || die "unexpected compute capability '$cc' from nvidia-smi"
echo "gpu-check: $gpu_name (compute capability $cc)"

logs=${OUT:-/tmp/nextlm-gpu-check}
mkdir -p "$logs"
budget=${NEXTLM_GPU_CHECK_BUDGET:-570}
depth=${NEXTLM_GPU_CHECK_DEPTH:-16384}
model=${NEXTLM_GPU_CHECK_MODEL:-/tmp/nextlm-reap-40b-iq3_m.gguf}
[[ "$depth" =~ ^[0-9]+$ ]] || die "NEXTLM_GPU_CHECK_DEPTH must be a number"

# Whether a CMake architecture list ("80;90a;89-real") has this GPU's.
has_arch() {
  local e
  for e in ${1//;/ }; do
    e=${e%%-*}
    [ "${e%a}" = "$arch" ] && return 0
  done
  return 1
}

# --- binaries: bundle or build ---------------------------------------------
bundle=.gpu
if [ "${NEXTLM_GPU_CHECK_BUILD:-0}" != 1 ] && [ -x $bundle/bin/nextlm ] && [ -x $bundle/bin/nextlm_tests ]; then
  packed=$(cat $bundle/arch 2>/dev/null || echo 90)  # bundles from before .gpu/arch were sm_90
  has_arch "$packed" || die "the $bundle bundle is built for sm_$packed, this GPU is sm_$arch:" \
    "NEXTLM_CUDA_ARCHITECTURES=$arch scripts/gpu_pack.sh, or NEXTLM_GPU_CHECK_BUILD=1 to build here"
  mode="bundle ($(cat $bundle/commit 2>/dev/null || echo 'commit unknown'))"
  nl=$bundle/bin/nextlm
  tests=$bundle/bin/nextlm_tests
  # shellcheck source=scripts/gpu_libs.sh
  . scripts/gpu_libs.sh
  nextlm_gpu_libpath "$PWD/$bundle/lib"
  export NEXTLM_FIXTURES=${NEXTLM_FIXTURES:-$PWD/$bundle/fixtures}
else
  build=${NEXTLM_GPU_BUILD:-build-gpu-check}
  if ! command -v nvcc >/dev/null 2>&1 && [ -x /usr/local/cuda/bin/nvcc ]; then export PATH=/usr/local/cuda/bin:$PATH; fi
  command -v cmake >/dev/null 2>&1 || die "no $bundle bundle and no cmake: run scripts/gpu_pack.sh on a build machine and carry .gpu"
  command -v nvcc >/dev/null 2>&1 || die "no $bundle bundle and no nvcc: run scripts/gpu_pack.sh on a build machine and carry .gpu"
  mode="build (sm_$arch, $build)"
  echo "gpu-check: building for sm_$arch in $build"
  gen=()
  if command -v ninja >/dev/null 2>&1; then gen=(-G Ninja); fi
  cmake -S . -B "$build" "${gen[@]}" -DCMAKE_BUILD_TYPE=Release -DNEXTLM_CUDA=ON \
    -DNEXTLM_CUDA_ARCHITECTURES="$arch" >"$logs/configure.log" 2>&1 ||
    die "cmake configure failed (missing build dependencies?); see $logs/configure.log"
  cmake --build "$build" -j "$(nproc)" --target nextlm_tests nextlm_cli >"$logs/build.log" 2>&1 ||
    die "build failed; see $logs/build.log"
  nl=$build/examples/cli/nextlm
  tests=$build/tests/nextlm_tests
  if [ -z "${NEXTLM_FIXTURES:-}" ]; then
    if [ -d shared/fixtures ]; then NEXTLM_FIXTURES=$PWD/shared/fixtures; else NEXTLM_FIXTURES=$PWD/../shared/fixtures; fi
  fi
  export NEXTLM_FIXTURES
fi
SECONDS=0  # the budget counts from here (a build is not part of it)
failed=0

# --- GPU tests ---------------------------------------------------------------
# Without the zoo model only the per-op tests and the models' own fixture
# tests can run (as in gpu_run.sh); without any fixtures, the per-op tests.
if [ -f "$NEXTLM_FIXTURES/models/tiny-qwen3next-zoo.gguf" ]; then
  spec="[gpu]"
elif compgen -G "$NEXTLM_FIXTURES/models/*.gguf" >/dev/null; then
  spec="[gpu]~[fixtures],[gpu][backend][fixtures]"
else
  spec="[gpu]~[fixtures]"
fi
echo "== GPU tests: $tests \"$spec\" (fixtures: $NEXTLM_FIXTURES)"
set +e
timeout -k 5 "${NEXTLM_GPU_TEST_TIMEOUT:-180}" "$tests" "$spec" --durations yes 2>&1 | tee "$logs/tests.log"
rc=${PIPESTATUS[0]}
set -e
# Catch2 2's last line: "All tests passed (N assertions in M test cases)" or
# "test cases: M | P passed | F failed" (a part is left out when it is 0).
if [ "$rc" = 0 ] && grep -q "^All tests passed" "$logs/tests.log"; then
  tests_result="$(sed -n 's/^All tests passed.* in \([0-9]*\) test case.*/\1/p' "$logs/tests.log" | tail -n 1) passed, 0 failed"
elif line=$(grep "^test cases:" "$logs/tests.log" | tail -n 1); then
  p=$(echo "$line" | sed -n 's/.*[ |] *\([0-9][0-9]*\) passed.*/\1/p')
  f=$(echo "$line" | sed -n 's/.*[ |] *\([0-9][0-9]*\) failed.*/\1/p')
  tests_result="${p:-0} passed, ${f:-0} failed"
elif [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
  tests_result="timed out after ${NEXTLM_GPU_TEST_TIMEOUT:-180} s"
elif [ "$rc" = 77 ]; then
  tests_result="skipped (see $logs/tests.log)"
else
  tests_result="error, exit $rc"
fi
[ "$rc" = 0 ] || failed=1
echo "tests: $tests_result (exit $rc, ${SECONDS} s)"

# --- the model -----------------------------------------------------------------
if [ -s "$model" ]; then
  echo "== reusing $model"
else
  echo "== nextlm synth --preset reap-40b --types iq3_m --out $model"
  # Written under another name first, so that an interrupted synth is not reused.
  timeout 150 "$nl" synth --preset reap-40b --types iq3_m --out "$model.part" --threads "$(nproc)" >/dev/null ||
    die "nextlm synth failed (disk space? ~18 GB are needed in $(dirname "$model"))"
  mv "$model.part" "$model"
fi

# --- benches -------------------------------------------------------------------
# Runs `nextlm bench --json` with its arguments into $logs/$1.json, with a
# time limit of $2 s; its exit status goes to status[$1] (124: timed out).
declare -A status
benches=()
bench() {
  local name=$1 limit=$2
  shift 2
  echo "== nextlm bench $model $* --device cuda --json (limit $limit s)"
  set +e
  timeout -k 5 "$limit" "$nl" bench "$model" --device cuda --json "$@" >"$logs/$name.json" 2>"$logs/$name.err"
  local rc=$?
  set -e
  cat "$logs/$name.err" "$logs/$name.json"
  echo "(exit $rc, ${SECONDS} s so far)"
  benches+=("$name")
  status[$name]=$rc
}
bench bench_f16 150 -p 512 -n 64 -d 0
[ "${status[bench_f16]}" = 0 ] || failed=1
# A long depth fills the cache at prefill speed (~500 tok/s on an H100 for
# this shape in the first CUDA versions), so it runs only if it fits.
kvq_limit=240
if [ "$depth" -gt 0 ]; then
  if [ $((SECONDS + kvq_limit)) -le "$budget" ]; then
    bench bench_kvq "$kvq_limit" -p 512 -n 64 -d "$depth" --cache-type-k q8_0 --cache-type-v q4_0
    # Optional: running out of its time is reported in the table, not a failure.
    case "${status[bench_kvq]}" in 0 | 124 | 137) ;; *) failed=1 ;; esac
  else
    echo "== skipping the q8_0/q4_0 depth-$depth bench: ${SECONDS} s spent, its $kvq_limit s would pass the $budget s budget"
  fi
fi

# --- the table -------------------------------------------------------------------
{
  echo
  echo "### nextlm GPU check: $gpu_name, $(date -u +%FT%TZ)"
  echo
  echo "binaries: $mode; tests: $tests_result; model: reap-40b IQ3_M ($(du -h "$model" | cut -f1)); ${SECONDS} s"
  echo
  echo "| bench | KV | test | depth | tok/s | device read GB/s | roofline tok/s | % of roofline |"
  echo "| --- | --- | --- | --- | --- | --- | --- | --- |"
  for b in "${benches[@]}"; do
    kv=f16/f16
    if [ "$b" = bench_kvq ]; then kv=q8_0/q4_0; fi
    case "${status[$b]}" in
      0) ;;
      124 | 137) echo "| $b | $kv | timed out | | | | | |"; continue ;;
      *) echo "| $b | $kv | failed (exit ${status[$b]}, see $logs/$b.err) | | | | | |"; continue ;;
    esac
    python3 -c '
import json, sys
for r in json.load(open(sys.argv[1])):
    def f(k, fmt):
        return fmt.format(r[k]) if k in r else "-"
    print("| {} | {} | {} | {} | {:.1f} | {} | {} | {} |".format(
        sys.argv[2], sys.argv[3], r["test"], r["depth"], r["tokens_per_s"], f("device_read_gb_per_s", "{:.0f}"),
        f("roofline_tokens_per_s", "{:.1f}"), "{:.1f}%".format(100 * r["roofline_fraction"]) if "roofline_fraction" in r else "-"))
' "$logs/$b.json" "$b" "$kv" 2>/dev/null || echo "| $b | $kv | unreadable output ($logs/$b.json) | | | | | |"
  done
  echo
  echo "Roofline: device read bandwidth / (active weight bytes + KV cache bytes at the run's mean depth"
  echo "+ DeltaNet state read and written) per generated token; pp rows have none."
} | tee "$logs/table.md"
[ "$failed" = 0 ] || echo "gpu-check: some steps failed (logs in $logs)" >&2
exit "$failed"
