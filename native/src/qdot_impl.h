// Quantized-activation matmuls, llama.cpp's Q8_0 scheme: each row of x is quantized to int8 in
// blocks of 32 (scale = max|x| / 127), weight x activation products are exact integer dot
// products, and each block's sum is scaled once. Against the float32-activation kernels this
// reads the same weight bytes with a fraction of the instructions, so decode runs at the memory
// bandwidth limit; the cost is the rounding of x (about 0.4% of a block's largest value per
// element). Compiled per ISA: AVX2 and AVX-512BW (vpmaddubsw + vpmaddwd) and AVX-512 VNNI
// (vpdpbusd). Include after simd.h (CWM_ISA_AVX2 or CWM_ISA_AVX512).
#pragma once

#include <immintrin.h>
#include <omp.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <type_traits>

#include "kernels.h"

namespace {
namespace q8 {

#if defined(CWM_ISA_AVX512)
using ivec = __m512i;
using fvec = __m512;
constexpr int kBytes = 64;
inline ivec loadi(const void* p) { return _mm512_loadu_si512(p); }
inline ivec bytes(char c) { return _mm512_set1_epi8(c); }
inline ivec and_bits(ivec a, ivec b) { return _mm512_and_si512(a, b); }
inline ivec high_nibbles(ivec w) { return _mm512_and_si512(_mm512_srli_epi16(w, 4), bytes(15)); }
inline ivec zero_i() { return _mm512_setzero_si512(); }
inline fvec zero_f() { return _mm512_setzero_ps(); }
inline fvec to_float(ivec a) { return _mm512_cvtepi32_ps(a); }
inline fvec fma(fvec a, fvec b, fvec c) { return _mm512_fmadd_ps(a, b, c); }
inline fvec fmsub(fvec a, fvec b, fvec c) { return _mm512_fmsub_ps(a, b, c); }
inline fvec mul(fvec a, fvec b) { return _mm512_mul_ps(a, b); }
inline fvec sub(fvec a, fvec b) { return _mm512_sub_ps(a, b); }
inline fvec loadf(const float* p) { return _mm512_load_ps(p); }
inline void storef(float* p, fvec v) { _mm512_store_ps(p, v); }
inline float sum(fvec v) { return _mm512_reduce_add_ps(v); }
inline fvec load_first(const float* p, int n) { return _mm512_maskz_loadu_ps(static_cast<__mmask16>((1u << n) - 1), p); }
inline fvec load_first(const uint16_t* p, int n) {  // float16
    return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(static_cast<__mmask16>((1u << n) - 1), p));
}
inline fvec spread(fvec v, ivec idx) { return _mm512_permutexvar_ps(idx, v); }
inline ivec lane_index(const int32_t* idx) { return _mm512_loadu_si512(idx); }
// |w| as unsigned bytes (-128 -> 128) and x with the sign of w: |w| * sign(w) x = w x, and
// x (in -127..127) can always be negated.
inline ivec magnitude(ivec w) { return _mm512_abs_epi8(w); }
inline ivec signed_like(ivec x, ivec w) {
    return _mm512_mask_sub_epi8(x, _mm512_movepi8_mask(w), _mm512_setzero_si512(), x);
}
#if defined(__AVX512VNNI__)
inline ivec dot(ivec acc, ivec u, ivec s) { return _mm512_dpbusd_epi32(acc, u, s); }
inline ivec dot2(ivec u1, ivec s1, ivec u2, ivec s2) {
    return _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(_mm512_setzero_si512(), u1, s1), u2, s2);
}
#else
inline ivec dot(ivec acc, ivec u, ivec s) {
    return _mm512_add_epi32(acc, _mm512_madd_epi16(_mm512_maddubs_epi16(u, s), _mm512_set1_epi16(1)));
}
// Nibble weights (<= 15) keep every int16 pair sum of both products in range.
inline ivec dot2(ivec u1, ivec s1, ivec u2, ivec s2) {
    const ivec pairs = _mm512_add_epi16(_mm512_maddubs_epi16(u1, s1), _mm512_maddubs_epi16(u2, s2));
    return _mm512_madd_epi16(pairs, _mm512_set1_epi16(1));
}
#endif
// Zero-point term over 16 groups: sum_g scale[g] * zero[g] * xz[g].
constexpr int kGroupLanes = 16;
inline fvec zero_terms(const float* s, const uint8_t* z, const float* xz, fvec acc) {
    const fvec zf = _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(z))));
    return _mm512_fmadd_ps(_mm512_mul_ps(_mm512_loadu_ps(s), zf), _mm512_loadu_ps(xz), acc);
}
// The same for the first n < 16 groups.
inline fvec zero_terms_tail(const float* s, const uint8_t* z, const float* xz, int n, fvec acc) {
    const __mmask16 m = static_cast<__mmask16>((1u << n) - 1);
    const fvec zf = _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm_maskz_loadu_epi8(m, z)));
    return _mm512_fmadd_ps(_mm512_mul_ps(_mm512_maskz_loadu_ps(m, s), zf), _mm512_maskz_loadu_ps(m, xz), acc);
}
#else
using ivec = __m256i;
using fvec = __m256;
constexpr int kBytes = 32;
inline ivec loadi(const void* p) { return _mm256_loadu_si256(static_cast<const __m256i*>(p)); }
inline ivec bytes(char c) { return _mm256_set1_epi8(c); }
inline ivec and_bits(ivec a, ivec b) { return _mm256_and_si256(a, b); }
inline ivec high_nibbles(ivec w) { return _mm256_and_si256(_mm256_srli_epi16(w, 4), bytes(15)); }
inline ivec zero_i() { return _mm256_setzero_si256(); }
inline fvec zero_f() { return _mm256_setzero_ps(); }
inline fvec to_float(ivec a) { return _mm256_cvtepi32_ps(a); }
inline fvec fma(fvec a, fvec b, fvec c) { return _mm256_fmadd_ps(a, b, c); }
inline fvec fmsub(fvec a, fvec b, fvec c) { return _mm256_fmsub_ps(a, b, c); }
inline fvec mul(fvec a, fvec b) { return _mm256_mul_ps(a, b); }
inline fvec sub(fvec a, fvec b) { return _mm256_sub_ps(a, b); }
inline fvec loadf(const float* p) { return _mm256_load_ps(p); }
inline void storef(float* p, fvec v) { _mm256_store_ps(p, v); }
inline float sum(fvec v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}
inline fvec load_first(const float* p, int n) {
    const __m256i lanes = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    return _mm256_maskload_ps(p, _mm256_cmpgt_epi32(_mm256_set1_epi32(n), lanes));
}
inline fvec load_first(const uint16_t* p, int n) {  // float16; n <= 4 here
    alignas(16) uint16_t h[8] = {};
    for (int i = 0; i < n; ++i) h[i] = p[i];
    return _mm256_cvtph_ps(_mm_load_si128(reinterpret_cast<const __m128i*>(h)));
}
inline fvec spread(fvec v, ivec idx) { return _mm256_permutevar8x32_ps(v, idx); }
inline ivec lane_index(const int32_t* idx) { return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(idx)); }
inline ivec magnitude(ivec w) { return _mm256_abs_epi8(w); }
inline ivec signed_like(ivec x, ivec w) { return _mm256_sign_epi8(x, w); }
inline ivec dot(ivec acc, ivec u, ivec s) {
    return _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1)));
}
inline ivec dot2(ivec u1, ivec s1, ivec u2, ivec s2) {
    const ivec pairs = _mm256_add_epi16(_mm256_maddubs_epi16(u1, s1), _mm256_maddubs_epi16(u2, s2));
    return _mm256_madd_epi16(pairs, _mm256_set1_epi16(1));
}
constexpr int kGroupLanes = 8;
inline fvec zero_terms(const float* s, const uint8_t* z, const float* xz, fvec acc) {
    const fvec zf = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(z))));
    return _mm256_fmadd_ps(_mm256_mul_ps(_mm256_loadu_ps(s), zf), _mm256_loadu_ps(xz), acc);
}
inline fvec zero_terms_tail(const float* s, const uint8_t* z, const float* xz, int n, fvec acc) {
    alignas(16) uint8_t zb[16] = {};
    alignas(32) float sb[8] = {}, xb[8] = {};
    for (int i = 0; i < n; ++i) {
        zb[i] = z[i];
        sb[i] = s[i];
        xb[i] = xz[i];
    }
    return zero_terms(sb, zb, xb, acc);
}
#endif

