#!/usr/bin/env bash
# Runs the .gpu/ bundle made by scripts/gpu_pack.sh on a machine with an
# NVIDIA GPU: GPU tests, then benchmarks. Output goes to stdout and, when
# $OUT is set, to $OUT/gpu_check.log.
set -uo pipefail
cd "$(dirname "$0")/.."
log=${OUT:-/tmp}/gpu_check.log
extra=""
for d in /usr/local/cuda/lib64 /usr/local/cuda/targets/x86_64-linux/lib; do [ -d "$d" ] && extra="$extra:$d"; done
# CUDA libraries shipped inside Python wheels (cuBLAS, NCCL) on images without a full toolkit.
for d in $(python3 -c 'import nvidia, os; p = nvidia.__path__[0]; print(" ".join(os.path.join(p, x, "lib") for x in os.listdir(p)))' 2>/dev/null); do
  [ -d "$d" ] && extra="$extra:$d"
done
export LD_LIBRARY_PATH="$PWD/.gpu/lib$extra${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export NEXTLM_FIXTURES="$PWD/.gpu/fixtures"
{
  echo "== $(date -u +%FT%TZ) $(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>&1)"
  ldd .gpu/bin/nextlm_tests | grep -E "not found|cublas|nccl|fmt" || true
  echo "== GPU tests"
  .gpu/bin/nextlm_tests "[gpu]" --durations no; echo "rc=$?"
  echo "== CPU zoo check on this machine (sanity)"
  .gpu/bin/nextlm_tests "[zoo]"; echo "rc=$?"
  echo "== dequantization benchmark"
  .gpu/bin/nextlm_bench_cuda_dequant; echo "rc=$?"
} 2>&1 | tee "$log"
