# shellcheck shell=bash
# Sourced by gpu_run.sh and gpu-check.sh (not run on its own). The bundle's
# binaries link CUDA's runtime statically but cuBLAS and NCCL dynamically; a
# bare GPU machine has those in the toolkit's folders or, on images without a
# full toolkit, inside Python's CUDA wheels. Puts $1 (the bundle's lib/
# folder, non-CUDA libraries) first on LD_LIBRARY_PATH, then whichever exist.
nextlm_gpu_libpath() {
  local extra="" d
  for d in /usr/local/cuda/lib64 /usr/local/cuda/targets/x86_64-linux/lib; do
    if [ -d "$d" ]; then extra="$extra:$d"; fi
  done
  for d in $(python3 -c 'import nvidia, os; p = nvidia.__path__[0]; print(" ".join(os.path.join(p, x, "lib") for x in os.listdir(p)))' 2>/dev/null); do
    if [ -d "$d" ]; then extra="$extra:$d"; fi
  done
  export LD_LIBRARY_PATH="$1$extra${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
}
