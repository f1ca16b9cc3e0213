// Which instruction set the SHAP walks run with. On x86-64 (GCC, Clang) every walk is compiled
// twice: for the baseline instruction set the build targets (a distributed wheel: SSE2) and, as
// a clone, for AVX2. Each call picks one, once, by what the CPU has. The clone does the portable
// walk's arithmetic operation for operation (no FMA: a fused multiply-add rounds once where the
// portable code rounds twice), so both give the same bits; only the vector width differs.
#pragma once

#include <atomic>

namespace xplain {

/// Instruction sets of the walks, narrowest first.
enum class SimdLevel : int { portable = 0, avx2 = 1 };

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define XPLAIN_AVX2_CLONES 1
/// Marks a function to be compiled for AVX2 with everything it calls inlined into it (so the
/// inlined walk, visitor and split test are all AVX2 code).
#define XPLAIN_AVX2_CLONE __attribute__((target("avx2"), flatten))
#endif

namespace detail {
inline std::atomic<int> simd_limit{static_cast<int>(SimdLevel::avx2)};
}

/// Caps the instruction set later calls may use (SimdLevel::portable: the baseline build only,
/// e.g. to compare both or to rule the clone out). Thread-safe; calls already running keep theirs.
inline void set_simd_limit(SimdLevel level) { detail::simd_limit.store(static_cast<int>(level)); }

/// The instruction set a call starting now uses: the widest this build carries, this CPU runs and
/// the limit allows.
inline SimdLevel simd_level() {
#ifdef XPLAIN_AVX2_CLONES
  if (detail::simd_limit.load() >= static_cast<int>(SimdLevel::avx2) && __builtin_cpu_supports("avx2"))
    return SimdLevel::avx2;
#endif
  return SimdLevel::portable;
}

}  // namespace xplain