constexpr int kLanes = kBytes / 4;  // int32 lanes of a dot product, 4 products each
constexpr int64_t kBlock = 32;       // activation quantization block (as Q8_0)
// Weight rows per task (reused from L1 by every block of x rows); one transpose sums them all.
constexpr int64_t kRowTile = kLanes;

struct Buffer {
    void* p;
    explicit Buffer(int64_t bytes) : p(std::aligned_alloc(64, static_cast<size_t>((bytes + 63) / 64 * 64 + 64))) {}
    ~Buffer() { std::free(p); }
    Buffer(const Buffer&) = delete;
    Buffer& operator=(const Buffer&) = delete;
    template <class T>
    T* as() const { return static_cast<T*>(p); }
};

// Quantizes the 32 values at x into q; returns the block's scale (0 for an all-zero block).
inline float quantize_block(const float* x, int8_t* q, int32_t* qsum) {
    float amax = 0.0f;
    for (int i = 0; i < kBlock; ++i) {
        const float v = __builtin_fabsf(x[i]);
        amax = v > amax ? v : amax;
    }
    int32_t s = 0;
    if (amax == 0.0f) {
        for (int i = 0; i < kBlock; ++i) q[i] = 0;
    } else {
        const float inv = 127.0f / amax;
        for (int i = 0; i < kBlock; ++i) {
            q[i] = static_cast<int8_t>(__builtin_lrintf(x[i] * inv));
            s += q[i];
        }
    }
    *qsum = s;
    return amax / 127.0f;
}

