// Attention over bfloat16 K/V with AVX512_BF16 dot products (vdpbf16ps: 32 bf16 x bf16 products,
// summed pairwise into 16 float32 lanes; the products are exact, accumulation is float32).
//
// Precision: K and V are used as stored (exact). By default (round_query) the query is rounded to
// bf16 (relative error <= 2^-9 per element, the same bound the bf16 cache already puts on K, as
// SDPA on bf16 tensors does); otherwise it is split into a bf16 high and low part (q = hi + lo
// to about 2^-17 relative: float32-accurate scores for twice the Q.K^T work). A query that is
// already bf16 (a bf16 model) is exact either way. The softmax weights P are rounded to bf16
// (relative error <= 2^-9) before P.V; the normaliser sums the same rounded weights, so each
// output is an exact weighted average of V rows with weights perturbed by at most 2^-9 relative.
//
// Layouts: Q.K^T reduces over head_dim pairs of one key row, 16 keys at a time, finished with one
// transpose-reduction. P.V interleaves value rows k and k+1 into (V[k][d], V[k+1][d]) pairs once
// per key pair and reuses them for every query head of the GQA group, with (p[k], p[k+1])
// broadcast as a bf16 pair. The interleave (vpunpck[lh]wd) permutes head_dim within each 32-wide
// unit; accumulators stay in that order and are put back in place when the output is written.
#define CWM_ISA_AVX512
#include <omp.h>

#include <cstdlib>
#include <cstring>

#include "kernels.h"
#include "simd.h"
#include "tile_plan.h"

namespace {

using cwm::AttentionArgs;
constexpr float kLog2e = 1.4426950408889634f;
constexpr float kNegInf = -__builtin_inff();
constexpr int64_t kSub = 128;    // keys per online-softmax step (even)
constexpr int64_t kSpan = 1024;  // keys per decode task (a multiple of kSub)
constexpr int kMaxHeads = 6;     // query heads sharing one pass over a V slab (register budget)
// Decode prefetches every line of the K rows this many keys ahead, one line per row at each step
// of the score loop next to its loads (measured on Zen 4: bursts of prefetches, fewer lines,
// other distances, or prefetching into L1 were all slower; the hardware prefetchers alone reach
// less than half of this).
constexpr int64_t kPrefetchKeys = 64;
// V rows are prefetched from the P.V loop, one sub-block ahead: spreading the prefetches over
// both phases keeps the memory busy through P.V too (about 8.5 -> 6.6 ms at 32k on Zen 4).
constexpr int64_t kPrefetchValues = kSub;
#define CWM_KV_PREFETCH_HINT _MM_HINT_T2

inline int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }
inline int64_t max64(int64_t a, int64_t b) { return a > b ? a : b; }
inline float maxf(float a, float b) { return a > b ? a : b; }

inline __m512bh as_bh(__m512i x) { return (__m512bh)x; }

template <typename T>
struct Buf {
    T* p = nullptr;
    explicit Buf(int64_t n) {
        size_t bytes = (static_cast<size_t>(n > 0 ? n : 1) * sizeof(T) + 63) / 64 * 64;
        p = static_cast<T*>(std::aligned_alloc(64, bytes));
    }
    ~Buf() { std::free(p); }
    Buf(const Buf&) = delete;
    Buf& operator=(const Buf&) = delete;
};

inline uint16_t to_bf16(float x) {  // round to nearest even (inputs are finite)
    uint32_t b;
    std::memcpy(&b, &x, sizeof b);
    b += 0x7fff + ((b >> 16) & 1);
    return static_cast<uint16_t>(b >> 16);
}

// Splits x * scale into bf16 hi + lo; returns whether any lo is nonzero.
bool split_query(const float* x, int64_t n, float scale, uint16_t* hi, uint16_t* lo) {
    bool any = false;
    for (int64_t i = 0; i < n; ++i) {
        const float v = x[i] * scale;
        hi[i] = to_bf16(v);
        lo[i] = to_bf16(v - bf16_to_float(hi[i]));
        any |= (lo[i] & 0x7fff) != 0;
    }
    return any;
}

// Index in head_dim of position i of the interleaved (permuted) accumulator order.
inline int64_t unpermute(int64_t i) {
    const int64_t u = i & ~int64_t(31), r = i & 31;
    return u + 8 * ((r & 15) >> 2) + 4 * (r >> 4) + (r & 3);
}

