// Run-time CPU feature detection (x86-64: cpuid plus the OS-enabled register
// state in XCR0), so SIMD kernels compiled per ISA with function-level target
// attributes are only called where both the CPU and the OS support them.
// AMX is used only after the OS grants this process the tile state (Linux:
// arch_prctl ARCH_REQ_XCOMP_PERM); without that grant the instructions fault
// even where cpuid advertises them.
#pragma once

#include <string_view>

namespace nextlm::quant {

struct CpuFeatures {
  bool avx2 = false;      // AVX2 + FMA + F16C, YMM state enabled by the OS
  bool avx512 = false;    // AVX-512 F/BW/VL/DQ, ZMM + opmask state enabled
  bool avx512vnni = false;
  bool avx512bf16 = false;
  bool avx512vbmi = false;  // VBMI (byte permutes) and BITALG (bit shuffles), with avx512vnni
  bool amx_int8 = false;  // AMX-TILE + AMX-INT8 advertised and XTILECFG/XTILEDATA in XCR0
};

// True when the machine has AMX-INT8 and the OS granted this process the tile
// data state (requested on the first call; thread-safe). NEXTLM_AMX=0 says no.
bool amx_granted();

// Detected once (thread-safe); cheap to call.
const CpuFeatures& cpu_features();

// Kernel families, best last.
enum class Isa { kScalar = 0, kAvx2 = 1, kAvx512 = 2 };

// The ISA the kernels use: the best the machine supports, lowered by the
// environment variable NEXTLM_CPU_ISA=scalar|avx2|avx512 (never raised).
Isa active_isa();
bool isa_supported(Isa isa);
std::string_view isa_name(Isa isa);

}  // namespace nextlm::quant
