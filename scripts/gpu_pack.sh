#!/usr/bin/env bash
# Prepares a self-contained GPU check bundle in .gpu/ (git-ignored): builds
# the CUDA tests and benchmarks here for one architecture (default sm_90, the
# H100/H200), copies the binaries (stripped), the shared libraries they need
# that a bare CUDA machine lacks, and the fixtures the GPU checks read.
# scripts/gpu_run.sh runs the bundle on the GPU machine, and scripts/gpu-check.sh
# (tests, bandwidth, reap-40b bench, one table) uses it when present.
#
# The device tool carries at most 64 MiB (working tree included), and the five
# tiny fixture models are 72 MB, so a bundle holds a subset:
#   NEXTLM_GPU_MODELS="iq3_m q4_k_m zoo"                  (default, ~52 MiB)
#   NEXTLM_GPU_MODELS="legacy-q4_k_m"                     (the 10 MB legacy model)
#   NEXTLM_GPU_MODELS="bf16"                              (the 33 MB bf16 model)
# gpu_run.sh keeps the fixtures of each run in /tmp on the GPU machine, so a
# second bundle run on the same (still warm) machine sees both sets.
# Other knobs: NEXTLM_CUDA_ARCHITECTURES (90), NEXTLM_GPU_BUILD (build-gpu),
# NEXTLM_FIXTURES (../shared/fixtures).
set -euo pipefail
cd "$(dirname "$0")/.."
arch=${NEXTLM_CUDA_ARCHITECTURES:-90}
build=${NEXTLM_GPU_BUILD:-build-gpu}
fixtures=${NEXTLM_FIXTURES:-../shared/fixtures}
models=${NEXTLM_GPU_MODELS:-iq3_m q4_k_m zoo}
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DNEXTLM_CUDA=ON \
  -DNEXTLM_CUDA_ARCHITECTURES="$arch" >/dev/null
cmake --build "$build" -j "$(nproc)" --target nextlm_tests nextlm_bench_cuda_dequant nextlm_cli
rm -rf .gpu && mkdir -p .gpu/bin .gpu/lib .gpu/fixtures/models .gpu/fixtures/refs .gpu/tools
# gpu-check.sh compares this with the GPU's compute capability before using the bundle.
echo "$arch" > .gpu/arch
git describe --always --dirty > .gpu/commit 2>/dev/null || true
cp "$build"/tests/nextlm_tests "$build"/examples/bench/nextlm_bench_cuda_dequant "$build"/examples/cli/nextlm .gpu/bin/
strip --strip-unneeded .gpu/bin/*
# Non-CUDA shared libraries the binaries need (CUDA's own come from the GPU machine's toolkit).
for lib in $(ldd .gpu/bin/* | awk '/=> \// {print $3}' | sort -u); do
  case $(basename "$lib") in
    libc.so*|libm.so*|libstdc++*|libgcc_s*|ld-linux*|libpthread*|libdl*|librt*|libcuda.so*|libcudart*|libcublas*|libnccl*) ;;
    *) cp -L "$lib" .gpu/lib/ ;;
  esac
done
for m in $models; do
  cp "$fixtures/models/tiny-qwen3next-$m.gguf" .gpu/fixtures/models/
  cp "$fixtures"/refs/tiny-qwen3next-"$m".p[12].exact.* .gpu/fixtures/refs/
done
if [ -f .gpu/fixtures/models/tiny-qwen3next-zoo.gguf ]; then
  cp "$fixtures"/refs/tiny-qwen3next-zoo.dequant-rows.* .gpu/fixtures/refs/
fi
cp "$fixtures/../tools/compare_logits.py" .gpu/tools/
du -sh .gpu
size_kib=$(du -sk .gpu | cut -f1)
if [ "$size_kib" -gt $((60 * 1024)) ]; then
  echo "error: .gpu is ${size_kib} KiB; the device tool carries 64 MiB with the working tree (use fewer NEXTLM_GPU_MODELS)" >&2
  exit 1
fi
