// Kernel bodies, written once against the Vec traits of simd.h and compiled once per ISA.
// Include after simd.h with CWM_NS (the ISA namespace) and CWM_NAME defined.
#pragma once

#include <omp.h>

#include <cstdlib>

#include "kernels.h"
#include "tile_plan.h"

namespace {

using cwm::AttentionArgs;
using cwm::FloatArgs;
using cwm::Int4Args;
using cwm::Int8Args;
using cwm::KvType;
using reg = Vec::reg;
constexpr int W = Vec::W;
constexpr float kLog2e = 1.4426950408889634f;
constexpr float kNegInf = -__builtin_inff();

inline int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }
inline int64_t max64(int64_t a, int64_t b) { return a > b ? a : b; }
inline float maxf(float a, float b) { return a > b ? a : b; }

// Per-thread scratch memory, 64-byte aligned.
struct Scratch {
    float* p = nullptr;
    explicit Scratch(int64_t n) {
        size_t bytes = (static_cast<size_t>(n) * sizeof(float) + 63) / 64 * 64;
        p = static_cast<float*>(std::aligned_alloc(64, bytes > 0 ? bytes : 64));
    }
    ~Scratch() { std::free(p); }
    Scratch(const Scratch&) = delete;
    Scratch& operator=(const Scratch&) = delete;
};

// Parallel regions only pay off above this many multiply-adds (about 50 us of work): below it,
// thread wake-up dominates, and on a busy machine a descheduled helper thread stalls the call.
constexpr double kParallelWork = 1 << 20;
inline bool worth_parallel(double fmas) { return fmas >= kParallelWork; }

inline float to_float(float x) { return x; }
inline float to_float(uint16_t x) { return bf16_to_float(x); }
inline reg load_kv(const float* p) { return Vec::load(p); }
inline reg load_kv(const uint16_t* p) { return Vec::load_bf16(p); }

// Copies one K/V row to float32 (D % W == 0).
template <typename KT>
inline void row_to_f32(const KT* src, float* dst, int64_t D) {
    for (int64_t d = 0; d < D; d += W) Vec::store(dst + d, load_kv(src + d));
}

inline float dot(const float* a, const float* b, int64_t D) {
    reg s0 = Vec::zero(), s1 = Vec::zero();
    int64_t d = 0;
    for (; d + 2 * W <= D; d += 2 * W) {
        s0 = Vec::fma(Vec::load(a + d), Vec::load(b + d), s0);
        s1 = Vec::fma(Vec::load(a + d + W), Vec::load(b + d + W), s1);
    }
    for (; d < D; d += W) s0 = Vec::fma(Vec::load(a + d), Vec::load(b + d), s0);
    return Vec::reduce_add(Vec::add(s0, s1));
}

// p[i] = 2^(s[i] - m) in place; returns the sum.
inline float exp2_shift_sum(float* s, int64_t n, float m) {
    reg vm = Vec::set1(m), acc = Vec::zero();
    int64_t i = 0;
    for (; i + W <= n; i += W) {
        reg p = Vec::exp2(Vec::sub(Vec::load(s + i), vm));
        Vec::store(s + i, p);
        acc = Vec::add(acc, p);
    }
    float sum = Vec::reduce_add(acc);
    for (; i < n; ++i) {
        s[i] = __builtin_exp2f(s[i] - m);
        sum += s[i];
    }
    return sum;
}

inline float row_max(const float* s, int64_t n) {
    reg vm = Vec::set1(kNegInf);
    int64_t i = 0;
    for (; i + W <= n; i += W) vm = Vec::max(vm, Vec::load(s + i));
    float m = Vec::reduce_max(vm);
    for (; i < n; ++i) m = maxf(m, s[i]);
    return m;
}

// ---------------------------------------------------------------------------------------------
// Decode: one query position against the cache. The key range is split into blocks; each task
// handles (kv head, block) for the whole group of query heads sharing that kv head, producing a
// partial softmax (max, sum, weighted V) that is merged afterwards (log-sum-exp merge).

// O0 (and O1 when TWO) [SL * W floats at d0] = sum_j P0[j] (P1[j]) * V[j][d0 ..], with the
// accumulators in registers; V rows are read once for both heads.
template <int SL, bool TWO>
inline void pv_slab(const float* const* vrow, int64_t nk, int64_t d0, const float* p0, const float* p1, float* o0,
                    float* o1) {
    reg a0[SL], a1[SL];
    for (int c = 0; c < SL; ++c) a0[c] = a1[c] = Vec::zero();
    for (int64_t j = 0; j < nk; ++j) {
        const float* v = vrow[j] + d0;
        reg b0 = Vec::set1(p0[j]);
        reg b1 = TWO ? Vec::set1(p1[j]) : b0;
        for (int c = 0; c < SL; ++c) {
            reg x = Vec::load(v + c * W);
            a0[c] = Vec::fma(b0, x, a0[c]);
            if (TWO) a1[c] = Vec::fma(b1, x, a1[c]);
        }
    }
    for (int c = 0; c < SL; ++c) {
        Vec::store(o0 + d0 + c * W, a0[c]);
        if (TWO) Vec::store(o1 + d0 + c * W, a1[c]);
    }
}

template <bool TWO>
inline void pv_heads(const float* const* vrow, int64_t nk, int64_t D, const float* p0, const float* p1, float* o0,
                     float* o1) {
    constexpr int kSlab = W == 8 ? 4 : 8;  // AVX2 has 16 registers, AVX-512 32
    int64_t d0 = 0;
    while (d0 < D) {
        const int64_t chunks = (D - d0) / W;
        if (chunks >= kSlab) {
            pv_slab<kSlab, TWO>(vrow, nk, d0, p0, p1, o0, o1);
            d0 += kSlab * W;
        } else if (chunks >= 4) {
            pv_slab<4, TWO>(vrow, nk, d0, p0, p1, o0, o1);
            d0 += 4 * W;
        } else if (chunks >= 2) {
            pv_slab<2, TWO>(vrow, nk, d0, p0, p1, o0, o1);
            d0 += 2 * W;
        } else {
            pv_slab<1, TWO>(vrow, nk, d0, p0, p1, o0, o1);
            d0 += W;
        }
    }
}

