#include "quant/cpu_features.h"

#include <cstdint>
#include <cstdlib>
#include <cstring>

#if defined(__x86_64__) || defined(_M_X64)
#include <cpuid.h>
#define NLM_X86 1
#endif
#if NLM_X86 && defined(__linux__)
#include <sys/syscall.h>
#include <unistd.h>
#endif

namespace nextlm::quant {

namespace {

#if NLM_X86
void cpuid(unsigned leaf, unsigned sub, unsigned r[4]) { __cpuid_count(leaf, sub, r[0], r[1], r[2], r[3]); }

uint64_t xgetbv0() {
  uint32_t lo, hi;
  __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  return (static_cast<uint64_t>(hi) << 32) | lo;
}
#endif

CpuFeatures detect() {
  CpuFeatures f;
#if NLM_X86
  unsigned r[4];
  cpuid(0, 0, r);
  const unsigned max_leaf = r[0];
  cpuid(1, 0, r);
  const bool osxsave = r[2] & (1u << 27), avx = r[2] & (1u << 28), fma = r[2] & (1u << 12),
             f16c = r[2] & (1u << 29);
  if (!osxsave || !avx || max_leaf < 7) return f;
  const uint64_t xcr0 = xgetbv0();
  const bool ymm_os = (xcr0 & 0x6) == 0x6;    // SSE + AVX state
  const bool zmm_os = (xcr0 & 0xE6) == 0xE6;  // + opmask, ZMM_Hi256, Hi16_ZMM
  unsigned l7[4];
  cpuid(7, 0, l7);
  const bool avx2 = l7[1] & (1u << 5);
  const bool avx512f = l7[1] & (1u << 16), avx512dq = l7[1] & (1u << 17), avx512bw = l7[1] & (1u << 30),
             avx512vl = l7[1] & (1u << 31);
  const bool vnni = l7[2] & (1u << 11), vbmi = l7[2] & (1u << 1), bitalg = l7[2] & (1u << 12);
  unsigned l71[4] = {};
  if (l7[0] >= 1) cpuid(7, 1, l71);
  const bool bf16 = l71[0] & (1u << 5);
  f.avx2 = ymm_os && avx2 && fma && f16c;
  f.avx512 = f.avx2 && zmm_os && avx512f && avx512dq && avx512bw && avx512vl;
  f.avx512vnni = f.avx512 && vnni;
  f.avx512bf16 = f.avx512 && bf16;
  f.avx512vbmi = f.avx512vnni && vbmi && bitalg;
  const bool amx_tile = l7[3] & (1u << 24), amx_int8 = l7[3] & (1u << 25);
  const bool tile_os = (xcr0 & 0x60000) == 0x60000;  // XTILECFG + XTILEDATA
  f.amx_int8 = f.avx512vnni && amx_tile && amx_int8 && tile_os;
#endif
  return f;
}

Isa best_isa() {
  const CpuFeatures& f = cpu_features();
  Isa best = f.avx512vnni ? Isa::kAvx512 : f.avx2 ? Isa::kAvx2 : Isa::kScalar;
  if (const char* env = std::getenv("NEXTLM_CPU_ISA")) {
    Isa want = best;
    if (std::strcmp(env, "scalar") == 0) want = Isa::kScalar;
    else if (std::strcmp(env, "avx2") == 0) want = Isa::kAvx2;
    else if (std::strcmp(env, "avx512") == 0) want = Isa::kAvx512;
    if (static_cast<int>(want) < static_cast<int>(best)) best = want;
  }
  return best;
}

}  // namespace

const CpuFeatures& cpu_features() {
  static const CpuFeatures f = detect();
  return f;
}

bool amx_granted() {
  static const bool granted = [] {
    if (!cpu_features().amx_int8) return false;
    if (const char* env = std::getenv("NEXTLM_AMX"); env && std::strcmp(env, "0") == 0) return false;
#if NLM_X86 && defined(__linux__)
    constexpr long kReqXcompPerm = 0x1023, kGetXcompPerm = 0x1022, kXfeatureTileData = 18;
    if (syscall(SYS_arch_prctl, kReqXcompPerm, kXfeatureTileData) != 0) return false;
    unsigned long long perm = 0;
    if (syscall(SYS_arch_prctl, kGetXcompPerm, &perm) != 0) return false;
    return (perm & (1ull << kXfeatureTileData)) != 0;
#else
    return false;
#endif
  }();
  return granted;
}

bool isa_supported(Isa isa) {
  const CpuFeatures& f = cpu_features();
  switch (isa) {
    case Isa::kScalar: return true;
    case Isa::kAvx2: return f.avx2;
    case Isa::kAvx512: return f.avx512vnni;
  }
  return false;
}

Isa active_isa() {
  static const Isa isa = best_isa();
  return isa;
}

std::string_view isa_name(Isa isa) {
  switch (isa) {
    case Isa::kScalar: return "scalar";
    case Isa::kAvx2: return "avx2";
    case Isa::kAvx512: return "avx512";
  }
  return "?";
}

}  // namespace nextlm::quant