// Sums each of the `rows` partial vectors of part[i] (one transpose for the whole tile) and
// hands (i, row, total) to emit.
template <int MM, class Emit>
inline void finish_tile(fvec (&part)[MM][kLanes], int64_t rows, Emit emit) {
    for (int i = 0; i < MM; ++i) {
        for (int64_t r = rows; r < kLanes; ++r) part[i][r] = zero_f();
        alignas(64) float totals[kLanes];
        storef(totals, Vec::transpose_sum(part[i]));
        for (int64_t r = 0; r < rows; ++r) emit(i, r, totals[r]);
    }
}

inline bool worth_threads(double macs) { return macs >= double(1 << 19); }

// Runs rows<MM>(m0, n0, n1) over tiles of kRowTile weight rows (one task each) and blocks of up
// to 4 rows of x.
template <class Rows>
void run_tiles(int64_t M, int64_t N, int64_t K, Rows rows) {
    const int64_t tiles = (N + kRowTile - 1) / kRowTile;
#pragma omp parallel for schedule(static) if (worth_threads(double(M) * N * K))
    for (int64_t t = 0; t < tiles; ++t) {
        const int64_t n0 = t * kRowTile, n1 = n0 + kRowTile < N ? n0 + kRowTile : N;
        int64_t m = 0;
        for (; m + 4 <= M; m += 4) rows(std::integral_constant<int, 4>{}, m, n0, n1);
        switch (M - m) {
            case 3: rows(std::integral_constant<int, 3>{}, m, n0, n1); break;
            case 2: rows(std::integral_constant<int, 2>{}, m, n0, n1); break;
            case 1: rows(std::integral_constant<int, 1>{}, m, n0, n1); break;
            default: break;
        }
    }
}

// Activations are packed per block of x rows (4, the last block fewer) and chunk: for each chunk,
// each row of the block has a record of its quantized values, then per-lane float vectors. One
// pointer walks a block's records in order, so the hot loop keeps everything in registers.
inline int64_t block_offset(int64_t m0, int64_t chunks, int64_t record) { return m0 * chunks * record; }
// Where row m's record for chunk c goes: its block (rows m0..m0+3, the last block fewer), then
// chunk-major within the block.
inline int64_t record_offset(int64_t m, int64_t c, int64_t M, int64_t chunks, int64_t record) {
    const int64_t m0 = m / 4 * 4, rows = m0 + 4 <= M ? 4 : M - m0;
    return block_offset(m0, chunks, record) + (c * rows + (m - m0)) * record;
}

// ---------------------------------------------------------------------------------------------
// int8 weights, one scale per output row. Chunks of kBytes columns; lane j covers columns
// 4j..4j+3, so block (j * 4) / 32 of the chunk. Products as |w| (unsigned) x sign(w) x: -128
// weights stay exact, and vpmaddubsw's int16 pair sums (<= 2 * 128 * 127) cannot saturate.
// Record: kBytes quantized x, then the lanes' block scales (kLanes floats).
constexpr int64_t kInt8Record = 2 * kBytes;

// Activation records up to this size stay in L1 beside the streaming weights; past it (rows of
// 8192 columns and more) each record is read for several weight rows at once instead of once per
// row (measured: one row at a time fell from ~20 to ~8 GB/s at K >= 8192).
constexpr int64_t kL1Records = 12 * 1024;

