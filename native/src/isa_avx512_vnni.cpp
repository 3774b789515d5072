// The quantized-activation matmuls (qdot_impl.h) with AVX-512 VNNI integer dot products.
#define CWM_ISA_AVX512
#include "simd.h"
#include "qdot_impl.h"

namespace cwm_avx512_vnni {
bool int8_linear_q8(const cwm::Int8Args& a) { return q8::int8_linear(a); }
bool int4_linear_q8(const cwm::Int4Args& a) { return q8::int4_linear(a); }
}  // namespace cwm_avx512_vnni
