// Decode matmuls on AVX-512 VNNI (vpdpbusd: u8 x s8 -> s32). x is quantized to int8 per row with
// a symmetric max-abs scale, so results carry that rounding error (about 0.5% of the max-abs
// term per element, typically ~0.1-0.3% relative on the output); the integer dot products are exact.
#define CWM_ISA_AVX512
#include <omp.h>

#include <cstdlib>

#include "kernels.h"
#include "simd.h"

namespace {

// Quantizes x[0..K) to int8 with scale amax / 127; returns the scale (0 when x is all zero).
float quantize_row(const float* x, int64_t K, int8_t* q) {
    float amax = 0.0f;
    for (int64_t k = 0; k < K; ++k) amax = __builtin_fmaxf(amax, __builtin_fabsf(x[k]));
    if (amax == 0.0f) {
        for (int64_t k = 0; k < K; ++k) q[k] = 0;
        return 0.0f;
    }
    const float inv = 127.0f / amax;
    for (int64_t k = 0; k < K; ++k) q[k] = static_cast<int8_t>(__builtin_lrintf(x[k] * inv));
    return amax / 127.0f;
}

inline __mmask64 tail_mask(int64_t n) { return n >= 64 ? ~__mmask64(0) : ((__mmask64(1) << n) - 1); }

struct Bytes {
    uint8_t* p;
    explicit Bytes(int64_t n) : p(static_cast<uint8_t*>(std::aligned_alloc(64, (n + 127) / 64 * 64))) {}
    ~Bytes() { std::free(p); }
    Bytes(const Bytes&) = delete;
    Bytes& operator=(const Bytes&) = delete;
};

}  // namespace

namespace cwm_avx512_vnni {

bool int8_gemv(const cwm::Int8Args& a) {
    if (a.M != 1) return false;
    const int64_t N = a.N, K = a.K;
    Bytes xq(K);
    const float sx = quantize_row(a.x, K, reinterpret_cast<int8_t*>(xq.p));
    // vpdpbusd wants unsigned activations: use xq + 128 and subtract 128 * sum(w) afterwards.
    for (int64_t k = 0; k < K; ++k) xq.p[k] = static_cast<uint8_t>(static_cast<int8_t>(xq.p[k]) + 128);
    const __m512i ones = _mm512_set1_epi8(1);
#pragma omp parallel for schedule(static) if (double(N) * K >= (1 << 21))
    for (int64_t n = 0; n < N; ++n) {
        const int8_t* wr = a.w + n * K;
        __m512i acc = _mm512_setzero_si512(), wsum = _mm512_setzero_si512();
        for (int64_t k = 0; k < K; k += 64) {
            const __mmask64 m = tail_mask(K - k);
            __m512i w = _mm512_maskz_loadu_epi8(m, wr + k);
            __m512i x = _mm512_maskz_loadu_epi8(m, xq.p + k);
            acc = _mm512_dpbusd_epi32(acc, x, w);
            wsum = _mm512_dpbusd_epi32(wsum, ones, w);
        }
        const int64_t dot = static_cast<int64_t>(_mm512_reduce_add_epi32(acc)) -
                            128 * static_cast<int64_t>(_mm512_reduce_add_epi32(wsum));
        a.out[n] = static_cast<float>(dot) * sx * a.scales[n];
    }
    return true;
}

bool int4_gemv(const cwm::Int4Args& a) {
    if (a.M != 1 || a.G % 2 != 0) return false;
    const int64_t N = a.N, K = a.K, K2 = K / 2, G2 = a.G / 2, ng = K / a.G;
    Bytes xq(K), even(K2), odd(K2);
    const float sx = quantize_row(a.x, K, reinterpret_cast<int8_t*>(xq.p));
    const int8_t* q = reinterpret_cast<const int8_t*>(xq.p);
    for (int64_t i = 0; i < K2; ++i) {
        even.p[i] = xq.p[2 * i];
        odd.p[i] = xq.p[2 * i + 1];
    }
    int32_t* gsum = static_cast<int32_t*>(std::aligned_alloc(64, (ng * 4 + 63) / 64 * 64));
    for (int64_t g = 0; g < ng; ++g) {
        int32_t s = 0;
        for (int64_t k = g * a.G; k < (g + 1) * a.G; ++k) s += q[k];
        gsum[g] = s;
    }
    const __m512i low4 = _mm512_set1_epi8(15);
#pragma omp parallel for schedule(static) if (double(N) * K >= (1 << 21))
    for (int64_t n = 0; n < N; ++n) {
        const uint8_t* wr = a.w + n * K2;
        __m512 tot = _mm512_setzero_ps();
        float bias = 0.0f;
        for (int64_t g = 0; g < ng; ++g) {
            __m512i acc = _mm512_setzero_si512();
            const int64_t b0 = g * G2;
            for (int64_t b = 0; b < G2; b += 64) {
                const __mmask64 m = tail_mask(G2 - b);
                __m512i w = _mm512_maskz_loadu_epi8(m, wr + b0 + b);
                __m512i lo = _mm512_and_si512(w, low4);
                __m512i hi = _mm512_and_si512(_mm512_srli_epi16(w, 4), low4);
                acc = _mm512_dpbusd_epi32(acc, lo, _mm512_maskz_loadu_epi8(m, even.p + b0 + b));
                acc = _mm512_dpbusd_epi32(acc, hi, _mm512_maskz_loadu_epi8(m, odd.p + b0 + b));
            }
            const float s = a.scales[n * ng + g];
            tot = _mm512_fmadd_ps(_mm512_cvtepi32_ps(acc), _mm512_set1_ps(s), tot);
            bias += s * static_cast<float>(a.zeros[n * ng + g]) * static_cast<float>(gsum[g]);
        }
        a.out[n] = (_mm512_reduce_add_ps(tot) - bias) * sx;
    }
    std::free(gsum);
    return true;
}

}  // namespace cwm_avx512_vnni