// R weight rows (from n) against the MM rows of x of one block.
template <int MM, int R>
inline void int8_block(const int8_t* w, const uint8_t* packed, int64_t K, int64_t chunks, int64_t n, int64_t n0,
                       fvec (&part)[MM][kLanes]) {
    const int8_t* wr = w + n * K;
    const uint8_t* rec = packed;
    fvec acc[R][MM];
    for (int r = 0; r < R; ++r)
        for (int i = 0; i < MM; ++i) acc[r][i] = zero_f();
    for (int64_t c = 0; c < chunks; ++c, wr += kBytes) {
        ivec wv[R], wa[R];
        for (int r = 0; r < R; ++r) {
            wv[r] = loadi(wr + r * K);
            wa[r] = magnitude(wv[r]);
        }
        for (int i = 0; i < MM; ++i, rec += kInt8Record) {
            const ivec xv = loadi(rec);
            const fvec lanes = loadf(reinterpret_cast<const float*>(rec + kBytes));
            for (int r = 0; r < R; ++r) acc[r][i] = fma(to_float(dot(zero_i(), wa[r], signed_like(xv, wv[r]))), lanes, acc[r][i]);
        }
    }
    for (int r = 0; r < R; ++r)
        for (int i = 0; i < MM; ++i) part[i][n + r - n0] = acc[r][i];
}

template <int MM>
void int8_rows(const int8_t* w, const float* scales, float* out, const uint8_t* packed, int64_t N, int64_t K,
               int64_t chunks, int64_t m0, int64_t n0, int64_t n1) {
    fvec part[MM][kLanes];
    int64_t n = n0;
    if (MM > 1 || chunks * kInt8Record > kL1Records)
        for (; n + 4 <= n1; n += 4) int8_block<MM, 4>(w, packed, K, chunks, n, n0, part);
    for (; n < n1; ++n) int8_block<MM, 1>(w, packed, K, chunks, n, n0, part);
    finish_tile(part, n1 - n0, [&](int i, int64_t r, float total) { out[(m0 + i) * N + n0 + r] = total * scales[n0 + r]; });
}

bool int8_linear(const cwm::Int8Args& a) {
    const int64_t M = a.M, N = a.N, K = a.K;
    if (K % kBytes != 0) return false;
    const int64_t chunks = K / kBytes, blocks = K / kBlock;
    Buffer packed_buf(M * chunks * kInt8Record), q(K), sums(blocks * 4), dx(blocks * 4);
    uint8_t* packed = packed_buf.as<uint8_t>();
    int8_t* xq = q.as<int8_t>();
    float* d = dx.as<float>();
    for (int64_t m = 0; m < M; ++m) {
        for (int64_t b = 0; b < blocks; ++b) d[b] = quantize_block(a.x + m * K + b * kBlock, xq + b * kBlock, sums.as<int32_t>() + b);
        for (int64_t c = 0; c < chunks; ++c) {
            uint8_t* rec = packed + record_offset(m, c, M, chunks, kInt8Record);
            std::memcpy(rec, xq + c * kBytes, kBytes);
            float* lanes = reinterpret_cast<float*>(rec + kBytes);
            for (int j = 0; j < kLanes; ++j) lanes[j] = d[(c * kBytes + 4 * j) / kBlock];
        }
    }
    const int8_t* w = a.w;
    const float* scales = a.scales;
    float* out = a.out;
    run_tiles(M, N, K, [=](auto mm, int64_t m0, int64_t n0, int64_t n1) {
        constexpr int MM = decltype(mm)::value;
        int8_rows<MM>(w, scales, out, packed + block_offset(m0, chunks, kInt8Record), N, K, chunks, m0, n0, n1);
    });
    return true;
}

// ---------------------------------------------------------------------------------------------
// int4 weights (low nibble = even column), a scale and a zero point per group of G columns.
// A chunk is kBytes weight bytes = 2 * kBytes columns; x is stored per chunk as its kBytes even
// columns then its kBytes odd ones, so lane j (weight bytes 4j..4j+3) covers columns 8j..8j+7.
// Record: those 2 * kBytes quantized values, the lanes' block scales, and (uniform zero point z
// only) per lane z * scale * (sum of the lane's 8 quantized values), subtracted before the
// weight scale so that no per-row zero-point pass is needed.
constexpr int64_t kInt4Record = 4 * kBytes;

