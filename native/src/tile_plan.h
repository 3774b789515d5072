// Task plan of the tiled (prefill / chunk) attention kernels, shared by the generic kernel of
// kernels_impl.h and the avx512-bf16 one: tiles of query rows (t, g) of one kv group against
// tiles of kKeyTile keys, online softmax. Key tiles wholly outside the causal window are never
// visited, so a sliding layer costs O(T * window). Scalar code only; like simd.h, everything
// has internal linkage, since each ISA translation unit compiles it with its own -m flags.
#pragma once

#include <algorithm>
#include <cstdint>

#include "kernels.h"

namespace {

constexpr int64_t kKeyTile = 64;  // keys per tile: a multiple of 2 * W for every ISA

struct TilePlan {
    int64_t G;      // query heads per kv head
    int64_t tq;     // query positions per tile
    int64_t R;      // rows per tile: row = t * G + g
    int64_t nqt;    // query tiles per kv head
    int64_t tasks;  // (kv head, query tile) pairs
    double work;    // multiply-adds of Q.K^T and P.V (at most), for the parallel threshold
};

// tile_rows: the rows (positions x group heads) a tile aims for; at least 8 positions.
inline TilePlan plan_tiles(const cwm::AttentionArgs& a, int64_t tile_rows) {
    TilePlan p;
    p.G = a.H / a.Hkv;
    p.tq = std::min(a.T, std::max<int64_t>(8, tile_rows / p.G));
    p.R = p.tq * p.G;
    p.nqt = (a.T + p.tq - 1) / p.tq;
    p.tasks = a.Hkv * p.nqt;
    const double span = a.window > 0 ? std::min(a.window, a.start_pos + a.T) : a.start_pos + a.T;
    p.work = 2.0 * a.T * a.H * span * a.D;
    return p;
}

// Query positions t0 .. t0 + nt of kv head hk (absolute positions i_first .. i_last).
struct QueryTile {
    int64_t hk, t0, nt, rows;
    int64_t i_first, i_last;
    int64_t klo;  // first key position any of its queries sees
    int64_t G, win;

    // Keys of the tile starting at kt0 that exist (the rest of the tile is padding).
    int64_t keys(int64_t kt0) const { return std::min(kKeyTile, i_last + 1 - kt0); }

    // Every key of the tile is visible to every query: no per-element mask.
    bool full(int64_t kt0) const { return kt0 + kKeyTile - 1 <= i_first && (win <= 0 || kt0 > i_last - win); }

    // Scores s[0 .. kKeyTile) of row r against the tile at kt0: -inf where the key is padding,
    // after the query or outside its window.
    void mask(float* s, int64_t r, int64_t kt0, int64_t nk) const {
        const int64_t i = i_first + r / G;
        for (int64_t c = 0; c < kKeyTile; ++c) {
            const int64_t j = kt0 + c;
            if (c >= nk || j > i || (win > 0 && j <= i - win)) s[c] = -__builtin_inff();
        }
    }
};

inline QueryTile query_tile(const cwm::AttentionArgs& a, const TilePlan& p, int64_t task) {
    QueryTile q;
    // Later query tiles see more keys: hand them out first.
    q.hk = task % a.Hkv;
    q.t0 = (p.nqt - 1 - task / a.Hkv) * p.tq;
    q.nt = std::min(p.tq, a.T - q.t0);
    q.rows = q.nt * p.G;
    q.i_first = a.start_pos + q.t0;
    q.i_last = q.i_first + q.nt - 1;
    q.klo = a.window > 0 ? std::max<int64_t>(0, q.i_first - a.window + 1) : 0;
    q.G = p.G;
    q.win = a.window;
    return q;
}

// Empty online-softmax state for the rows of a tile: O = 0, running max -inf, running sum 0.
inline void reset_rows(int64_t rows, int64_t D, float* O, float* m, float* l) {
    for (int64_t i = 0; i < rows * D; ++i) O[i] = 0.0f;
    for (int64_t r = 0; r < rows; ++r) {
        m[r] = -__builtin_inff();
        l[r] = 0.0f;
    }
}

// a.out rows of the tile = O rows (D apart) / their running sums (0 for a row that saw no key);
// column d of O goes to column col(d) of the output.
template <typename Col>
inline void store_rows(const cwm::AttentionArgs& a, const QueryTile& q, const float* O, const float* l, Col col) {
    const int64_t D = a.D;
    for (int64_t t = 0; t < q.nt; ++t)
        for (int64_t g = 0; g < q.G; ++g) {
            const int64_t r = t * q.G + g;
            const float inv = l[r] > 0.0f ? 1.0f / l[r] : 0.0f;
            float* dst = a.out + ((q.t0 + t) * a.H + q.hk * q.G + g) * D;
            const float* src = O + r * D;
            for (int64_t d = 0; d < D; ++d) dst[col(d)] = src[d] * inv;
        }
}

}  // namespace