// Sums of each of 8 vectors, as one 8-lane vector.
inline __m256 reduce8(const __m512* a) {
    __m512 b[4];
    for (int i = 0; i < 4; ++i)
        b[i] = _mm512_add_ps(_mm512_unpacklo_ps(a[2 * i], a[2 * i + 1]), _mm512_unpackhi_ps(a[2 * i], a[2 * i + 1]));
    __m512 c[2];
    for (int i = 0; i < 2; ++i) {
        const __m512d x = _mm512_castps_pd(b[2 * i]), y = _mm512_castps_pd(b[2 * i + 1]);
        c[i] = _mm512_add_ps(_mm512_castpd_ps(_mm512_unpacklo_pd(x, y)), _mm512_castpd_ps(_mm512_unpackhi_pd(x, y)));
    }
    // Each 128-bit lane of c[0] holds keys 0..3, of c[1] keys 4..7: fold the four lanes.
    const __m512 d = _mm512_add_ps(_mm512_shuffle_f32x4(c[0], c[1], 0x88), _mm512_shuffle_f32x4(c[0], c[1], 0xDD));
    const __m512 e = _mm512_add_ps(d, _mm512_shuffle_f32x4(d, d, 0xB1));  // lanes (0+1, 2+3) pairwise
    return _mm512_castps512_ps256(_mm512_shuffle_f32x4(e, e, 0x08));
}

// Scores of 8 keys (rows kr, bf16) for NH query heads (hi/lo parts at q*[h], rows D apart; LO
// false: lo is zero, as for a query from a bf16 model), D % 32 == 0. Each K load feeds NH heads.
template <int NH, bool LO>
inline void scores8(const uint16_t* const* kr, const uint16_t* qh, const uint16_t* ql, int64_t D, float* s,
                    int64_t lds, const uint16_t* const* pf_a, const uint16_t* const* pf_b) {
    __m512 acc[NH][8];
    for (int h = 0; h < NH; ++h)
        for (int j = 0; j < 8; ++j) acc[h][j] = _mm512_setzero_ps();
    for (int64_t d = 0; d < D; d += 32) {
        __m512bh qv[NH];
        for (int h = 0; h < NH; ++h) qv[h] = as_bh(_mm512_loadu_si512(qh + h * D + d));
        // One 64-byte line (32 bf16) of each of 8 rows per step, alongside the loads.
        if (pf_a)
            for (int j = 0; j < 8; ++j) _mm_prefetch(reinterpret_cast<const char*>(pf_a[j] + d), CWM_KV_PREFETCH_HINT);
        if (pf_b)
            for (int j = 0; j < 8; ++j) _mm_prefetch(reinterpret_cast<const char*>(pf_b[j] + d), CWM_KV_PREFETCH_HINT);
        for (int j = 0; j < 8; ++j) {
            const __m512bh k = as_bh(_mm512_loadu_si512(kr[j] + d));
            for (int h = 0; h < NH; ++h) {
                acc[h][j] = _mm512_dpbf16_ps(acc[h][j], k, qv[h]);
                if (LO) acc[h][j] = _mm512_dpbf16_ps(acc[h][j], k, as_bh(_mm512_loadu_si512(ql + h * D + d)));
            }
        }
    }
    for (int h = 0; h < NH; ++h) _mm256_storeu_ps(s + h * lds, reduce8(acc[h]));
}

// All G heads; prefetches the rows kpf (in the first head group) and vpf (in the last; may be null).
template <bool LO>
inline void scores8_heads(int64_t G, const uint16_t* const* kr, const uint16_t* qh, const uint16_t* ql, int64_t D,
                          float* s, int64_t lds, const uint16_t* const* kpf, const uint16_t* const* vpf) {
    const int64_t groups = (G + 2) / 3;
    for (int64_t i = 0, g = 0; i < groups; ++i, g += 3) {
        const uint16_t* const* pa = i == 0 ? kpf : nullptr;
        const uint16_t* const* pb = i == groups - 1 ? vpf : nullptr;
        if (G - g >= 3) scores8<3, LO>(kr, qh + g * D, ql + g * D, D, s + g * lds, lds, pa, pb);
        else if (G - g == 2) scores8<2, LO>(kr, qh + g * D, ql + g * D, D, s + g * lds, lds, pa, pb);
        else scores8<1, LO>(kr, qh + g * D, ql + g * D, D, s + g * lds, lds, pa, pb);
    }
}