template <typename Scale>
struct Int4Plan {
    const uint8_t* w;
    const Scale* scales;  // float, or float16 bits (uniform zero point only)
    const uint8_t* zeros;
    float* out;
    const uint8_t* packed;
    const float* xz;  // varying zero points: [M, zstride] sums of scale * x over each group
    int64_t N, K, G, ng, zstride, chunks;
    int per_chunk;       // scales (groups) per chunk
    int64_t every, step;  // chunk c reads group c * span / G: advance `step` every `every` chunks
};

// R weight rows (from n) against the MM rows of x of one block: each activation load serves R
// rows, each unpacked weight vector MM rows of x. Writes part[i][n - n0 + r].
template <int MM, int R, bool Fold, typename Scale>
inline void int4_block(const Int4Plan<Scale>& p, const ivec sidx, const uint8_t* packed, int64_t m0, int64_t n, int64_t n0,
                       fvec (&part)[MM][kLanes]) {
    const ivec low4 = bytes(15);
    const int64_t K2 = p.K / 2, ng = p.ng, chunks = p.chunks, every = p.every, step = p.step;
    const int per_chunk = p.per_chunk;
    const uint8_t* wr = p.w + n * K2;
    const Scale* sp = p.scales + n * ng;
    const uint8_t* rec = packed;
    int64_t left = every;
    fvec acc[R][MM];
    for (int r = 0; r < R; ++r)
        for (int i = 0; i < MM; ++i) acc[r][i] = zero_f();
    for (int64_t c = 0; c < chunks; ++c, wr += kBytes) {
        ivec lo[R], hi[R];
        fvec sv[R];
        for (int r = 0; r < R; ++r) {
            const ivec wv = loadi(wr + r * K2);
            lo[r] = and_bits(wv, low4);
            hi[r] = high_nibbles(wv);
            sv[r] = spread(load_first(sp + r * ng, per_chunk), sidx);
        }
        if (--left == 0) {
            sp += step;
            left = every;
        }
        for (int i = 0; i < MM; ++i, rec += kInt4Record) {
            const ivec xe = loadi(rec), xo = loadi(rec + kBytes);
            const fvec lanes = loadf(reinterpret_cast<const float*>(rec + 2 * kBytes));
            if (Fold) {
                const fvec corr = loadf(reinterpret_cast<const float*>(rec + 3 * kBytes));
                for (int r = 0; r < R; ++r)
                    acc[r][i] = fma(fmsub(to_float(dot2(lo[r], xe, hi[r], xo)), lanes, corr), sv[r], acc[r][i]);
            } else {
                for (int r = 0; r < R; ++r)
                    acc[r][i] = fma(to_float(dot2(lo[r], xe, hi[r], xo)), mul(sv[r], lanes), acc[r][i]);
            }
        }
    }
    for (int r = 0; r < R; ++r) {
        if constexpr (Fold || !std::is_same_v<Scale, float>) {  // float16 scales come with Fold
            for (int i = 0; i < MM; ++i) part[i][n + r - n0] = acc[r][i];
        } else {
            const float* sr = p.scales + (n + r) * ng;
            const uint8_t* zr = p.zeros + (n + r) * ng;
            const int64_t gv = ng / kGroupLanes * kGroupLanes;
            for (int i = 0; i < MM; ++i) {
                const float* xzr = p.xz + (m0 + i) * p.zstride;
                fvec zacc = zero_f();
                for (int64_t g = 0; g < gv; g += kGroupLanes) zacc = zero_terms(sr + g, zr + g, xzr + g, zacc);
                if (gv < ng) zacc = zero_terms_tail(sr + gv, zr + gv, xzr + gv, static_cast<int>(ng - gv), zacc);
                part[i][n + r - n0] = sub(acc[r][i], zacc);
            }
        }
    }
}

template <int MM, bool Fold, typename Scale>
void int4_rows(const Int4Plan<Scale>& p, const ivec sidx, int64_t m0, int64_t n0, int64_t n1) {
    const uint8_t* const packed = p.packed + block_offset(m0, p.chunks, kInt4Record);
    fvec part[MM][kLanes];
    // Pairs of weight rows halve the activation loads once several rows of x share them or the
    // records outgrow L1; otherwise (decode, K < ~6k) one weight stream is faster (~25%).
    int64_t n = n0;
    if (MM == 1 && p.chunks * kInt4Record > kL1Records)
        for (; n + 4 <= n1; n += 4) int4_block<MM, 4, Fold>(p, sidx, packed, m0, n, n0, part);
    if (MM > 1)
        for (; n + 2 <= n1; n += 2) int4_block<MM, 2, Fold>(p, sidx, packed, m0, n, n0, part);
    for (; n < n1; ++n) int4_block<MM, 1, Fold>(p, sidx, packed, m0, n, n0, part);
    float* out = p.out;
    const int64_t N = p.N;
    finish_tile(part, n1 - n0, [&](int i, int64_t r, float total) { out[(m0 + i) * N + n0 + r] = total; });
}