template <typename KT>
void attention_decode(const AttentionArgs& a) {
    const int64_t H = a.H, Hkv = a.Hkv, C = a.C, D = a.D, G = H / Hkv;
    const int64_t pos = a.start_pos;
    const int64_t lo = a.window > 0 ? max64(0, pos - a.window + 1) : 0;
    const int64_t n = pos - lo + 1;
    constexpr int64_t block = 256;
    const int64_t nblk = (n + block - 1) / block;
    const int64_t tasks = Hkv * nblk;
    const KT* K = static_cast<const KT*>(a.k);
    const KT* V = static_cast<const KT*>(a.v);
    Scratch qs(H * D);  // queries pre-scaled so that scores are in log2 units
    const float qscale = kLog2e / __builtin_sqrtf(static_cast<float>(D));
    for (int64_t i = 0; i < H * D; ++i) qs.p[i] = a.q[i] * qscale;
    Scratch part_acc(tasks * G * D);
    Scratch part_m(tasks * G);
    Scratch part_l(tasks * G);

#pragma omp parallel if (worth_parallel(2.0 * H * n * D))
    {
        Scratch scores(G * block);
        // Rows are staged into float32 buffers, also from float32 caches: one linear pass over
        // memory streams better than the strided re-reads of the score and value passes.
        Scratch kbuf(block * D), vbuf(block * D);
        const float* krow[block];
        const float* vrow[block];
#pragma omp for schedule(dynamic, 1)
        for (int64_t task = 0; task < tasks; ++task) {
            const int64_t hk = task / nblk, b = task % nblk;
            const int64_t j0 = lo + b * block;
            const int64_t nk = min64(pos + 1, j0 + block) - j0;
            const float* qg = qs.p + hk * G * D;
            int64_t slot = j0 % C;
            constexpr int64_t ahead = 8;  // rows prefetched ahead of the staging copy
            const int64_t row_bytes = D * static_cast<int64_t>(sizeof(KT));
            for (int64_t j = 0; j < nk; ++j) {
                const KT* kr = K + (hk * C + slot) * D;
                const KT* vr = V + (hk * C + slot) * D;
                if (j + ahead < nk) {
                    const int64_t far = (slot + ahead) % C;
                    const char* kf = reinterpret_cast<const char*>(K + (hk * C + far) * D);
                    const char* vf = reinterpret_cast<const char*>(V + (hk * C + far) * D);
                    for (int64_t off = 0; off < row_bytes; off += 64) {
                        __builtin_prefetch(kf + off);
                        __builtin_prefetch(vf + off);
                    }
                }
                row_to_f32(kr, kbuf.p + j * D, D);
                row_to_f32(vr, vbuf.p + j * D, D);
                krow[j] = kbuf.p + j * D;
                vrow[j] = vbuf.p + j * D;
                if (++slot == C) slot = 0;
            }
            // Scores: W keys at a time for each head of the group, reduced with one transpose.
            float* s = scores.p;
            const int64_t nfull = nk / W * W;
            for (int64_t jb = 0; jb < nfull; jb += W) {
                for (int64_t g = 0; g < G; ++g) {
                    const float* qv = qg + g * D;
                    reg acc[W];
                    for (int j = 0; j < W; ++j) acc[j] = Vec::zero();
                    for (int64_t d = 0; d < D; d += W) {
                        reg x = Vec::load(qv + d);
                        for (int j = 0; j < W; ++j) acc[j] = Vec::fma(x, Vec::load(krow[jb + j] + d), acc[j]);
                    }
                    Vec::store(s + g * block + jb, Vec::transpose_sum(acc));
                }
            }
            for (int64_t j = nfull; j < nk; ++j)
                for (int64_t g = 0; g < G; ++g) s[g * block + j] = dot(qg + g * D, krow[j], D);
            for (int64_t g = 0; g < G; ++g) {
                float m = row_max(s + g * block, nk);
                part_m.p[task * G + g] = m;
                part_l.p[task * G + g] = exp2_shift_sum(s + g * block, nk, m);
            }
            float* acc = part_acc.p + task * G * D;
            int64_t g = 0;
            for (; g + 2 <= G; g += 2)
                pv_heads<true>(vrow, nk, D, s + g * block, s + (g + 1) * block, acc + g * D, acc + (g + 1) * D);
            if (g < G) pv_heads<false>(vrow, nk, D, s + g * block, nullptr, acc + g * D, nullptr);
        }
    }

    // Merge the blocks of each (kv head, query head).
    for (int64_t hk = 0; hk < Hkv; ++hk) {
        for (int64_t g = 0; g < G; ++g) {
            float M = kNegInf;
            for (int64_t b = 0; b < nblk; ++b) M = maxf(M, part_m.p[(hk * nblk + b) * G + g]);
            float* o = a.out + (hk * G + g) * D;
            for (int64_t d = 0; d < D; ++d) o[d] = 0.0f;
            float L = 0.0f;
            for (int64_t b = 0; b < nblk; ++b) {
                const int64_t task = hk * nblk + b;
                const float w = __builtin_exp2f(part_m.p[task * G + g] - M);
                L += w * part_l.p[task * G + g];
                const float* acc = part_acc.p + (task * G + g) * D;
                reg vw = Vec::set1(w);
                for (int64_t d = 0; d < D; d += W)
                    Vec::store(o + d, Vec::fma(vw, Vec::load(acc + d), Vec::load(o + d)));
            }
            reg inv = Vec::set1(1.0f / L);
            for (int64_t d = 0; d < D; d += W) Vec::store(o + d, Vec::mul(Vec::load(o + d), inv));
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Prefill / chunk: tiles of query positions (all G heads of a kv group together) against tiles
// of keys, online softmax; the task plan is in tile_plan.h.

constexpr int64_t kTileRows = 192;  // query rows (positions x group heads) per tile

// Rows of query (and of P.V output) per register block: two vectors per row plus one K/V pair
// and a broadcast must fit the register file (AVX2: 16, AVX-512: 32). Each output is the same
// sum in the same order for any block size.
constexpr int kAttMr = W == 8 ? 6 : 4;

#if !defined(CWM_ISA_SCALAR)
inline __m256 load8(const float* p) { return _mm256_loadu_ps(p); }
inline __m256 load8(const uint16_t* p) {
    const __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
}
#endif

// Kt[d][c0 + j] = kr[j][d] for 8 key rows j and every d (D % 8 == 0): the key tile's layout for
// Q.K^T, written 8 x 8 blocks at a time (the strided scalar copy it replaces cost 5-10% of the
// AVX2 kernel's CPU time at an 8k context).
template <typename KT>
inline void transpose_keys8(const KT* const* kr, int64_t D, float* Kt, int64_t c0) {
#if defined(CWM_ISA_SCALAR)
    for (int j = 0; j < 8; ++j)
        for (int64_t d = 0; d < D; ++d) Kt[d * kKeyTile + c0 + j] = to_float(kr[j][d]);
#else
    for (int64_t d0 = 0; d0 < D; d0 += 8) {
        __m256 t[8], u[8];
        for (int j = 0; j < 4; ++j) {
            const __m256 x = load8(kr[2 * j] + d0), y = load8(kr[2 * j + 1] + d0);
            t[2 * j] = _mm256_unpacklo_ps(x, y);
            t[2 * j + 1] = _mm256_unpackhi_ps(x, y);
        }
        for (int g = 0; g < 2; ++g) {
            u[4 * g + 0] = _mm256_shuffle_ps(t[4 * g], t[4 * g + 2], 0x44);
            u[4 * g + 1] = _mm256_shuffle_ps(t[4 * g], t[4 * g + 2], 0xEE);
            u[4 * g + 2] = _mm256_shuffle_ps(t[4 * g + 1], t[4 * g + 3], 0x44);
            u[4 * g + 3] = _mm256_shuffle_ps(t[4 * g + 1], t[4 * g + 3], 0xEE);
        }
        for (int j = 0; j < 4; ++j) {
            _mm256_storeu_ps(Kt + (d0 + j) * kKeyTile + c0, _mm256_permute2f128_ps(u[j], u[j + 4], 0x20));
            _mm256_storeu_ps(Kt + (d0 + j + 4) * kKeyTile + c0, _mm256_permute2f128_ps(u[j], u[j + 4], 0x31));
        }
    }
#endif
}

// S[r][c] = Q[r] . K[c] for MR rows, kKeyTile columns; Kt is the key tile transposed [D][64].
template <int MR>
inline void qk_rows(const float* Q, int64_t D, const float* Kt, float* S) {
    for (int64_t c = 0; c < kKeyTile; c += 2 * W) {
        reg acc[MR][2];
        for (int r = 0; r < MR; ++r) acc[r][0] = acc[r][1] = Vec::zero();
        for (int64_t d = 0; d < D; ++d) {
            reg k0 = Vec::load(Kt + d * kKeyTile + c);
            reg k1 = Vec::load(Kt + d * kKeyTile + c + W);
            for (int r = 0; r < MR; ++r) {
                reg qv = Vec::set1(Q[r * D + d]);
                acc[r][0] = Vec::fma(qv, k0, acc[r][0]);
                acc[r][1] = Vec::fma(qv, k1, acc[r][1]);
            }
        }
        for (int r = 0; r < MR; ++r) {
            Vec::store(S + r * kKeyTile + c, acc[r][0]);
            Vec::store(S + r * kKeyTile + c + W, acc[r][1]);
        }
    }
}

// O[r] += sum_c P[r][c] * V[c] for MR rows; V is the value tile [64][D].
template <int MR>
inline void pv_rows(const float* P, int64_t nk, const float* Vt, int64_t D, float* O) {
    int64_t d = 0;
    for (; d + 2 * W <= D; d += 2 * W) {
        reg acc[MR][2];
        for (int r = 0; r < MR; ++r) {
            acc[r][0] = Vec::load(O + r * D + d);
            acc[r][1] = Vec::load(O + r * D + d + W);
        }
        for (int64_t c = 0; c < nk; ++c) {
            reg v0 = Vec::load(Vt + c * D + d);
            reg v1 = Vec::load(Vt + c * D + d + W);
            for (int r = 0; r < MR; ++r) {
                reg p = Vec::set1(P[r * kKeyTile + c]);
                acc[r][0] = Vec::fma(p, v0, acc[r][0]);
                acc[r][1] = Vec::fma(p, v1, acc[r][1]);
            }
        }
        for (int r = 0; r < MR; ++r) {
            Vec::store(O + r * D + d, acc[r][0]);
            Vec::store(O + r * D + d + W, acc[r][1]);
        }
    }
    for (; d < D; d += W) {
        reg acc[MR];
        for (int r = 0; r < MR; ++r) acc[r] = Vec::load(O + r * D + d);
        for (int64_t c = 0; c < nk; ++c) {
            reg v0 = Vec::load(Vt + c * D + d);
            for (int r = 0; r < MR; ++r) acc[r] = Vec::fma(Vec::set1(P[r * kKeyTile + c]), v0, acc[r]);
        }
        for (int r = 0; r < MR; ++r) Vec::store(O + r * D + d, acc[r]);
    }
}

template <typename KT>
void attention_tiled(const AttentionArgs& a) {
    const int64_t H = a.H, C = a.C, D = a.D;
    const TilePlan plan = plan_tiles(a, kTileRows);
    const int64_t G = plan.G, R = plan.R;
    const KT* K = static_cast<const KT*>(a.k);
    const KT* V = static_cast<const KT*>(a.v);
    const float qscale = kLog2e / __builtin_sqrtf(static_cast<float>(D));
    constexpr int MR = kAttMr;

#pragma omp parallel if (worth_parallel(plan.work))
    {
        Scratch Q(R * D), O(R * D), S(R * kKeyTile), Kt(D * kKeyTile), Vt(kKeyTile * D);
        Scratch mrow(R), lrow(R), zeros(D);
        for (int64_t d = 0; d < D; ++d) zeros.p[d] = 0.0f;  // all-zero bits: 0 as float and bf16
        const KT* zero_row = reinterpret_cast<const KT*>(zeros.p);
        const KT* krow[kKeyTile];
#pragma omp for schedule(dynamic, 1)
        for (int64_t task = 0; task < plan.tasks; ++task) {
            const QueryTile qt = query_tile(a, plan, task);
            const int64_t hk = qt.hk, rows = qt.rows;
            for (int64_t t = 0; t < qt.nt; ++t)
                for (int64_t g = 0; g < G; ++g) {
                    const float* src = a.q + ((qt.t0 + t) * H + hk * G + g) * D;
                    float* dst = Q.p + (t * G + g) * D;
                    for (int64_t d = 0; d < D; ++d) dst[d] = src[d] * qscale;
                }
            reset_rows(rows, D, O.p, mrow.p, lrow.p);
            for (int64_t kt0 = qt.klo; kt0 <= qt.i_last; kt0 += kKeyTile) {
                const int64_t nk = qt.keys(kt0);
                // Pack the key tile transposed and the value tile, both float32, zero padded.
                int64_t slot = kt0 % C;
                for (int64_t c = 0; c < kKeyTile; ++c) {
                    if (c < nk) {
                        krow[c] = K + (hk * C + slot) * D;
                        row_to_f32(V + (hk * C + slot) * D, Vt.p + c * D, D);
                        if (++slot == C) slot = 0;
                    } else {
                        krow[c] = zero_row;
                        for (int64_t d = 0; d < D; ++d) Vt.p[c * D + d] = 0.0f;
                    }
                }
                for (int64_t c = 0; c < kKeyTile; c += 8) transpose_keys8(krow + c, D, Kt.p, c);
                int64_t r = 0;
                for (; r + MR <= rows; r += MR) qk_rows<MR>(Q.p + r * D, D, Kt.p, S.p + r * kKeyTile);
                for (; r < rows; ++r) qk_rows<1>(Q.p + r * D, D, Kt.p, S.p + r * kKeyTile);
                const bool full = qt.full(kt0);
                for (r = 0; r < rows; ++r) {
                    float* s = S.p + r * kKeyTile;
                    if (!full) qt.mask(s, r, kt0, nk);
                    const float mx = row_max(s, kKeyTile);
                    const float mnew = maxf(mrow.p[r], mx);
                    if (mnew == kNegInf) {
                        for (int64_t c = 0; c < kKeyTile; ++c) s[c] = 0.0f;
                        continue;
                    }
                    const float alpha = __builtin_exp2f(mrow.p[r] - mnew);
                    const float sum = exp2_shift_sum(s, kKeyTile, mnew);
                    lrow.p[r] = lrow.p[r] * alpha + sum;
                    mrow.p[r] = mnew;
                    if (alpha != 1.0f) {
                        float* o = O.p + r * D;
                        reg va = Vec::set1(alpha);
                        for (int64_t d = 0; d < D; d += W) Vec::store(o + d, Vec::mul(Vec::load(o + d), va));
                    }
                }
                for (r = 0; r + MR <= rows; r += MR) pv_rows<MR>(S.p + r * kKeyTile, nk, Vt.p, D, O.p + r * D);
                for (; r < rows; ++r) pv_rows<1>(S.p + r * kKeyTile, nk, Vt.p, D, O.p + r * D);
            }
            store_rows(a, qt, O.p, lrow.p, [](int64_t d) { return d; });
        }
    }
}

bool attention_entry(const AttentionArgs& a) {
    if (a.D % W != 0) return false;
    const bool bf16 = a.kv_type == KvType::BF16;
    if (a.T == 1) {
        if (bf16) attention_decode<uint16_t>(a);
        else attention_decode<float>(a);
    } else {
        if (bf16) attention_tiled<uint16_t>(a);
        else attention_tiled<float>(a);
    }
    return true;
}

// ---------------------------------------------------------------------------------------------
// Weight-only quantized linear layers: out[m, n] = sum_k x[m, k] * w[n, k].

// Few rows of x (decode): stream each weight row once for all MM rows of x.
template <int MM>
void int8_gemv(const Int8Args& a, int64_t m0) {
    const int64_t N = a.N, K = a.K;
    const int64_t kv = K / W * W;
#pragma omp parallel for schedule(static) if (worth_parallel(double(MM) * N * K))
    for (int64_t n = 0; n < N; ++n) {
        const int8_t* wr = a.w + n * K;
        reg acc[MM][2];
        for (int m = 0; m < MM; ++m) acc[m][0] = acc[m][1] = Vec::zero();
        int64_t k = 0;
        for (; k + 2 * W <= kv; k += 2 * W) {
            reg w0 = Vec::load_i8(wr + k), w1 = Vec::load_i8(wr + k + W);
            for (int m = 0; m < MM; ++m) {
                const float* xr = a.x + (m0 + m) * K + k;
                acc[m][0] = Vec::fma(w0, Vec::load(xr), acc[m][0]);
                acc[m][1] = Vec::fma(w1, Vec::load(xr + W), acc[m][1]);
            }
        }
        for (; k < kv; k += W) {
            reg w0 = Vec::load_i8(wr + k);
            for (int m = 0; m < MM; ++m) acc[m][0] = Vec::fma(w0, Vec::load(a.x + (m0 + m) * K + k), acc[m][0]);
        }
        for (int m = 0; m < MM; ++m) {
            float s = Vec::reduce_add(Vec::add(acc[m][0], acc[m][1]));
            for (int64_t kk = kv; kk < K; ++kk) s += a.x[(m0 + m) * K + kk] * static_cast<float>(wr[kk]);
            a.out[(m0 + m) * N + n] = s * a.scales[n];
        }
    }
}

// x deinterleaved into even and odd k (matching the low and high nibbles) plus per-group sums.
struct Int4Prep {
    Scratch even, odd, gsum;
    Int4Prep(const Int4Args& a, int64_t m0, int64_t mm)
        : even(mm * (a.K / 2)), odd(mm * (a.K / 2)), gsum(mm * (a.K / a.G)) {
        const int64_t K2 = a.K / 2, ng = a.K / a.G;
        for (int64_t m = 0; m < mm; ++m) {
            const float* xr = a.x + (m0 + m) * a.K;
            for (int64_t i = 0; i < K2; ++i) {
                even.p[m * K2 + i] = xr[2 * i];
                odd.p[m * K2 + i] = xr[2 * i + 1];
            }
            for (int64_t g = 0; g < ng; ++g) {
                float s = 0.0f;
                for (int64_t k = g * a.G; k < (g + 1) * a.G; ++k) s += xr[k];
                gsum.p[m * ng + g] = s;
            }
        }
    }
};

template <int MM>
void int4_gemv(const Int4Args& a, int64_t m0, int64_t n_begin = 0) {
    const int64_t N = a.N, K = a.K, K2 = K / 2, G2 = a.G / 2, ng = K / a.G;
    Int4Prep prep(a, m0, MM);
    const int64_t gv = G2 / W * W;
#pragma omp parallel for schedule(static) if (worth_parallel(double(MM) * (N - n_begin) * K))
    for (int64_t n = n_begin; n < N; ++n) {
        const uint8_t* wr = a.w + n * K2;
        // Same columns four rows ahead, a group at a time.
        const uint8_t* pf = n + 4 < N ? wr + 4 * K2 : wr;
        reg tot[MM];
        float bias[MM];
        for (int m = 0; m < MM; ++m) {
            tot[m] = Vec::zero();
            bias[m] = 0.0f;
        }
        for (int64_t g = 0; g < ng; ++g) {
            const float s = a.scales[n * ng + g];
            const float z = static_cast<float>(a.zeros[n * ng + g]);
            reg ga[MM];
            float tail[MM];
            for (int m = 0; m < MM; ++m) {
                ga[m] = Vec::zero();
                tail[m] = 0.0f;
            }
            const int64_t b0 = g * G2;
            for (int64_t off = 0; off < G2; off += 64) __builtin_prefetch(pf + b0 + off, 0, 1);
            for (int64_t b = 0; b < gv; b += W) {
                reg lo, hi;
                Vec::load_u4(wr + b0 + b, &lo, &hi);
                for (int m = 0; m < MM; ++m) {
                    ga[m] = Vec::fma(lo, Vec::load(prep.even.p + m * K2 + b0 + b), ga[m]);
                    ga[m] = Vec::fma(hi, Vec::load(prep.odd.p + m * K2 + b0 + b), ga[m]);
                }
            }
            for (int64_t b = gv; b < G2; ++b) {
                const float lo = static_cast<float>(wr[b0 + b] & 15), hi = static_cast<float>(wr[b0 + b] >> 4);
                for (int m = 0; m < MM; ++m)
                    tail[m] += lo * prep.even.p[m * K2 + b0 + b] + hi * prep.odd.p[m * K2 + b0 + b];
            }
            reg vs = Vec::set1(s);
            for (int m = 0; m < MM; ++m) {
                tot[m] = Vec::fma(ga[m], vs, tot[m]);
                bias[m] += s * (tail[m] - z * prep.gsum.p[m * ng + g]);
            }
        }
        for (int m = 0; m < MM; ++m) a.out[(m0 + m) * N + n] = Vec::reduce_add(tot[m]) + bias[m];
    }
}

// Many rows of x (prefill): dequantize a panel of kNr weight rows x kKc columns to float32,
// transposed, and run a register-blocked kMr x kNr kernel over all rows of x.
// Up to this many rows of x (a drafted-token chunk) stream the weights once per 4 rows: cheaper
// than converting them into float32 panels for the GEMM.
constexpr int64_t kGemvRows = 24;  // covers a 16-token draft plus its token

constexpr int kMr = 6;
constexpr int kNr = 2 * W;
constexpr int64_t kKc = 256;
constexpr int kPanels = 4;  // panels per task, sharing each x block

template <int MR>
inline void gemm_micro(const float* X, int64_t ldx, const float* Wp, int64_t kc, float* C, int64_t ldc,
                       bool accumulate) {
    reg acc[MR][2];
    for (int r = 0; r < MR; ++r) {
        acc[r][0] = accumulate ? Vec::load(C + r * ldc) : Vec::zero();
        acc[r][1] = accumulate ? Vec::load(C + r * ldc + W) : Vec::zero();
    }
    for (int64_t k = 0; k < kc; ++k) {
        reg w0 = Vec::load(Wp + k * kNr), w1 = Vec::load(Wp + k * kNr + W);
        for (int r = 0; r < MR; ++r) {
            reg xv = Vec::set1(X[r * ldx + k]);
            acc[r][0] = Vec::fma(xv, w0, acc[r][0]);
            acc[r][1] = Vec::fma(xv, w1, acc[r][1]);
        }
    }
    for (int r = 0; r < MR; ++r) {
        Vec::store(C + r * ldc, acc[r][0]);
        Vec::store(C + r * ldc + W, acc[r][1]);
    }
}

// dequant(n, k0, kc, dst): writes w[n, k0 .. k0 + kc) as float32 to dst[0 .. kc) with stride kNr.
template <typename Dequant>
void gemm_panels(const float* x, float* out, int64_t M, int64_t N, int64_t K, Dequant dequant) {
    const int64_t npanels = (N + kNr - 1) / kNr;
    const int64_t tasks = (npanels + kPanels - 1) / kPanels;
#pragma omp parallel if (worth_parallel(double(M) * N * K))
    {
        Scratch Wp(kPanels * kKc * kNr);
        Scratch Ct(static_cast<int64_t>(kMr) * kNr);  // edge tiles (N not a multiple of kNr)
        Scratch acc(M * kPanels * kNr);             // accumulators for this task's columns
#pragma omp for schedule(dynamic, 1)
        for (int64_t task = 0; task < tasks; ++task) {
            const int64_t p0 = task * kPanels, np = min64(kPanels, npanels - p0);
            const int64_t ldc = np * kNr;
            for (int64_t k0 = 0; k0 < K; k0 += kKc) {
                const int64_t kc = min64(kKc, K - k0);
                for (int64_t p = 0; p < np; ++p) {
                    float* panel = Wp.p + p * kKc * kNr;
                    for (int64_t c = 0; c < kNr; ++c) {
                        const int64_t n = (p0 + p) * kNr + c;
                        if (n < N) dequant(n, k0, kc, panel + c);
                        else
                            for (int64_t k = 0; k < kc; ++k) panel[k * kNr + c] = 0.0f;
                    }
                }
                const bool accumulate = k0 > 0;
                int64_t m = 0;
                for (; m + kMr <= M; m += kMr)
                    for (int64_t p = 0; p < np; ++p)
                        gemm_micro<kMr>(x + m * K + k0, K, Wp.p + p * kKc * kNr, kc, acc.p + m * ldc + p * kNr, ldc,
                                        accumulate);
                for (; m < M; ++m)
                    for (int64_t p = 0; p < np; ++p)
                        gemm_micro<1>(x + m * K + k0, K, Wp.p + p * kKc * kNr, kc, acc.p + m * ldc + p * kNr, ldc,
                                      accumulate);
            }
            const int64_t n0 = p0 * kNr, ncols = min64(ldc, N - n0);
            for (int64_t m = 0; m < M; ++m)
                for (int64_t c = 0; c < ncols; ++c) out[m * N + n0 + c] = acc.p[m * ldc + c];
        }
    }
}

// Decode (M == 1), W weight rows at a time: W independent FMA chains share each load of x and
// are summed with one transpose; each step prefetches its share of the next block of W rows
// (one contiguous stretch of memory). Each output is one thread's sum in a fixed order.
void int8_gemv_wide(const Int8Args& a) {
    const int64_t N = a.N, K = a.K, kv = K / W * W, blocks = N / W;
    const int64_t share = static_cast<int64_t>(W) * W;  // bytes of the next block per step
#pragma omp parallel for schedule(static) if (worth_parallel(double(N) * K))
    for (int64_t b = 0; b < blocks; ++b) {
        const int64_t n0 = b * W;
        const int8_t* wr = a.w + n0 * K;
        const char* next = n0 + 2 * W <= N ? reinterpret_cast<const char*>(wr + W * K) : nullptr;
        reg acc[W];
        for (int r = 0; r < W; ++r) acc[r] = Vec::zero();
        for (int64_t k = 0; k < kv; k += W) {
            if (next != nullptr)
                for (int64_t off = 0; off < share; off += 64) __builtin_prefetch(next + k * W + off, 0, 3);
            const reg xv = Vec::load(a.x + k);
            for (int r = 0; r < W; ++r) acc[r] = Vec::fma(Vec::load_i8(wr + r * K + k), xv, acc[r]);
        }
        alignas(64) float sums[W];
        Vec::store(sums, Vec::transpose_sum(acc));
        for (int r = 0; r < W; ++r) {
            float s = sums[r];
            for (int64_t k = kv; k < K; ++k) s += a.x[k] * static_cast<float>(wr[r * K + k]);
            a.out[n0 + r] = s * a.scales[n0 + r];
        }
    }
    for (int64_t n = blocks * W; n < N; ++n) {
        float s = 0.0f;
        for (int64_t k = 0; k < K; ++k) s += a.x[k] * static_cast<float>(a.w[n * K + k]);
        a.out[n] = s * a.scales[n];
    }
}

bool int8_entry(const Int8Args& a) {
    if (a.M == 1) {
        int8_gemv_wide(a);
        return true;
    }
    if (a.M <= kGemvRows) {
        int64_t m = 0;
        for (; m + 4 <= a.M; m += 4) int8_gemv<4>(a, m);
        for (; m < a.M; ++m) int8_gemv<1>(a, m);
        return true;
    }
    gemm_panels(a.x, a.out, a.M, a.N, a.K, [&a](int64_t n, int64_t k0, int64_t kc, float* dst) {
        const int8_t* wr = a.w + n * a.K + k0;
        const float s = a.scales[n];
        for (int64_t k = 0; k < kc; ++k) dst[k * kNr] = static_cast<float>(wr[k]) * s;
    });
    return true;
}

// Any group size, including odd ones whose groups straddle bytes (scalar, element by element).
float int4_weight(const Int4Args& a, int64_t n, int64_t k) {
    const uint8_t byte = a.w[n * (a.K / 2) + k / 2];
    const int q = (k & 1) ? (byte >> 4) : (byte & 15);
    const int64_t g = n * (a.K / a.G) + k / a.G;
    return a.scales[g] * static_cast<float>(q - static_cast<int>(a.zeros[g]));
}

// Decode (M == 1), W weight rows at a time (as int8_gemv_wide): per group, W chains of
// nibbles x (even, odd) activations, one transpose, then the W rows' scales and zero points as
// vectors. Needs G / 2 to be a multiple of W.
void int4_gemv_wide(const Int4Args& a) {
    const int64_t N = a.N, K = a.K, K2 = K / 2, G2 = a.G / 2, ng = K / a.G, blocks = N / W;
    const int64_t share = static_cast<int64_t>(W) * W;  // bytes of the next block per step
    Int4Prep prep(a, 0, 1);
#pragma omp parallel for schedule(static) if (worth_parallel(double(N) * K))
    for (int64_t b = 0; b < blocks; ++b) {
        const int64_t n0 = b * W;
        const uint8_t* wr = a.w + n0 * K2;
        const char* next = n0 + 2 * W <= N ? reinterpret_cast<const char*>(wr + W * K2) : nullptr;
        alignas(64) float scale[W], zero[W];
        reg tot = Vec::zero();
        for (int64_t g = 0; g < ng; ++g) {
            reg ga[W];
            for (int r = 0; r < W; ++r) ga[r] = Vec::zero();
            const int64_t b0 = g * G2;
            for (int64_t bb = b0; bb < b0 + G2; bb += W) {
                if (next != nullptr)
                    for (int64_t off = 0; off < share; off += 64) __builtin_prefetch(next + bb * W + off, 0, 3);
                const reg xe = Vec::load(prep.even.p + bb), xo = Vec::load(prep.odd.p + bb);
                for (int r = 0; r < W; ++r) {
                    reg lo, hi;
                    Vec::load_u4(wr + r * K2 + bb, &lo, &hi);
                    ga[r] = Vec::fma(lo, xe, ga[r]);
                    ga[r] = Vec::fma(hi, xo, ga[r]);
                }
            }
            for (int r = 0; r < W; ++r) {
                scale[r] = a.scales[(n0 + r) * ng + g];
                zero[r] = static_cast<float>(a.zeros[(n0 + r) * ng + g]);
            }
            const reg vs = Vec::load(scale);
            tot = Vec::fma(Vec::transpose_sum(ga), vs, tot);
            tot = Vec::sub(tot, Vec::mul(Vec::mul(vs, Vec::load(zero)), Vec::set1(prep.gsum.p[g])));
        }
        Vec::store(a.out + n0, tot);
    }
    if (blocks * W < N) int4_gemv<1>(a, 0, blocks * W);
}

bool int4_entry(const Int4Args& a) {
    if (a.M == 1 && a.G % 2 == 0 && (a.G / 2) % W == 0) {
        int4_gemv_wide(a);
        return true;
    }
    if (a.M <= kGemvRows && a.G % 2 == 0) {
        int64_t m = 0;
        for (; m + 4 <= a.M; m += 4) int4_gemv<4>(a, m);
        for (; m < a.M; ++m) int4_gemv<1>(a, m);
        return true;
    }
    gemm_panels(a.x, a.out, a.M, a.N, a.K, [&a](int64_t n, int64_t k0, int64_t kc, float* dst) {
        if (a.G % 2 == 0 && k0 % 2 == 0 && kc % 2 == 0) {
            const uint8_t* wr = a.w + n * (a.K / 2);
            const int64_t ng = a.K / a.G;
            for (int64_t k = 0; k < kc; k += 2) {
                const int64_t kk = k0 + k;
                const uint8_t byte = wr[kk / 2];
                const int64_t g = n * ng + kk / a.G;
                const float s = a.scales[g], z = static_cast<float>(a.zeros[g]);
                dst[k * kNr] = s * (static_cast<float>(byte & 15) - z);
                dst[(k + 1) * kNr] = s * (static_cast<float>(byte >> 4) - z);
            }
        } else {
            for (int64_t k = 0; k < kc; ++k) dst[k * kNr] = int4_weight(a, n, k0 + k);
        }
    });
    return true;
}

// ---------------------------------------------------------------------------------------------
// Float weights (float32 or bfloat16 in memory, float32 arithmetic): out[m, n] = sum_k x[m, k] w[n, k].

// R weight rows against MM rows of x. Each output is one thread's sum in a fixed order, so the
// result does not depend on the thread count. A single row of x keeps two accumulators per
// weight row (eight independent FMA chains for a quad); more rows of x already give enough.
template <typename WT, int MM, int R>
inline void float_rows(const FloatArgs& a, const WT* w, int64_t m0, int64_t n0) {
    constexpr int U = MM == 1 ? 2 : 1;
    const int64_t K = a.K, kv = K / (U * W) * (U * W);
    const WT* wr[R];
    for (int r = 0; r < R; ++r) wr[r] = w + (n0 + r) * K;
    const WT* pf = n0 + 2 * R <= a.N ? w + (n0 + R) * K : nullptr;  // next rows, same columns
    constexpr int64_t kLine = 64 / static_cast<int64_t>(sizeof(WT));
    reg acc[MM][R][U];
    for (int m = 0; m < MM; ++m)
        for (int r = 0; r < R; ++r)
            for (int u = 0; u < U; ++u) acc[m][r][u] = Vec::zero();
    int64_t k = 0;
    for (; k < kv; k += U * W) {
        if (pf != nullptr && k % kLine == 0)
            for (int64_t off = 0; off < U * W; off += kLine)
                for (int r = 0; r < R; ++r) __builtin_prefetch(pf + r * K + k + off, 0, 1);
        for (int u = 0; u < U; ++u) {
            reg xv[MM];
            for (int m = 0; m < MM; ++m) xv[m] = Vec::load(a.x + (m0 + m) * K + k + u * W);
            for (int r = 0; r < R; ++r) {
                const reg wv = load_kv(wr[r] + k + u * W);
                for (int m = 0; m < MM; ++m) acc[m][r][u] = Vec::fma(wv, xv[m], acc[m][r][u]);
            }
        }
    }
    for (; k + W <= K; k += W) {  // U == 2 leaves at most one whole vector
        for (int r = 0; r < R; ++r) {
            const reg wv = load_kv(wr[r] + k);
            for (int m = 0; m < MM; ++m) acc[m][r][0] = Vec::fma(wv, Vec::load(a.x + (m0 + m) * K + k), acc[m][r][0]);
        }
    }
    for (int m = 0; m < MM; ++m)
        for (int r = 0; r < R; ++r) {
            reg t = acc[m][r][0];
            for (int u = 1; u < U; ++u) t = Vec::add(t, acc[m][r][u]);
            float sum = Vec::reduce_add(t);
            for (int64_t kk = k; kk < K; ++kk) sum += a.x[(m0 + m) * K + kk] * to_float(wr[r][kk]);
            a.out[(m0 + m) * a.N + n0 + r] = sum;
        }
}

// bf16 weights: R rows against MM rows of x, with x split into its even and odd columns (xe, xo:
// [M, K / 2]) so that one load and two bit operations widen 2 W weights (no shuffles). Each
// output is one thread's sum in a fixed order (even and odd chains, then the odd-K tail).
template <int MM, int R>
inline void bf16_rows(const FloatArgs& a, const uint16_t* w, const float* xe, const float* xo, int64_t m0,
                      int64_t n0) {
    const int64_t K = a.K, K2 = K / 2, kv = K2 / W * W;
    const uint16_t* wr[R];
    for (int r = 0; r < R; ++r) wr[r] = w + (n0 + r) * K;
    const uint16_t* pf = n0 + 2 * R <= a.N ? w + (n0 + R) * K : nullptr;  // next rows, same columns
    constexpr int C = MM == 1 ? 2 : 1;  // chains per output: even and odd apart for one row of x
    reg acc[MM][R][C];
    for (int m = 0; m < MM; ++m)
        for (int r = 0; r < R; ++r)
            for (int c = 0; c < C; ++c) acc[m][r][c] = Vec::zero();
    for (int64_t k = 0; k < kv; k += W) {
        if (pf != nullptr && (2 * k) % 32 == 0)
            for (int r = 0; r < R; ++r) __builtin_prefetch(pf + r * K + 2 * k, 0, 1);
        reg ev[MM], od[MM];
        for (int m = 0; m < MM; ++m) {
            ev[m] = Vec::load(xe + (m0 + m) * K2 + k);
            od[m] = Vec::load(xo + (m0 + m) * K2 + k);
        }
        for (int r = 0; r < R; ++r) {
            reg we, wo;
            Vec::load_bf16_pairs(wr[r] + 2 * k, &we, &wo);
            for (int m = 0; m < MM; ++m) {
                acc[m][r][0] = Vec::fma(we, ev[m], acc[m][r][0]);
                acc[m][r][C - 1] = Vec::fma(wo, od[m], acc[m][r][C - 1]);
            }
        }
    }
    for (int m = 0; m < MM; ++m)
        for (int r = 0; r < R; ++r) {
            float sum = Vec::reduce_add(C == 2 ? Vec::add(acc[m][r][0], acc[m][r][C - 1]) : acc[m][r][0]);
            for (int64_t kk = 2 * kv; kk < K; ++kk) sum += a.x[(m0 + m) * K + kk] * bf16_to_float(wr[r][kk]);
            a.out[(m0 + m) * a.N + n0 + r] = sum;
        }
}

template <int R>
inline void bf16_rows_all(const FloatArgs& a, const uint16_t* w, const float* xe, const float* xo, int64_t n0) {
    int64_t m = 0;
    for (; m + 4 <= a.M; m += 4) bf16_rows<4, R>(a, w, xe, xo, m, n0);
    for (; m + 2 <= a.M; m += 2) bf16_rows<2, R>(a, w, xe, xo, m, n0);
    for (; m < a.M; ++m) bf16_rows<1, R>(a, w, xe, xo, m, n0);
}

void bf16_gemv(const FloatArgs& a) {
    const uint16_t* w = static_cast<const uint16_t*>(a.w);
    const int64_t N = a.N, K2 = a.K / 2, nquads = N / 4;
    Scratch xe(a.M * K2), xo(a.M * K2);
    for (int64_t m = 0; m < a.M; ++m)
        for (int64_t i = 0; i < K2; ++i) {
            xe.p[m * K2 + i] = a.x[m * a.K + 2 * i];
            xo.p[m * K2 + i] = a.x[m * a.K + 2 * i + 1];
        }
#pragma omp parallel for schedule(static) if (worth_parallel(double(a.M) * N * a.K))
    for (int64_t nq = 0; nq < nquads; ++nq) bf16_rows_all<4>(a, w, xe.p, xo.p, nq * 4);
    for (int64_t n = nquads * 4; n < N; ++n) bf16_rows_all<1>(a, w, xe.p, xo.p, n);
}

// R weight rows against every row of x, in blocks of 4, 2 and 1 rows of x: the weight rows are
// read from memory once and from cache for the other blocks (a drafted chunk of 16 tokens used
// to stream all the weights four times).
template <typename WT, int R>
inline void float_rows_all(const FloatArgs& a, const WT* w, int64_t n0) {
    int64_t m = 0;
    for (; m + 4 <= a.M; m += 4) float_rows<WT, 4, R>(a, w, m, n0);
    for (; m + 2 <= a.M; m += 2) float_rows<WT, 2, R>(a, w, m, n0);
    for (; m < a.M; ++m) float_rows<WT, 1, R>(a, w, m, n0);
}

template <typename WT>
void float_gemv(const FloatArgs& a) {
    const WT* w = static_cast<const WT*>(a.w);
    const int64_t N = a.N;
    const int64_t nquads = N / 4;
#pragma omp parallel for schedule(static) if (worth_parallel(double(a.M) * N * a.K))
    for (int64_t nq = 0; nq < nquads; ++nq) float_rows_all<WT, 4>(a, w, nq * 4);
    for (int64_t n = nquads * 4; n < N; ++n) float_rows_all<WT, 1>(a, w, n);
}

template <typename WT>
void float_linear(const FloatArgs& a) {
    if (a.M <= kGemvRows) {
        if constexpr (sizeof(WT) == 2) bf16_gemv(a);
        else float_gemv<WT>(a);
        return;
    }
    const WT* w = static_cast<const WT*>(a.w);
    gemm_panels(a.x, a.out, a.M, a.N, a.K, [&a, w](int64_t n, int64_t k0, int64_t kc, float* dst) {
        const WT* wr = w + n * a.K + k0;
        for (int64_t k = 0; k < kc; ++k) dst[k * kNr] = to_float(wr[k]);
    });
}

bool float_entry(const FloatArgs& a) {
    if (a.bf16) float_linear<uint16_t>(a);
    else float_linear<float>(a);
    return true;
}

// The SwiGLU product: gate[i] = silu(gate[i]) * up[i], silu(g) = g / (1 + e^-g).
void silu_mul_entry(float* gate, const float* up, int64_t n) {
    const reg minus_log2e = Vec::set1(-kLog2e), one = Vec::set1(1.0f);
    int64_t i = 0;
    for (; i + W <= n; i += W) {
        const reg g = Vec::load(gate + i);
        const reg sig = Vec::div(g, Vec::add(one, Vec::exp2(Vec::mul(g, minus_log2e))));
        Vec::store(gate + i, Vec::mul(sig, Vec::load(up + i)));
    }
    for (; i < n; ++i) gate[i] = gate[i] / (1.0f + __builtin_exp2f(-kLog2e * gate[i])) * up[i];
}

}  // namespace
