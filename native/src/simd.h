// Per-ISA vector traits. Each ISA translation unit defines exactly one of CWM_ISA_SCALAR,
// CWM_ISA_AVX2 or CWM_ISA_AVX512 before including this header, and is compiled with the
// matching -m flags. Everything here has internal linkage (anonymous namespace) so no
// ISA-specific code can leak into another TU through the linker's ODR merging.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>

#if defined(CWM_ISA_AVX2) || defined(CWM_ISA_AVX512)
#include <immintrin.h>
#endif

namespace {

inline float bf16_to_float(uint16_t h) {
    uint32_t bits = static_cast<uint32_t>(h) << 16;
    float f;
    std::memcpy(&f, &bits, sizeof f);
    return f;
}

#if defined(CWM_ISA_SCALAR)

struct Vec {
    using reg = float;
    static constexpr int W = 1;
    static reg zero() { return 0.0f; }
    static reg set1(float x) { return x; }
    static reg load(const float* p) { return *p; }
    static void store(float* p, reg v) { *p = v; }
    static reg load_bf16(const uint16_t* p) { return bf16_to_float(*p); }
    // 2 W bf16 values -> the even-indexed and the odd-indexed ones, W each.
    static void load_bf16_pairs(const uint16_t* p, reg* even, reg* odd) {
        *even = bf16_to_float(p[0]);
        *odd = bf16_to_float(p[1]);
    }
    static reg load_i8(const int8_t* p) { return static_cast<float>(*p); }
    static reg fma(reg a, reg b, reg c) { return a * b + c; }
    static reg add(reg a, reg b) { return a + b; }
    static reg sub(reg a, reg b) { return a - b; }
    static reg mul(reg a, reg b) { return a * b; }
    static reg div(reg a, reg b) { return a / b; }
    static reg max(reg a, reg b) { return a > b ? a : b; }
    static float reduce_add(reg v) { return v; }
    static float reduce_max(reg v) { return v; }
    static reg exp2(reg x) { return __builtin_exp2f(x); }
    // Lane j of the result = horizontal sum of acc[j], for j < W.
    static reg transpose_sum(const reg* acc) { return acc[0]; }
    // 16 nibbles (8 bytes) -> low nibbles (even k) and high nibbles (odd k), W values each.
    static void load_u4(const uint8_t* p, reg* lo, reg* hi) {
        *lo = static_cast<float>(p[0] & 15);
        *hi = static_cast<float>(p[0] >> 4);
    }
};

#else

// 2^x by range reduction x = n + f (|f| <= 1/2) and a degree-6 Taylor polynomial of e^(f ln 2);
// relative error about 2e-7. Inputs below -127 give 0 (masked scores are -inf).
constexpr float kExpC1 = 0.6931471805599453f;
constexpr float kExpC2 = 0.2402265069591007f;
constexpr float kExpC3 = 0.05550410866482158f;
constexpr float kExpC4 = 0.009618129107628477f;
constexpr float kExpC5 = 0.0013333558146428443f;
constexpr float kExpC6 = 0.00015403530393381606f;

#if defined(CWM_ISA_AVX512)

struct Vec512 {
    using reg = __m512;
    static constexpr int W = 16;
    static reg zero() { return _mm512_setzero_ps(); }
    static reg set1(float x) { return _mm512_set1_ps(x); }
    static reg load(const float* p) { return _mm512_loadu_ps(p); }
    static void store(float* p, reg v) { _mm512_storeu_ps(p, v); }
    static reg load_bf16(const uint16_t* p) {
        __m256i h = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
        return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
    }
    // 2 W bf16 values -> the even-indexed and the odd-indexed ones: no shuffle, one load.
    static void load_bf16_pairs(const uint16_t* p, reg* even, reg* odd) {
        const __m512i u = _mm512_loadu_si512(p);
        *even = _mm512_castsi512_ps(_mm512_slli_epi32(u, 16));
        *odd = _mm512_castsi512_ps(_mm512_and_si512(u, _mm512_set1_epi32(static_cast<int>(0xFFFF0000u))));
    }
    static reg load_i8(const int8_t* p) {
        __m128i b = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
        return _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(b));
    }
    static reg fma(reg a, reg b, reg c) { return _mm512_fmadd_ps(a, b, c); }
    static reg add(reg a, reg b) { return _mm512_add_ps(a, b); }
    static reg sub(reg a, reg b) { return _mm512_sub_ps(a, b); }
    static reg mul(reg a, reg b) { return _mm512_mul_ps(a, b); }
    static reg div(reg a, reg b) { return _mm512_div_ps(a, b); }
    static reg max(reg a, reg b) { return _mm512_max_ps(a, b); }
    static float reduce_add(reg v) { return _mm512_reduce_add_ps(v); }
    static float reduce_max(reg v) { return _mm512_reduce_max_ps(v); }
    static reg exp2(reg x) {
        x = _mm512_max_ps(x, _mm512_set1_ps(-150.0f));
        x = _mm512_min_ps(x, _mm512_set1_ps(127.0f));
        reg n = _mm512_roundscale_ps(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
        reg f = _mm512_sub_ps(x, n);
        reg p = _mm512_set1_ps(kExpC6);
        p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(kExpC5));
        p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(kExpC4));
        p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(kExpC3));
        p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(kExpC2));
        p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(kExpC1));
        p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(1.0f));
        return _mm512_scalef_ps(p, n);
    }
    static reg transpose_sum(const reg* a) {
        // 16 -> 8: each b holds two keys' partial sums, interleaved.
        __m512 b[8];
        for (int i = 0; i < 8; ++i)
            b[i] = _mm512_add_ps(_mm512_unpacklo_ps(a[2 * i], a[2 * i + 1]), _mm512_unpackhi_ps(a[2 * i], a[2 * i + 1]));
        // 8 -> 4: each 128-bit lane of c[i] holds keys 4i..4i+3 summed over that lane.
        __m512 c[4];
        for (int i = 0; i < 4; ++i) {
            __m512d x = _mm512_castps_pd(b[2 * i]), y = _mm512_castps_pd(b[2 * i + 1]);
            c[i] = _mm512_add_ps(_mm512_castpd_ps(_mm512_unpacklo_pd(x, y)), _mm512_castpd_ps(_mm512_unpackhi_pd(x, y)));
        }
        // Fold the four 128-bit lanes.
        __m512 d0 = _mm512_add_ps(_mm512_shuffle_f32x4(c[0], c[1], 0x88), _mm512_shuffle_f32x4(c[0], c[1], 0xDD));
        __m512 d1 = _mm512_add_ps(_mm512_shuffle_f32x4(c[2], c[3], 0x88), _mm512_shuffle_f32x4(c[2], c[3], 0xDD));
        return _mm512_add_ps(_mm512_shuffle_f32x4(d0, d1, 0x88), _mm512_shuffle_f32x4(d0, d1, 0xDD));
    }
    static void load_u4(const uint8_t* p, reg* lo, reg* hi) {
        __m128i b = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
        __m512i w = _mm512_cvtepu8_epi32(b);
        *lo = _mm512_cvtepi32_ps(_mm512_and_si512(w, _mm512_set1_epi32(15)));
        *hi = _mm512_cvtepi32_ps(_mm512_srli_epi32(w, 4));
    }
};

