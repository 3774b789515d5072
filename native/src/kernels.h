// Entry points each ISA translation unit provides (namespaces cwm_scalar, cwm_avx2, cwm_avx512).
// Tensors arrive as raw pointers: shapes, dtypes and contiguity are checked in module.cpp.
#pragma once

#include <cstdint>
#include <cstring>

namespace cwm {

enum class KvType { F32, BF16 };

struct AttentionArgs {
    const float* q;   // [T, H, D]
    const void* k;    // [Hkv, C, D] float32 or bfloat16
    const void* v;    // [Hkv, C, D]
    float* out;       // [T, H, D]
    int64_t T, H, Hkv, C, D;
    int64_t start_pos;
    int64_t window;  // <= 0: global attention
    KvType kv_type;
    // avx512-bf16 path only: round the query to bf16 (true) or split it into bf16 hi + lo parts
    // (false: float32-accurate scores, twice the Q.K^T work).
    bool round_query = true;
};

struct Int8Args {
    const float* x;       // [M, K]
    const int8_t* w;      // [N, K]
    const float* scales;  // [N]
    float* out;           // [M, N]
    int64_t M, N, K;
};

struct Int4Args {
    const float* x;       // [M, K]
    const uint8_t* w;     // [N, K / 2], low nibble = even k
    const float* scales;  // [N, K / G]
    const uint8_t* zeros; // [N, K / G]
    float* out;           // [M, N]
    int64_t M, N, K, G;
    int32_t uniform_zero = -1;  // >= 0: every zero point equals it (Q4_0: 8); kernels may fold it
    // Scales as float16 bits instead of `scales` (GGUF Q4_0 keeps its own): read by the
    // int8-activation kernels with a uniform zero point; run_int4 widens them for the others.
    const uint16_t* scales_f16 = nullptr;
};

// IEEE float16 bits -> float (exact; no F16C needed).
inline float f16_to_f32(uint16_t h) {
    const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
    uint32_t exponent = (h >> 10) & 0x1Fu;
    uint32_t mantissa = h & 0x3FFu;
    uint32_t bits;
    if (exponent == 0x1Fu) {
        bits = sign | 0x7F800000u | (mantissa << 13);  // inf, NaN
    } else if (exponent != 0) {
        bits = sign | ((exponent + 112u) << 23) | (mantissa << 13);
    } else if (mantissa == 0) {
        bits = sign;  // +-0
    } else {  // subnormal: normalise
        exponent = 113u;
        while ((mantissa & 0x400u) == 0) {
            mantissa <<= 1;
            --exponent;
        }
        bits = sign | (exponent << 23) | ((mantissa & 0x3FFu) << 13);
    }
    float out;
    std::memcpy(&out, &bits, sizeof out);
    return out;
}

// The value every zero point has, or -1 when they differ (a scan of [N, K / G] bytes).
inline int32_t uniform_zero(const uint8_t* zeros, int64_t count) {
    if (count <= 0) return -1;
    for (int64_t i = 1; i < count; ++i)
        if (zeros[i] != zeros[0]) return -1;
    return zeros[0];
}

// Float weights (no quantization), float32 or bfloat16 in memory; arithmetic in float32.
struct FloatArgs {
    const float* x;   // [M, K]
    const void* w;    // [N, K] float32 or bfloat16
    bool bf16;
    float* out;       // [M, N]
    int64_t M, N, K;
};

struct KernelTable {
    const char* name;
    // Each returns false when this ISA cannot handle the shape (the caller then uses scalar).
    bool (*attention)(const AttentionArgs&);
    bool (*int8_linear)(const Int8Args&);
    bool (*int4_linear)(const Int4Args&);
    bool (*float_linear)(const FloatArgs&);
    // Activations quantized to int8 in blocks of 32 (qdot_impl.h); nullptr where the ISA has
    // no integer dot products (scalar).
    bool (*int8_linear_q8)(const Int8Args&);
    bool (*int4_linear_q8)(const Int4Args&);
    void (*silu_mul)(float* gate, const float* up, int64_t n);  // gate = silu(gate) * up
};

#define CWM_DECLARE_TABLE(ns) \
    namespace ns {            \
    const cwm::KernelTable& table(); \
    }

}  // namespace cwm

CWM_DECLARE_TABLE(cwm_scalar)
CWM_DECLARE_TABLE(cwm_avx2)
CWM_DECLARE_TABLE(cwm_avx512)

// The quantized-activation matmuls of qdot_impl.h with AVX-512 VNNI dot products (vpdpbusd).
// Return false for shapes they do not handle.
namespace cwm_avx512_vnni {
bool int8_linear_q8(const cwm::Int8Args& a);
bool int4_linear_q8(const cwm::Int4Args& a);
}  // namespace cwm_avx512_vnni

// AVX512_BF16 attention for bf16 K/V (vdpbf16ps); returns false for other dtypes and for a
// head_dim that is not a multiple of 32, which the caller then runs on the avx512 path.
namespace cwm_avx512_bf16 {
bool attention(const cwm::AttentionArgs& a);
}  // namespace cwm_avx512_bf16
