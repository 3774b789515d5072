// The shared kernel bodies compiled for one instruction set (see CMakeLists.txt for the flags).
#define CWM_ISA_AVX512
#include "simd.h"
#include "kernels_impl.h"

namespace cwm_avx512 {
const cwm::KernelTable& table() {
    static const cwm::KernelTable t{"avx512", attention_entry, int8_entry, int4_entry, float_entry};
    return t;
}
}  // namespace cwm_avx512
