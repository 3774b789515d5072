// Kernel dispatch for the current path (module.cpp): shared by the per-operation bindings and the
// whole-step decoder (decoder.cpp). Arguments are already validated; call without the GIL.
#pragma once

#include "kernels.h"

namespace cwm {

void run_attention(const AttentionArgs& a);
void run_int8(const Int8Args& a);
void run_int4(const Int4Args& a);
void run_float(const FloatArgs& a);
void run_silu_mul(float* gate, const float* up, int64_t n);
// avx512-bf16 attention: round the query to bf16 (see AttentionArgs::round_query).
bool round_query();

}  // namespace cwm
