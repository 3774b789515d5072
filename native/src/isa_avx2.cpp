// The shared kernel bodies compiled for one instruction set (see CMakeLists.txt for the flags).
#define CWM_ISA_AVX2
#include "simd.h"
#include "kernels_impl.h"
#include "qdot_impl.h"

namespace cwm_avx2 {
const cwm::KernelTable& table() {
    static const cwm::KernelTable t{"avx2", attention_entry, int8_entry, int4_entry, float_entry,
                                         q8::int8_linear, q8::int4_linear, silu_mul_entry};
    return t;
}
}  // namespace cwm_avx2
