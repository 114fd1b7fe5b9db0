#!/usr/bin/env bash
# Prepares a self-contained GPU check bundle in .gpu/ (git-ignored): builds
# the CUDA tests and benchmarks here for one architecture (default sm_90, the
# H100/H200), copies the binaries, the shared libraries they need that a bare
# CUDA machine lacks, and the fixtures the GPU tests read. scripts/gpu_run.sh
# runs the bundle on the GPU machine.
set -euo pipefail
cd "$(dirname "$0")/.."
arch=${NEXTLM_CUDA_ARCHITECTURES:-90}
fixtures=${NEXTLM_FIXTURES:-../shared/fixtures}
cmake -S . -B build-gpu -G Ninja -DCMAKE_BUILD_TYPE=Release -DNEXTLM_CUDA=ON \
  -DNEXTLM_CUDA_ARCHITECTURES="$arch" >/dev/null
cmake --build build-gpu -j "$(nproc)" --target nextlm_tests nextlm_bench_cuda_dequant nextlm_cli
rm -rf .gpu && mkdir -p .gpu/bin .gpu/lib .gpu/fixtures/models .gpu/fixtures/refs
cp build-gpu/tests/nextlm_tests build-gpu/examples/bench/nextlm_bench_cuda_dequant build-gpu/examples/cli/nextlm .gpu/bin/
# Non-CUDA shared libraries the binaries need (CUDA's own come from the GPU machine's toolkit).
for lib in $(ldd .gpu/bin/* | awk '/=> \// {print $3}' | sort -u); do
  case $(basename "$lib") in
    libc.so*|libm.so*|libstdc++*|libgcc_s*|ld-linux*|libpthread*|libdl*|librt*|libcuda.so*|libcudart*|libcublas*|libnccl*) ;;
    *) cp -L "$lib" .gpu/lib/ ;;
  esac
done
cp "$fixtures"/models/tiny-qwen3next-zoo.gguf .gpu/fixtures/models/
cp "$fixtures"/refs/tiny-qwen3next-zoo.dequant-rows.* .gpu/fixtures/refs/
du -sh .gpu
