// The shared kernel bodies compiled for one instruction set (see CMakeLists.txt for the flags).
#define CWM_ISA_SCALAR
#include "simd.h"
#include "kernels_impl.h"

namespace cwm_scalar {
const cwm::KernelTable& table() {
    static const cwm::KernelTable t{"scalar", attention_entry, int8_entry, int4_entry, float_entry, nullptr, nullptr, silu_mul_entry};
    return t;
}
}  // namespace cwm_scalar
