#!/usr/bin/env bash
# Runs the .gpu/ bundle made by scripts/gpu_pack.sh on a machine with an
# NVIDIA GPU. Output goes to stdout and, when $OUT is set, to
# $OUT/gpu_check.log. Steps (NEXTLM_GPU_STEPS, space-separated; default all):
#   tests          GPU Catch2 tests: dequantization, every CudaBackend op against
#                  the CPU backend, fixture models on both backends
#   logits         `nextlm logits --device cuda` on every fixture model present x 2
#                  prompts, --exact (--tol exact) and native (--tol native) against
#                  *.exact.json; the q8_0/q4_0 KV case; ubatch 7 and 1 (mat-vec paths)
#   bench          `nextlm bench --device cuda` on a synthesized bench-cpu IQ3_M model
#   reap           `nextlm bench --device cuda` on a synthesized reap-40b IQ3_M model
#                  (the user's shape; 18 GB on /tmp), depth 0, KV q8_0/q4_0
#   profile        nsys (when installed) over a short bench-cpu decode: GPU time per
#                  kernel and per CUDA API call ($OUT/nsys_*.csv when $OUT is set)
#   cpu-bench      the same model on the CPU backend (all cores, depth 0)
#   zoo            CPU zoo dequantization check on this machine (sanity)
#   dequant-bench  nextlm_bench_cuda_dequant
# NEXTLM_GPU_TEST_TIMEOUT caps the tests step (seconds, default 600).
# Fixtures: the bundle's are added to /tmp/nextlm-gpu-fixtures, which later runs
# on the same machine (while it stays warm) see too; see gpu_pack.sh.
set -uo pipefail
cd "$(dirname "$0")/.."
log=${OUT:-/tmp}/gpu_check.log
steps=${NEXTLM_GPU_STEPS:-tests logits bench cpu-bench zoo dequant-bench}
has_step() { [[ " $steps " == *" $1 "* ]]; }
# shellcheck source=scripts/gpu_libs.sh
. scripts/gpu_libs.sh
nextlm_gpu_libpath "$PWD/.gpu/lib"
fx=/tmp/nextlm-gpu-fixtures
mkdir -p "$fx/models" "$fx/refs" "$fx/../tools"
cp -n .gpu/fixtures/models/* "$fx/models/" 2>/dev/null
cp -n .gpu/fixtures/refs/* "$fx/refs/" 2>/dev/null
cp .gpu/tools/compare_logits.py "$fx/../tools/" 2>/dev/null
export NEXTLM_FIXTURES="$fx"
nl=.gpu/bin/nextlm
cmp="python3 $fx/../tools/compare_logits.py"
bench_model=/tmp/nextlm-bench-cpu-iq3_m.gguf

run_logits() {
  local out=/tmp/nextlm-gpu-logits fails=0 m p mode flag ref
  mkdir -p "$out"
  for m in bf16 iq3_m q4_k_m zoo legacy-q4_k_m; do
    if [ ! -f "$fx/models/tiny-qwen3next-$m.gguf" ]; then echo "$m: not in this bundle"; continue; fi
    for p in p1 p2; do
      ref=$fx/refs/tiny-qwen3next-$m.$p.exact.json
      for mode in exact native; do
        flag=""; [ $mode = exact ] && flag=--exact
        echo -n "$m $p $mode: "
        if ! $nl logits "$fx/models/tiny-qwen3next-$m.gguf" --force-tokens "$ref" $flag --device cuda \
             --out "$out/$m.$p.$mode" >/dev/null; then
          echo "FAIL (nextlm logits failed)"; fails=$((fails + 1)); continue
        fi
        $cmp "$out/$m.$p.$mode.json" "$ref" --tol $mode || fails=$((fails + 1))
      done
    done
  done
  m=iq3_m
  if [ -f "$fx/models/tiny-qwen3next-$m.gguf" ]; then
    ref=$fx/refs/tiny-qwen3next-$m.p2.exact.json
    echo -n "$m p2 native kv q8_0/q4_0: "
    if $nl logits "$fx/models/tiny-qwen3next-$m.gguf" --force-tokens "$ref" --cache-type-k q8_0 --cache-type-v q4_0 \
         --device cuda --out "$out/kvq" >/dev/null; then
      $cmp "$out/kvq.json" "$ref" --tol native || fails=$((fails + 1))
    else
      echo "FAIL (nextlm logits failed)"; fails=$((fails + 1))
    fi
  fi
  m=q4_k_m
  if [ -f "$fx/models/tiny-qwen3next-$m.gguf" ]; then
    ref=$fx/refs/tiny-qwen3next-$m.p2.exact.json
    for ub in 7 1; do
      echo -n "$m p2 exact ubatch $ub: "
      if $nl logits "$fx/models/tiny-qwen3next-$m.gguf" --force-tokens "$ref" --exact --ubatch $ub --device cuda \
           --out "$out/ub$ub" >/dev/null; then
        $cmp "$out/ub$ub.json" "$ref" --tol exact || fails=$((fails + 1))
      else
        echo "FAIL (nextlm logits failed)"; fails=$((fails + 1))
      fi
    done
  fi
  echo "logits: $fails failure(s)"
}

{
  echo "== $(date -u +%FT%TZ) $(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>&1)"
  ldd .gpu/bin/nextlm_tests | grep -E "not found|cublas|nccl|fmt" || true
  echo "fixtures: $(ls "$fx/models" | tr '\n' ' ')"
  if has_step tests; then
    echo "== GPU tests"
    if [ -f "$fx/models/tiny-qwen3next-zoo.gguf" ]; then spec="[gpu]"; else spec="[gpu]~[fixtures],[gpu][backend][fixtures]"; fi
    SECONDS=0
    timeout -k 5 "${NEXTLM_GPU_TEST_TIMEOUT:-600}" .gpu/bin/nextlm_tests "$spec" --durations yes
    echo "rc=$? (${SECONDS} s)"
  fi
  if has_step logits; then
    echo "== nextlm logits --device cuda vs the exact references"
    SECONDS=0
    run_logits
    echo "(${SECONDS} s)"
  fi
  if has_step bench || has_step cpu-bench || has_step profile; then
    [ -f $bench_model ] || $nl synth --preset bench-cpu --types iq3_m --out $bench_model >/dev/null
  fi
  if has_step bench; then
    echo "== nextlm bench --device cuda (bench-cpu shape, IQ3_M)"
    timeout 150 $nl bench $bench_model --device cuda -p 512 -n 128 -d 0,4096; echo "rc=$?"
  fi
  if has_step reap; then
    echo "== nextlm bench --device cuda (reap-40b shape, IQ3_M, KV q8_0/q4_0)"
    reap=/tmp/nextlm-reap-40b-iq3_m.gguf
    [ -f $reap ] || timeout 60 $nl synth --preset reap-40b --types iq3_m --out $reap --threads "$(nproc)" >/dev/null
    timeout 120 $nl bench $reap --device cuda -p 512 -n 64 -d 0 --cache-type-k q8_0 --cache-type-v q4_0; echo "rc=$?"
  fi
  if has_step profile; then
    echo "== nsys profile of a short bench-cpu decode"
    nsys=$(command -v nsys || ls /usr/local/cuda/bin/nsys /opt/nvidia/nsight-systems/*/bin/nsys 2>/dev/null | head -1)
    if [ -n "$nsys" ]; then
      rm -f /tmp/nextlm-prof.nsys-rep /tmp/nextlm-prof.sqlite
      timeout 60 "$nsys" profile --trace=cuda --sample=none --cpuctxsw=none -o /tmp/nextlm-prof \
        $nl bench $bench_model --device cuda -p 16 -n 64 -d 0 >/dev/null 2>&1
      for r in cuda_gpu_kern_sum cuda_api_sum; do
        timeout 40 "$nsys" stats -q --report $r --format csv /tmp/nextlm-prof.nsys-rep > "${OUT:-/tmp}/nsys_$r.csv" 2>&1
        head -25 "${OUT:-/tmp}/nsys_$r.csv" | cut -c1-220
      done
    else
      echo "nsys: not installed"
    fi
  fi
  if has_step cpu-bench; then
    echo "== nextlm bench on the CPU backend, $(nproc) threads"
    timeout 120 $nl bench $bench_model --threads "$(nproc)" -p 512 -n 128 -d 0; echo "rc=$?"
  fi
  if has_step zoo; then
    echo "== CPU zoo check on this machine (sanity)"
    .gpu/bin/nextlm_tests "[zoo]"; echo "rc=$?"
  fi
  if has_step dequant-bench; then
    echo "== dequantization benchmark"
    .gpu/bin/nextlm_bench_cuda_dequant; echo "rc=$?"
  fi
} 2>&1 | tee "$log"