inline __m512bh pair_bcast(const uint16_t* p) {
    int32_t x;
    std::memcpy(&x, p, sizeof x);
    return as_bh(_mm512_set1_epi32(x));
}

// acc[h][d0 .. d0 + 16 NC) += sum over key pairs of P[h] . V for NH heads; vr holds 2 * npairs
// row pointers, p16 the bf16 weights of head h at p16 + h * ldp.
template <int NH, int NC>
inline void pv_slab(const uint16_t* const* vr, int64_t npairs, int64_t d0, const uint16_t* p16, int64_t ldp,
                    float* acc, int64_t lda, const uint16_t* const* vpf) {
    __m512 a[NH][NC];
    for (int h = 0; h < NH; ++h)
        for (int c = 0; c < NC; ++c) a[h][c] = _mm512_loadu_ps(acc + h * lda + d0 + 16 * c);
    for (int64_t i = 0; i < npairs; ++i) {
        const uint16_t* r0 = vr[2 * i] + d0;
        const uint16_t* r1 = vr[2 * i + 1] + d0;
        if (vpf)  // the same columns of the next block's rows
            for (int c = 0; c < NC / 2; ++c) {
                _mm_prefetch(reinterpret_cast<const char*>(vpf[2 * i] + d0 + 32 * c), CWM_KV_PREFETCH_HINT);
                _mm_prefetch(reinterpret_cast<const char*>(vpf[2 * i + 1] + d0 + 32 * c), CWM_KV_PREFETCH_HINT);
            }
        __m512bh x[NC];
        for (int c = 0; c < NC / 2; ++c) {
            const __m512i u = _mm512_loadu_si512(r0 + 32 * c), w = _mm512_loadu_si512(r1 + 32 * c);
            x[2 * c] = as_bh(_mm512_unpacklo_epi16(u, w));
            x[2 * c + 1] = as_bh(_mm512_unpackhi_epi16(u, w));
        }
        for (int h = 0; h < NH; ++h) {
            const __m512bh pp = pair_bcast(p16 + h * ldp + 2 * i);
            for (int c = 0; c < NC; ++c) a[h][c] = _mm512_dpbf16_ps(a[h][c], x[c], pp);
        }
    }
    for (int h = 0; h < NH; ++h)
        for (int c = 0; c < NC; ++c) _mm512_storeu_ps(acc + h * lda + d0 + 16 * c, a[h][c]);
}

template <int NC>
inline void pv_heads_nc(int nh, const uint16_t* const* vr, int64_t npairs, int64_t d0, const uint16_t* p16,
                        int64_t ldp, float* acc, int64_t lda, const uint16_t* const* vpf) {
    switch (nh) {
        case 1: pv_slab<1, NC>(vr, npairs, d0, p16, ldp, acc, lda, vpf); break;
        case 2: pv_slab<2, NC>(vr, npairs, d0, p16, ldp, acc, lda, vpf); break;
        case 3: pv_slab<3, NC>(vr, npairs, d0, p16, ldp, acc, lda, vpf); break;
        case 4: pv_slab<4, NC>(vr, npairs, d0, p16, ldp, acc, lda, vpf); break;
        case 5: pv_slab<5, NC>(vr, npairs, d0, p16, ldp, acc, lda, vpf); break;
        default: pv_slab<6, NC>(vr, npairs, d0, p16, ldp, acc, lda, vpf); break;
    }
}

// acc[h] (h < nh, rows lda apart, permuted order) += P[h] . V over 2 * npairs keys.
inline void pv_heads(int64_t nh, const uint16_t* const* vr, int64_t npairs, int64_t D, const uint16_t* p16,
                     int64_t ldp, float* acc, int64_t lda, const uint16_t* const* vpf) {
    for (int64_t h0 = 0; h0 < nh; h0 += kMaxHeads) {
        const int n = static_cast<int>(min64(kMaxHeads, nh - h0));
        int64_t d0 = 0;
        const uint16_t* const* pf = h0 == 0 ? vpf : nullptr;
        for (; d0 + 64 <= D; d0 += 64) pv_heads_nc<4>(n, vr, npairs, d0, p16 + h0 * ldp, ldp, acc + h0 * lda, lda, pf);
        if (d0 < D) pv_heads_nc<2>(n, vr, npairs, d0, p16 + h0 * ldp, ldp, acc + h0 * lda, lda, pf);
    }
}