#endif

// AVX2 + FMA.
struct Vec256 {
    using reg = __m256;
    static constexpr int W = 8;
    static reg zero() { return _mm256_setzero_ps(); }
    static reg set1(float x) { return _mm256_set1_ps(x); }
    static reg load(const float* p) { return _mm256_loadu_ps(p); }
    static void store(float* p, reg v) { _mm256_storeu_ps(p, v); }
    static reg load_bf16(const uint16_t* p) {
        __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
        return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
    }
    static void load_bf16_pairs(const uint16_t* p, reg* even, reg* odd) {
        const __m256i u = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
        *even = _mm256_castsi256_ps(_mm256_slli_epi32(u, 16));
        *odd = _mm256_castsi256_ps(_mm256_and_si256(u, _mm256_set1_epi32(static_cast<int>(0xFFFF0000u))));
    }
    static reg load_i8(const int8_t* p) {
        __m128i b = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(p));
        return _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(b));
    }
    static reg fma(reg a, reg b, reg c) { return _mm256_fmadd_ps(a, b, c); }
    static reg add(reg a, reg b) { return _mm256_add_ps(a, b); }
    static reg sub(reg a, reg b) { return _mm256_sub_ps(a, b); }
    static reg mul(reg a, reg b) { return _mm256_mul_ps(a, b); }
    static reg div(reg a, reg b) { return _mm256_div_ps(a, b); }
    static reg max(reg a, reg b) { return _mm256_max_ps(a, b); }
    static float reduce_add(reg v) {
        __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
        s = _mm_add_ps(s, _mm_movehl_ps(s, s));
        s = _mm_add_ss(s, _mm_movehdup_ps(s));
        return _mm_cvtss_f32(s);
    }
    static float reduce_max(reg v) {
        __m128 s = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
        s = _mm_max_ps(s, _mm_movehl_ps(s, s));
        s = _mm_max_ss(s, _mm_movehdup_ps(s));
        return _mm_cvtss_f32(s);
    }
    static reg exp2(reg x) {
        x = _mm256_max_ps(x, _mm256_set1_ps(-127.0f));
        x = _mm256_min_ps(x, _mm256_set1_ps(127.0f));
        reg n = _mm256_round_ps(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
        reg f = _mm256_sub_ps(x, n);
        reg p = _mm256_set1_ps(kExpC6);
        p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(kExpC5));
        p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(kExpC4));
        p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(kExpC3));
        p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(kExpC2));
        p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(kExpC1));
        p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(1.0f));
        // 2^n built in the exponent field; n = -127 gives exponent 0 and mantissa 0, i.e. 0.0.
        __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
        return _mm256_mul_ps(p, _mm256_castsi256_ps(e));
    }
    static reg transpose_sum(const reg* a) {
        __m256 b[4];
        for (int i = 0; i < 4; ++i)
            b[i] = _mm256_add_ps(_mm256_unpacklo_ps(a[2 * i], a[2 * i + 1]), _mm256_unpackhi_ps(a[2 * i], a[2 * i + 1]));
        __m256 c[2];
        for (int i = 0; i < 2; ++i) {
            __m256d x = _mm256_castps_pd(b[2 * i]), y = _mm256_castps_pd(b[2 * i + 1]);
            c[i] = _mm256_add_ps(_mm256_castpd_ps(_mm256_unpacklo_pd(x, y)), _mm256_castpd_ps(_mm256_unpackhi_pd(x, y)));
        }
        return _mm256_add_ps(_mm256_permute2f128_ps(c[0], c[1], 0x20), _mm256_permute2f128_ps(c[0], c[1], 0x31));
    }
    static void load_u4(const uint8_t* p, reg* lo, reg* hi) {
        __m128i b = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(p));
        __m256i w = _mm256_cvtepu8_epi32(b);
        *lo = _mm256_cvtepi32_ps(_mm256_and_si256(w, _mm256_set1_epi32(15)));
        *hi = _mm256_cvtepi32_ps(_mm256_srli_epi32(w, 4));
    }
};

#if defined(CWM_ISA_AVX512)
using Vec = Vec512;
#else
using Vec = Vec256;
#endif
#endif

}  // namespace