bool int4_linear(const cwm::Int4Args& a) {
    const int64_t M = a.M, N = a.N, K = a.K, G = a.G;
    const int64_t span = 2 * kBytes;  // columns per chunk
    if (G % kBlock != 0 || (G > span && G % span != 0) || (G < span && span % G != 0) || K % span != 0) return false;
    const int64_t chunks = K / span, blocks = K / kBlock, ng = K / G;
    const bool fold = a.uniform_zero >= 0;
    if (a.scales_f16 != nullptr && !fold) return false;  // the caller widens them first
    alignas(64) int32_t spread_idx[kLanes];
    for (int j = 0; j < kLanes; ++j) spread_idx[j] = static_cast<int32_t>(8 * j / G);
    const ivec sidx = lane_index(spread_idx);

    const int64_t zstride = ng + kGroupLanes;
    Buffer packed_buf(M * chunks * kInt4Record), xzb(fold ? 4 : M * zstride * 4), blockq(K), sums(blocks * 4), dx(blocks * 4);
    uint8_t* packed = packed_buf.as<uint8_t>();
    float* xz = xzb.as<float>();
    int8_t* tmp = blockq.as<int8_t>();
    int32_t* bsum = sums.as<int32_t>();
    float* d = dx.as<float>();
    for (int64_t m = 0; m < M; ++m) {
        for (int64_t b = 0; b < blocks; ++b) d[b] = quantize_block(a.x + m * K + b * kBlock, tmp + b * kBlock, bsum + b);
        for (int64_t c = 0; c < chunks; ++c) {
            uint8_t* rec = packed + record_offset(m, c, M, chunks, kInt4Record);
            int8_t* even = reinterpret_cast<int8_t*>(rec);
            int8_t* odd = even + kBytes;
            for (int64_t i = 0; i < kBytes; ++i) {
                even[i] = tmp[c * span + 2 * i];
                odd[i] = tmp[c * span + 2 * i + 1];
            }
            float* lanes = reinterpret_cast<float*>(rec + 2 * kBytes);
            float* corr = reinterpret_cast<float*>(rec + 3 * kBytes);
            for (int j = 0; j < kLanes; ++j) {
                const float scale = d[(c * span + 8 * j) / kBlock];
                lanes[j] = scale;
                if (fold) {
                    int32_t lane_sum = 0;  // the lane's 8 columns: 4 even, 4 odd
                    for (int t = 0; t < 4; ++t) lane_sum += even[4 * j + t] + odd[4 * j + t];
                    corr[j] = static_cast<float>(a.uniform_zero * lane_sum) * scale;
                }
            }
        }
        if (!fold) {
            for (int64_t g = 0; g < zstride; ++g) xz[m * zstride + g] = 0.0f;
            for (int64_t b = 0; b < blocks; ++b) xz[m * zstride + b * kBlock / G] += d[b] * static_cast<float>(bsum[b]);
        }
    }
    const int per_chunk = static_cast<int>(G < span ? span / G : 1);
    const int64_t every = G > span ? G / span : 1, step = G > span ? 1 : span / G;
    if (a.scales_f16 != nullptr) {
        const Int4Plan<uint16_t> plan{a.w, a.scales_f16, a.zeros, a.out, packed, xz, N, K, G, ng, zstride, chunks,
                                      per_chunk, every, step};
        run_tiles(M, N, K, [&plan, sidx](auto mm, int64_t m0, int64_t n0, int64_t n1) {
            int4_rows<decltype(mm)::value, true>(plan, sidx, m0, n0, n1);
        });
        return true;
    }
    const Int4Plan<float> plan{a.w, a.scales, a.zeros, a.out, packed, xz, N, K, G, ng, zstride, chunks,
                               per_chunk, every, step};
    run_tiles(M, N, K, [&plan, sidx, fold](auto mm, int64_t m0, int64_t n0, int64_t n1) {
        constexpr int MM = decltype(mm)::value;
        if (fold) int4_rows<MM, true>(plan, sidx, m0, n0, n1);
        else int4_rows<MM, false>(plan, sidx, m0, n0, n1);
    });
    return true;
}

}  // namespace q8
}  // namespace