// Online-softmax step for G rows of kSub scores (row g at s + g * kSub; positions >= nk are
// ignored; scores times sc are in log2 units): updates m and l, rescales acc rows (D apart) whose
// maximum moved, and writes the bf16 weights (zero past nk) to p16. shift has room for G floats.
inline void softmax_rows(int64_t G, const float* s, int64_t nk, float sc, float* m, float* l, float* acc, int64_t D,
                         uint16_t* p16, float* shift) {
    const __m512 vsc = _mm512_set1_ps(sc);
    for (int64_t g = 0; g < G; ++g) {
        const float* sg = s + g * kSub;
        __m512 vm = _mm512_set1_ps(kNegInf);
        for (int64_t j = 0; j < nk; j += 16) {
            const __mmask16 valid = j + 16 <= nk ? 0xFFFF : static_cast<__mmask16>((1u << (nk - j)) - 1);
            vm = _mm512_mask_max_ps(vm, valid, vm, _mm512_loadu_ps(sg + j));
        }
        const float mnew = maxf(m[g], _mm512_reduce_max_ps(vm) * sc);
        const __m512 vmn = _mm512_set1_ps(mnew);
        __m512 sum = _mm512_setzero_ps();
        for (int64_t j = 0; j < kSub; j += 16) {
            __m512 p = Vec512::exp2(_mm512_fmsub_ps(_mm512_loadu_ps(sg + j), vsc, vmn));
            if (j + 16 > nk)
                p = _mm512_maskz_mov_ps(j >= nk ? 0 : static_cast<__mmask16>((1u << (nk - j)) - 1), p);
            const __m256i pb = (__m256i)_mm512_cvtneps_pbh(p);
            _mm256_storeu_si256(reinterpret_cast<__m256i*>(p16 + g * kSub + j), pb);
            sum = _mm512_add_ps(sum, _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(pb), 16)));
        }
        shift[g] = m[g] - mnew;  // -inf on the first step
        m[g] = mnew;
        l[g] = _mm512_reduce_add_ps(sum);  // the new weights; combined with alpha below
    }
    // alpha = 2^shift for 16 heads at a time; heads whose maximum moved rescale acc.
    for (int64_t g0 = 0; g0 < G; g0 += 16) {
        const __mmask16 k = G - g0 >= 16 ? 0xFFFF : static_cast<__mmask16>((1u << (G - g0)) - 1);
        const __m512 alpha = Vec512::exp2(_mm512_maskz_loadu_ps(k, shift + g0));
        _mm512_mask_storeu_ps(shift + g0, k, alpha);
        __mmask16 moved = _mm512_mask_cmp_ps_mask(k, alpha, _mm512_set1_ps(1.0f), _CMP_NEQ_OQ);
        while (moved) {
            const int i = __builtin_ctz(moved);
            moved &= moved - 1;
            float* o = acc + (g0 + i) * D;
            const __m512 va = _mm512_set1_ps(shift[g0 + i]);
            for (int64_t d = 0; d < D; d += 16) _mm512_storeu_ps(o + d, _mm512_mul_ps(_mm512_loadu_ps(o + d), va));
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Decode: tasks are (kv head, span of keys); each runs an online softmax over sub-blocks of kSub
// keys for all G heads of the group and leaves (m, l, acc) to be merged.

void attention_decode(const AttentionArgs& a) {
    const int64_t H = a.H, Hkv = a.Hkv, C = a.C, D = a.D, G = H / Hkv;
    const int64_t pos = a.start_pos;
    const int64_t lo = a.window > 0 ? max64(0, pos - a.window + 1) : 0;
    const int64_t n = pos - lo + 1;
    const int64_t nspan = (n + kSpan - 1) / kSpan;
    const int64_t tasks = Hkv * nspan;
    const uint16_t* K = static_cast<const uint16_t*>(a.k);
    const uint16_t* V = static_cast<const uint16_t*>(a.v);
    Buf<uint16_t> qh(H * D), ql(H * D), zero_row(D);
    const float qscale = kLog2e / __builtin_sqrtf(static_cast<float>(D));
    // A bf16 query (a bf16 model) scaled by qscale is not bf16 exact; scaling after the
    // product keeps the single-pass scores exact for it.
    const bool split = split_query(a.q, H * D, 1.0f, qh.p, ql.p) && !a.round_query;
    if (split) split_query(a.q, H * D, qscale, qh.p, ql.p);
    const float sscale = split ? 1.0f : qscale;
    std::memset(zero_row.p, 0, D * sizeof(uint16_t));
    Buf<float> part_acc(tasks * G * D), part_m(tasks * G), part_l(tasks * G);

#pragma omp parallel if (2.0 * H * n * D >= double(1 << 20))
    {
        Buf<float> s(G * kSub);
        std::memset(s.p, 0, G * kSub * sizeof(float));  // entries past a short block are read, then masked
        Buf<uint16_t> p16(G * kSub);
        const uint16_t* kr[kSub];
        const uint16_t* vr[kSub];
        const uint16_t* vnext[kSub];
        Buf<float> shift(G), lsave(G);
#pragma omp for schedule(dynamic, 1)
        for (int64_t task = 0; task < tasks; ++task) {
            const int64_t hk = task / nspan, sp = task % nspan;
            const int64_t t0 = lo + sp * kSpan, t1 = min64(pos + 1, t0 + kSpan);
            const uint16_t* Kh = K + hk * C * D;
            const uint16_t* Vh = V + hk * C * D;
            float* acc = part_acc.p + task * G * D;
            float* m = part_m.p + task * G;
            float* l = part_l.p + task * G;
            for (int64_t i = 0; i < G * D; ++i) acc[i] = 0.0f;
            for (int64_t g = 0; g < G; ++g) {
                m[g] = kNegInf;
                l[g] = 0.0f;
            }
            for (int64_t j0 = t0; j0 < t1; j0 += kSub) {
                const int64_t nk = min64(kSub, t1 - j0);
                int64_t slot = j0 % C;
                for (int64_t j = 0; j < kSub; ++j) {
                    if (j < nk) {
                        kr[j] = Kh + slot * D;
                        vr[j] = Vh + slot * D;
                        if (++slot == C) slot = 0;
                    } else {
                        kr[j] = vr[j] = zero_row.p;
                    }
                }
                for (int64_t jb = 0; jb < nk; jb += 8) {
                    const uint16_t* kpf[8];
                    // (one modulo per step: a division per row costs as much as its dot products)
                    int64_t fslot = (j0 + jb + kPrefetchKeys) % C;
                    for (int64_t j = 0; j < 8; ++j) {
                        const bool live = j0 + jb + kPrefetchKeys + j <= pos;
                        kpf[j] = live ? Kh + fslot * D : zero_row.p;
                        if (++fslot == C) fslot = 0;
                    }
                    const uint16_t* qhg = qh.p + hk * G * D;
                    const uint16_t* qlg = ql.p + hk * G * D;
                    if (split) scores8_heads<true>(G, kr + jb, qhg, qlg, D, s.p + jb, kSub, kpf, nullptr);
                    else scores8_heads<false>(G, kr + jb, qhg, qlg, D, s.p + jb, kSub, kpf, nullptr);
                }
                for (int64_t g = 0; g < G; ++g) lsave.p[g] = l[g];
                softmax_rows(G, s.p, nk, sscale, m, l, acc, D, p16.p, shift.p);
                for (int64_t g = 0; g < G; ++g) l[g] += lsave.p[g] * shift.p[g];
                {
                    int64_t fs = (j0 + kPrefetchValues) % C;
                    for (int64_t j = 0; j < kSub; ++j) {
                        vnext[j] = j0 + kPrefetchValues + j <= pos ? Vh + fs * D : zero_row.p;
                        if (++fs == C) fs = 0;
                    }
                }
                pv_heads(G, vr, (nk + 1) / 2, D, p16.p, kSub, acc, D, vnext);
            }
        }
    }

    for (int64_t hk = 0; hk < Hkv; ++hk) {
        for (int64_t g = 0; g < G; ++g) {
            float M = kNegInf;
            for (int64_t b = 0; b < nspan; ++b) M = maxf(M, part_m.p[(hk * nspan + b) * G + g]);
            float L = 0.0f;
            __m512 o[8];
            float* out = a.out + (hk * G + g) * D;
            for (int64_t d0 = 0; d0 < D; d0 += 128) {
                const int64_t nc = min64(128, D - d0) / 16;
                for (int c = 0; c < nc; ++c) o[c] = _mm512_setzero_ps();
                float Lc = 0.0f;
                for (int64_t b = 0; b < nspan; ++b) {
                    const int64_t task = hk * nspan + b;
                    const float w = __builtin_exp2f(part_m.p[task * G + g] - M);
                    Lc += w * part_l.p[task * G + g];
                    const __m512 vw = _mm512_set1_ps(w);
                    const float* src = part_acc.p + (task * G + g) * D + d0;
                    for (int c = 0; c < nc; ++c) o[c] = _mm512_fmadd_ps(vw, _mm512_loadu_ps(src + 16 * c), o[c]);
                }
                L = Lc;
                alignas(64) float tmp[128];
                const __m512 inv = _mm512_set1_ps(1.0f / L);
                for (int c = 0; c < nc; ++c) _mm512_store_ps(tmp + 16 * c, _mm512_mul_ps(o[c], inv));
                for (int64_t i = 0; i < nc * 16; ++i) out[unpermute(d0 + i)] = tmp[i];
            }
        }
    }
}


// ---------------------------------------------------------------------------------------------
// Prefill / chunk: the task plan of tile_plan.h (shared with kernels_impl.h). Per key tile, K is
// packed transposed in head_dim pairs (lanes = keys) and V interleaved in key pairs (lanes =
// head_dim, permuted as in decode) once, then shared by all rows of the tile.

static_assert(kKeyTile == 64, "qk_tile covers a key tile as 4 x 16 lanes");
constexpr int64_t kTileRows = 384;  // query rows (positions x group heads) per prefill tile

inline uint32_t load_u32(const uint16_t* p) {
    uint32_t x;
    std::memcpy(&x, p, sizeof x);
    return x;
}

// S[r][0 .. 64) = q[r] . K[c] for MR rows; q rows hold D/2 bf16 pairs (hi, and lo when LO).
template <int MR, bool LO>
inline void qk_tile(const uint16_t* qh, const uint16_t* ql, int64_t D, const uint32_t* kt, float* S) {
    __m512 acc[MR][4];
    for (int r = 0; r < MR; ++r)
        for (int c = 0; c < 4; ++c) acc[r][c] = _mm512_setzero_ps();
    for (int64_t i = 0; i < D / 2; ++i) {
        __m512bh k[4];
        for (int c = 0; c < 4; ++c) k[c] = as_bh(_mm512_loadu_si512(kt + i * kKeyTile + 16 * c));
        for (int r = 0; r < MR; ++r) {
            const __m512bh h = as_bh(_mm512_set1_epi32(static_cast<int32_t>(load_u32(qh + r * D + 2 * i))));
            for (int c = 0; c < 4; ++c) acc[r][c] = _mm512_dpbf16_ps(acc[r][c], k[c], h);
            if (LO) {
                const __m512bh l = as_bh(_mm512_set1_epi32(static_cast<int32_t>(load_u32(ql + r * D + 2 * i))));
                for (int c = 0; c < 4; ++c) acc[r][c] = _mm512_dpbf16_ps(acc[r][c], k[c], l);
            }
        }
    }
    for (int r = 0; r < MR; ++r)
        for (int c = 0; c < 4; ++c) _mm512_storeu_ps(S + r * kKeyTile + 16 * c, acc[r][c]);
}

template <bool LO>
inline void qk_rows(int64_t rows, const uint16_t* qh, const uint16_t* ql, int64_t D, const uint32_t* kt, float* S) {
    int64_t r = 0;
    for (; r + 6 <= rows; r += 6) qk_tile<6, LO>(qh + r * D, ql + r * D, D, kt, S + r * kKeyTile);
    for (; r < rows; ++r) qk_tile<1, LO>(qh + r * D, ql + r * D, D, kt, S + r * kKeyTile);
}

// O[r][d0 .. d0 + 16 NC) += P[r] . V for MR rows; vi holds key pairs, 2 D bf16 each.
template <int MR, int NC>
inline void pv_tile(const uint16_t* vi, int64_t npairs, int64_t D, int64_t d0, const uint16_t* p16, float* O) {
    __m512 a[MR][NC];
    for (int r = 0; r < MR; ++r)
        for (int c = 0; c < NC; ++c) a[r][c] = _mm512_loadu_ps(O + r * D + d0 + 16 * c);
    for (int64_t i = 0; i < npairs; ++i) {
        __m512bh x[NC];
        for (int c = 0; c < NC; ++c) x[c] = as_bh(_mm512_loadu_si512(vi + i * 2 * D + 2 * (d0 + 16 * c)));
        for (int r = 0; r < MR; ++r) {
            const __m512bh pp = pair_bcast(p16 + r * kKeyTile + 2 * i);
            for (int c = 0; c < NC; ++c) a[r][c] = _mm512_dpbf16_ps(a[r][c], x[c], pp);
        }
    }
    for (int r = 0; r < MR; ++r)
        for (int c = 0; c < NC; ++c) _mm512_storeu_ps(O + r * D + d0 + 16 * c, a[r][c]);
}

inline void pv_rows(int64_t rows, const uint16_t* vi, int64_t npairs, int64_t D, const uint16_t* p16, float* O) {
    int64_t r = 0;
    for (; r + 6 <= rows; r += 6) {
        int64_t d0 = 0;
        for (; d0 + 64 <= D; d0 += 64) pv_tile<6, 4>(vi, npairs, D, d0, p16 + r * kKeyTile, O + r * D);
        if (d0 < D) pv_tile<6, 2>(vi, npairs, D, d0, p16 + r * kKeyTile, O + r * D);
    }
    for (; r < rows; ++r) {
        int64_t d0 = 0;
        for (; d0 + 64 <= D; d0 += 64) pv_tile<1, 4>(vi, npairs, D, d0, p16 + r * kKeyTile, O + r * D);
        if (d0 < D) pv_tile<1, 2>(vi, npairs, D, d0, p16 + r * kKeyTile, O + r * D);
    }
}

void attention_tiled(const AttentionArgs& a) {
    const int64_t T = a.T, H = a.H, C = a.C, D = a.D;
    const TilePlan plan = plan_tiles(a, kTileRows);
    const int64_t G = plan.G, R = plan.R;
    const uint16_t* K = static_cast<const uint16_t*>(a.k);
    const uint16_t* V = static_cast<const uint16_t*>(a.v);
    const float qscale = kLog2e / __builtin_sqrtf(static_cast<float>(D));
    Buf<uint16_t> qh(T * H * D), ql(T * H * D), zero_row(D);
    std::memset(zero_row.p, 0, D * sizeof(uint16_t));
    const bool split = split_query(a.q, T * H * D, 1.0f, qh.p, ql.p) && !a.round_query;
    if (split) split_query(a.q, T * H * D, qscale, qh.p, ql.p);
    const float sscale = split ? 1.0f : qscale;

#pragma omp parallel if (plan.work >= double(1 << 20))
    {
        Buf<uint16_t> Qh(R * D), Ql(R * D), P16(R * kKeyTile), Vi(kKeyTile * D);
        Buf<uint32_t> Kt(D / 2 * kKeyTile);
        Buf<float> O(R * D), S(R * kKeyTile), mrow(R), lrow(R), shift(R), psum(R);
        const uint16_t* vr[kKeyTile];
#pragma omp for schedule(dynamic, 1)
        for (int64_t task = 0; task < plan.tasks; ++task) {
            const QueryTile qt = query_tile(a, plan, task);
            const int64_t hk = qt.hk, rows = qt.rows;
            for (int64_t t = 0; t < qt.nt; ++t) {
                const int64_t src = ((qt.t0 + t) * H + hk * G) * D;
                std::memcpy(Qh.p + t * G * D, qh.p + src, G * D * sizeof(uint16_t));
                std::memcpy(Ql.p + t * G * D, ql.p + src, G * D * sizeof(uint16_t));
            }
            reset_rows(rows, D, O.p, mrow.p, lrow.p);
            for (int64_t kt0 = qt.klo; kt0 <= qt.i_last; kt0 += kKeyTile) {
                const int64_t nk = qt.keys(kt0);
                int64_t slot = kt0 % C;
                for (int64_t c = 0; c < kKeyTile; ++c) {
                    const uint16_t* kr = zero_row.p;
                    vr[c] = zero_row.p;
                    if (c < nk) {
                        kr = K + (hk * C + slot) * D;
                        vr[c] = V + (hk * C + slot) * D;
                        if (++slot == C) slot = 0;
                    }
                    for (int64_t i = 0; i < D / 2; ++i) Kt.p[i * kKeyTile + c] = load_u32(kr + 2 * i);
                }
                const int64_t npairs = (nk + 1) / 2;
                for (int64_t i = 0; i < npairs; ++i)
                    for (int64_t u = 0; u < D; u += 32) {
                        const __m512i x = _mm512_loadu_si512(vr[2 * i] + u), y = _mm512_loadu_si512(vr[2 * i + 1] + u);
                        _mm512_storeu_si512(Vi.p + i * 2 * D + 2 * u, _mm512_unpacklo_epi16(x, y));
                        _mm512_storeu_si512(Vi.p + i * 2 * D + 2 * u + 32, _mm512_unpackhi_epi16(x, y));
                    }
                if (split) qk_rows<true>(rows, Qh.p, Ql.p, D, Kt.p, S.p);
                else qk_rows<false>(rows, Qh.p, Ql.p, D, Kt.p, S.p);
                const bool full = qt.full(kt0);
                // Scores are in log2 units once multiplied by sscale (folded into max and exp).
                const __m512 vss = _mm512_set1_ps(sscale);
                for (int64_t r = 0; r < rows; ++r) {
                    float* s = S.p + r * kKeyTile;
                    if (!full) qt.mask(s, r, kt0, nk);
                    uint16_t* p = P16.p + r * kKeyTile;
                    __m512 vm = _mm512_set1_ps(kNegInf);
                    for (int64_t c = 0; c < kKeyTile; c += 16) vm = _mm512_max_ps(vm, _mm512_loadu_ps(s + c));
                    const float mnew = maxf(mrow.p[r], _mm512_reduce_max_ps(vm) * sscale);
                    if (mnew == kNegInf) {
                        std::memset(p, 0, kKeyTile * sizeof(uint16_t));
                        shift.p[r] = 0.0f;
                        psum.p[r] = 0.0f;
                        continue;
                    }
                    const __m512 vmn = _mm512_set1_ps(mnew);
                    __m512 sum = _mm512_setzero_ps();
                    for (int64_t c = 0; c < kKeyTile; c += 16) {
                        const __m512 x = _mm512_loadu_ps(s + c);
                        __m512 e = Vec512::exp2(_mm512_fmsub_ps(x, vss, vmn));
                        if (!full)  // masked keys (-inf) give exactly 0
                            e = _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(x, _mm512_set1_ps(kNegInf), _CMP_NEQ_OQ), e);
                        const __m256i pb = (__m256i)_mm512_cvtneps_pbh(e);
                        _mm256_storeu_si256(reinterpret_cast<__m256i*>(p + c), pb);
                        sum = _mm512_add_ps(sum, _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(pb), 16)));
                    }
                    shift.p[r] = mrow.p[r] - mnew;  // -inf on a row's first visible tile
                    psum.p[r] = _mm512_reduce_add_ps(sum);
                    mrow.p[r] = mnew;
                }
                // alpha = 2^shift for 16 rows at a time; rows whose maximum moved rescale O.
                for (int64_t r0 = 0; r0 < rows; r0 += 16) {
                    const __mmask16 m = rows - r0 >= 16 ? 0xFFFF : static_cast<__mmask16>((1u << (rows - r0)) - 1);
                    const __m512 alpha = Vec512::exp2(_mm512_maskz_loadu_ps(m, shift.p + r0));
                    _mm512_mask_storeu_ps(lrow.p + r0, m,
                                          _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, lrow.p + r0), alpha,
                                                          _mm512_maskz_loadu_ps(m, psum.p + r0)));
                    __mmask16 moved = _mm512_mask_cmp_ps_mask(m, alpha, _mm512_set1_ps(1.0f), _CMP_NEQ_OQ);
                    alignas(64) float av[16];
                    _mm512_store_ps(av, alpha);
                    while (moved) {
                        const int i = __builtin_ctz(moved);
                        moved &= moved - 1;
                        float* o = O.p + (r0 + i) * D;
                        const __m512 va = _mm512_set1_ps(av[i]);
                        for (int64_t d = 0; d < D; d += 16) _mm512_storeu_ps(o + d, _mm512_mul_ps(_mm512_loadu_ps(o + d), va));
                    }
                }
                pv_rows(rows, Vi.p, npairs, D, P16.p, O.p);
            }
            store_rows(a, qt, O.p, lrow.p, [](int64_t d) { return unpermute(d); });
        }
    }
}

}  // namespace

namespace cwm_avx512_bf16 {

bool attention(const AttentionArgs& a) {
    if (a.kv_type != cwm::KvType::BF16 || a.D % 32 != 0) return false;
    if (a.T == 1) attention_decode(a);
    else attention_tiled(a);
    return true;
}

}  // namespace cwm_avx512_bf16
