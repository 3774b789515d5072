// The runtime's transformer forward pass (cwm_lsp/runtime/model.py) as one native call per chunk
// of tokens: embedding lookup, RMSNorm, q/k/v projections, RoPE, KV-cache write, hybrid attention,
// o-projection, SwiGLU MLP, final norm and head. Python pays one call per decode step instead of
// ~15 PyTorch operations per layer; the matmuls and attention are the kernels the per-operation
// path runs (dispatch.h), the element-wise steps follow model.py's formulas in float32.
//
// Weights are registered once (the Decoder keeps references to their arrays). KV caches belong
// to Python's KVCache, which grows them by reallocation: each call receives their addresses,
// already validated by cwm_lsp/runtime/native_step.py, and the GIL is released while it runs.
#include "decoder.h"

#include <nanobind/ndarray.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

#include "arrays.h"
#include "dispatch.h"
#include "kernels.h"

namespace nb = nanobind;

namespace {

using cwm_arrays::Array;
using cwm_arrays::bf16_dtype;
using cwm_arrays::check_contiguous;
using cwm_arrays::f16_dtype;
using cwm_arrays::fail;
using cwm::f16_to_f32;

// bfloat16 weights: a bfloat16 array, or uint16 holding bfloat16 bit patterns (numpy has no
// bfloat16, and the torch-free path reads bf16 checkpoints as uint16).
bool holds_bf16(const Array& a) { return a.dtype() == bf16_dtype() || a.dtype() == nb::dtype<uint16_t>(); }

void check_shape(const Array& a, const std::string& name, std::initializer_list<int64_t> shape) {
    std::string want = "[";
    for (int64_t s : shape) want += (want.size() > 1 ? ", " : "") + std::to_string(s);
    want += "]";
    bool ok = a.ndim() == shape.size();
    size_t i = 0;
    for (int64_t s : shape) ok = ok && i < a.ndim() && static_cast<int64_t>(a.shape(i++)) == s;
    if (!ok) fail(name + " must have shape " + want);
    check_contiguous(a, name);
}

float bf16_to_f32(uint16_t h) {
    const uint32_t bits = static_cast<uint32_t>(h) << 16;
    float f;
    std::memcpy(&f, &bits, sizeof f);
    return f;
}

// IEEE half -> float, exact (GGUF files store token embeddings as float16).
// Round to nearest even, as torch's float32 -> bfloat16 conversion (NaN stays NaN).
uint16_t f32_to_bf16(float f) {
    uint32_t u;
    std::memcpy(&u, &f, sizeof u);
    if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((u >> 16) | 0x40);
    u += 0x7fffu + ((u >> 16) & 1u);
    return static_cast<uint16_t>(u >> 16);
}

enum class Kind { None, F32, BF16, I8, I4 };

struct Linear {
    Kind kind = Kind::None;
    const void* w = nullptr;
    const float* scales = nullptr;
    const uint8_t* zeros = nullptr;
    int64_t N = 0, K = 0, G = 0;
    int32_t uniform_zero = -1;
    const uint16_t* scales_f16 = nullptr;  // int4 only: float16 scales instead of `scales`

    void run(const float* x, int64_t M, float* out) const {
        switch (kind) {
            case Kind::F32:
            case Kind::BF16:
                cwm::run_float(cwm::FloatArgs{x, w, kind == Kind::BF16, out, M, N, K});
                return;
            case Kind::I8:
                cwm::run_int8(cwm::Int8Args{x, static_cast<const int8_t*>(w), scales, out, M, N, K});
                return;
            case Kind::I4:
                cwm::run_int4(cwm::Int4Args{x, static_cast<const uint8_t*>(w), scales, zeros, out, M, N, K, G,
                                            uniform_zero, scales_f16});
                return;
            case Kind::None: return;
        }
    }
};

constexpr int kLinearsPerLayer = 7;  // q, k, v, o, gate, up, down
const char* const kLinearNames[kLinearsPerLayer] = {"q_proj", "k_proj", "v_proj", "o_proj",
                                                    "gate_proj", "up_proj", "down_proj"};

// Scratch activations, reused across calls of the same thread.
struct Buffers {
    std::vector<float> x, xn, q, k, v, att, gate, up, tmp, cos, sin;
};

void rms_norm(const float* x, const float* w, float* out, int64_t n, float eps) {
    double squares = 0.0;
    for (int64_t i = 0; i < n; ++i) squares += static_cast<double>(x[i]) * x[i];
    const float mean = static_cast<float>(squares / static_cast<double>(n));
    const float r = 1.0f / std::sqrt(mean + eps);
    for (int64_t i = 0; i < n; ++i) out[i] = w[i] * (x[i] * r);
}

// x[h][i] for heads of `dim` values: (x1, x2) -> (x1 cos - x2 sin, x2 cos + x1 sin), halves apart.
void rope(float* x, int64_t heads, int64_t dim, const float* cos, const float* sin) {
    const int64_t half = dim / 2;
    for (int64_t h = 0; h < heads; ++h) {
        float* v = x + h * dim;
        for (int64_t i = 0; i < half; ++i) {
            const float a = v[i], b = v[i + half];
            v[i] = a * cos[i] + (-b) * sin[i];
            v[i + half] = b * cos[i] + a * sin[i];
        }
    }
}

class Decoder {
public:
    Decoder(int64_t layers, int64_t hidden, int64_t heads, int64_t kv_heads, int64_t head_dim,
            int64_t intermediate, int64_t vocab, double eps, Array inv_freq, std::vector<int64_t> windows,
            Array embed, Array final_norm)
        : L_(layers), hidden_(hidden), H_(heads), Hkv_(kv_heads), D_(head_dim), inter_(intermediate),
          vocab_(vocab), eps_(static_cast<float>(eps)), windows_(std::move(windows)) {
        if (layers <= 0 || hidden <= 0 || heads <= 0 || kv_heads <= 0 || head_dim <= 0 || intermediate <= 0 ||
            vocab <= 0)
            fail("model dimensions must be positive");
        if (heads % kv_heads != 0) fail("num_attention_heads must be a multiple of num_key_value_heads");
        if (head_dim % 2 != 0) fail("head_dim must be even");
        if (static_cast<int64_t>(windows_.size()) != layers) fail("windows must have one entry per layer");
        if (inv_freq.dtype() != nb::dtype<float>()) fail("inv_freq must be float32");
        check_shape(inv_freq, "inv_freq", {head_dim / 2});
        inv_freq_.assign(static_cast<const float*>(inv_freq.data()),
                         static_cast<const float*>(inv_freq.data()) + head_dim / 2);
        if (holds_bf16(embed)) embed_bf16_ = true;
        else if (embed.dtype() == f16_dtype()) embed_f16_ = true;
        else if (embed.dtype() != nb::dtype<float>()) fail("embed must be float32, bfloat16 or float16");
        if (embed.ndim() != 2 || static_cast<int64_t>(embed.shape(1)) != hidden)
            fail("embed must be [vocab, hidden_size]");
        check_contiguous(embed, "embed");
        embed_rows_ = static_cast<int64_t>(embed.shape(0));
        embed_ = embed.data();
        final_norm_ = norm_vector(final_norm, "norm");
        keep_.push_back(embed);
        linears_.resize(static_cast<size_t>(layers * kLinearsPerLayer + 1));
        norms_.resize(static_cast<size_t>(layers * 2), nullptr);
    }

    void set_norms(int64_t layer, Array input, Array post) {
        check_layer(layer);
        norms_[2 * layer] = norm_vector(input, "input_layernorm");
        norms_[2 * layer + 1] = norm_vector(post, "post_attention_layernorm");
    }

    void set_float(int64_t slot, Array w) {
        Linear& lin = slot_linear(slot);
        const bool bf16 = holds_bf16(w);
        if (!bf16 && w.dtype() != nb::dtype<float>()) fail(slot_name(slot) + " weight must be float32 or bfloat16");
        check_shape(w, slot_name(slot) + " weight", {out_features(slot), in_features(slot)});
        lin = Linear{bf16 ? Kind::BF16 : Kind::F32, w.data(), nullptr, nullptr, out_features(slot), in_features(slot), 0};
        keep_.push_back(w);
    }

    void set_int8(int64_t slot, Array qweight, Array scales) {
        Linear& lin = slot_linear(slot);
        const int64_t N = out_features(slot), K = in_features(slot);
        const std::string name = slot_name(slot);
        if (qweight.dtype() != nb::dtype<int8_t>()) fail(name + " qweight must be int8");
        if (scales.dtype() != nb::dtype<float>()) fail(name + " scales must be float32");
        check_shape(qweight, name + " qweight", {N, K});
        check_shape(scales, name + " scales", {N});
        lin = Linear{Kind::I8, qweight.data(), static_cast<const float*>(scales.data()), nullptr, N, K, 0};
        keep_.push_back(qweight);
        keep_.push_back(scales);
    }

    void set_int4(int64_t slot, Array qweight, Array scales, Array zeros, int64_t group_size) {
        Linear& lin = slot_linear(slot);
        const int64_t N = out_features(slot), K = in_features(slot);
        const std::string name = slot_name(slot);
        if (K % 2 != 0 || group_size <= 0 || K % group_size != 0) fail(name + ": group_size must divide an even K");
        if (qweight.dtype() != nb::dtype<uint8_t>()) fail(name + " qweight must be uint8");
        const bool half = scales.dtype() == f16_dtype();
        if (!half && scales.dtype() != nb::dtype<float>()) fail(name + " scales must be float32 or float16");
        if (zeros.dtype() != nb::dtype<uint8_t>()) fail(name + " zeros must be uint8");
        check_shape(qweight, name + " qweight", {N, K / 2});
        check_shape(scales, name + " scales", {N, K / group_size});
        check_shape(zeros, name + " zeros", {N, K / group_size});
        lin = Linear{Kind::I4, qweight.data(), half ? nullptr : static_cast<const float*>(scales.data()),
                     static_cast<const uint8_t*>(zeros.data()), N, K, group_size};
        if (half) lin.scales_f16 = static_cast<const uint16_t*>(scales.data());
        lin.uniform_zero = cwm::uniform_zero(lin.zeros, N * (K / group_size));
        keep_.push_back(qweight);
        keep_.push_back(scales);
        keep_.push_back(zeros);
    }

    // Slots still missing a weight, by name (empty when the model is complete).
    std::vector<std::string> missing() const {
        std::vector<std::string> out;
        for (int64_t s = 0; s < static_cast<int64_t>(linears_.size()); ++s)
            if (linears_[s].kind == Kind::None) out.push_back(slot_name(s));
        for (int64_t l = 0; l < L_; ++l)
            if (norms_[2 * l] == nullptr) out.push_back("layer " + std::to_string(l) + " norms");
        return out;
    }

    // Runs tokens at positions start_pos.. and writes logits [rows, vocab] to `out`, rows = T when
    // all_logits, else 1 (the last token). keys/values: per layer, the address of the cache
    // [kv_heads, capacity, head_dim] (float32, or bfloat16 when kv_bf16); the caller has made
    // room (capacity >= every key position this chunk needs) and keeps them alive.
    void forward(const std::vector<int64_t>& tokens, int64_t start_pos, const std::vector<uintptr_t>& keys,
                 const std::vector<uintptr_t>& values, const std::vector<int64_t>& capacities, bool kv_bf16,
                 uintptr_t out, bool all_logits, int threads) {
        const int64_t T = static_cast<int64_t>(tokens.size());
        if (T == 0) fail("no tokens to run");
        if (start_pos < 0) fail("start_pos must be >= 0");
        if (!missing().empty()) fail("the model is incomplete: " + missing().front() + " was never set");
        const size_t L = static_cast<size_t>(L_);
        if (keys.size() != L || values.size() != L || capacities.size() != L) fail("one cache per layer is needed");
        for (int64_t id : tokens)
            if (id < 0 || id >= embed_rows_)
                fail("token id " + std::to_string(id) + " is outside the vocabulary (0.." +
                     std::to_string(embed_rows_ - 1) + ")");
        for (size_t l = 0; l < L; ++l) {
            const int64_t w = windows_[l];
            const int64_t lo = w > 0 ? std::max<int64_t>(0, start_pos - w + 1) : 0;
            if (start_pos + T - lo > capacities[l] || T > capacities[l] || keys[l] == 0 || values[l] == 0)
                fail("layer " + std::to_string(l) + " cache (capacity " + std::to_string(capacities[l]) +
                     ") cannot hold the positions this chunk needs");
        }
        if (out == 0) fail("no output buffer");
        nb::gil_scoped_release release;
        if (threads > 0) omp_set_num_threads(threads);
        run(tokens, start_pos, keys, values, capacities, kv_bf16, reinterpret_cast<float*>(out), all_logits);
    }

    int64_t vocab() const { return vocab_; }

private:
    void run(const std::vector<int64_t>& tokens, int64_t start_pos, const std::vector<uintptr_t>& keys,
             const std::vector<uintptr_t>& values, const std::vector<int64_t>& capacities, bool kv_bf16,
             float* logits, bool all_logits) const {
        thread_local Buffers b;
        const int64_t T = static_cast<int64_t>(tokens.size());
        const int64_t hd = hidden_, qd = H_ * D_, kvd = Hkv_ * D_, half = D_ / 2;
        auto sized = [](std::vector<float>& v, int64_t n) -> float* {
            if (static_cast<int64_t>(v.size()) < n) v.resize(static_cast<size_t>(n));
            return v.data();
        };
        float* x = sized(b.x, T * hd);
        float* xn = sized(b.xn, T * hd);
        float* q = sized(b.q, T * qd);
        float* k = sized(b.k, T * kvd);
        float* v = sized(b.v, T * kvd);
        float* att = sized(b.att, T * qd);
        float* gate = sized(b.gate, T * inter_);
        float* up = sized(b.up, T * inter_);
        float* tmp = sized(b.tmp, T * hd);
        float* cos = sized(b.cos, T * half);
        float* sin = sized(b.sin, T * half);

        for (int64_t t = 0; t < T; ++t) {
            if (embed_bf16_) {
                const uint16_t* row = static_cast<const uint16_t*>(embed_) + tokens[t] * hd;
                for (int64_t i = 0; i < hd; ++i) x[t * hd + i] = bf16_to_f32(row[i]);
            } else if (embed_f16_) {
                const uint16_t* row = static_cast<const uint16_t*>(embed_) + tokens[t] * hd;
                for (int64_t i = 0; i < hd; ++i) x[t * hd + i] = f16_to_f32(row[i]);
            } else {
                std::memcpy(x + t * hd, static_cast<const float*>(embed_) + tokens[t] * hd, hd * sizeof(float));
            }
            const float pos = static_cast<float>(start_pos + t);
            for (int64_t i = 0; i < half; ++i) {
                const float angle = pos * inv_freq_[i];
                cos[t * half + i] = std::cos(angle);
                sin[t * half + i] = std::sin(angle);
            }
        }

        for (int64_t l = 0; l < L_; ++l) {
            const Linear* lin = &linears_[l * kLinearsPerLayer];
            for (int64_t t = 0; t < T; ++t) rms_norm(x + t * hd, norms_[2 * l], xn + t * hd, hd, eps_);
            lin[0].run(xn, T, q);
            lin[1].run(xn, T, k);
            lin[2].run(xn, T, v);
            for (int64_t t = 0; t < T; ++t) {
                rope(q + t * qd, H_, D_, cos + t * half, sin + t * half);
                rope(k + t * kvd, Hkv_, D_, cos + t * half, sin + t * half);
            }
            const int64_t C = capacities[l];
            write_cache(keys[l], k, T, start_pos, C, kv_bf16);
            write_cache(values[l], v, T, start_pos, C, kv_bf16);
            cwm::AttentionArgs a{q,         reinterpret_cast<const void*>(keys[l]),
                                 reinterpret_cast<const void*>(values[l]),
                                 att,       T,
                                 H_,        Hkv_,
                                 C,         D_,
                                 start_pos, windows_[l],
                                 kv_bf16 ? cwm::KvType::BF16 : cwm::KvType::F32,
                                 cwm::round_query()};
            cwm::run_attention(a);
            lin[3].run(att, T, tmp);
            for (int64_t i = 0; i < T * hd; ++i) x[i] += tmp[i];
            for (int64_t t = 0; t < T; ++t) rms_norm(x + t * hd, norms_[2 * l + 1], xn + t * hd, hd, eps_);
            lin[4].run(xn, T, gate);
            lin[5].run(xn, T, up);
            cwm::run_silu_mul(gate, up, T * inter_);
            lin[6].run(gate, T, tmp);
            for (int64_t i = 0; i < T * hd; ++i) x[i] += tmp[i];
        }

        const int64_t first = all_logits ? 0 : T - 1;
        const int64_t rows = T - first;
        for (int64_t r = 0; r < rows; ++r) rms_norm(x + (first + r) * hd, final_norm_, xn + r * hd, hd, eps_);
        linears_[L_ * kLinearsPerLayer].run(xn, rows, logits);
    }

    // cache[h, (start_pos + t) % C, :] = src[t, h, :]
    void write_cache(uintptr_t cache, const float* src, int64_t T, int64_t start_pos, int64_t C, bool bf16) const {
        for (int64_t t = 0; t < T; ++t) {
            const int64_t slot = (start_pos + t) % C;
            for (int64_t h = 0; h < Hkv_; ++h) {
                const float* from = src + (t * Hkv_ + h) * D_;
                const int64_t at = (h * C + slot) * D_;
                if (bf16) {
                    uint16_t* to = reinterpret_cast<uint16_t*>(cache) + at;
                    for (int64_t d = 0; d < D_; ++d) to[d] = f32_to_bf16(from[d]);
                } else {
                    std::memcpy(reinterpret_cast<float*>(cache) + at, from, D_ * sizeof(float));
                }
            }
        }
    }

    const float* norm_vector(Array a, const std::string& name) {
        if (a.dtype() != nb::dtype<float>()) fail(name + " weight must be float32");
        check_shape(a, name + " weight", {hidden_});
        keep_.push_back(a);
        return static_cast<const float*>(a.data());
    }

    void check_layer(int64_t layer) const {
        if (layer < 0 || layer >= L_) fail("layer " + std::to_string(layer) + " is out of range");
    }

    Linear& slot_linear(int64_t slot) {
        if (slot < 0 || slot > L_ * kLinearsPerLayer) fail("linear slot " + std::to_string(slot) + " is out of range");
        return linears_[static_cast<size_t>(slot)];
    }

    std::string slot_name(int64_t slot) const {
        if (slot == L_ * kLinearsPerLayer) return "lm_head";
        return "layer " + std::to_string(slot / kLinearsPerLayer) + " " + kLinearNames[slot % kLinearsPerLayer];
    }

    int64_t out_features(int64_t slot) const {
        if (slot == L_ * kLinearsPerLayer) return vocab_;
        switch (slot % kLinearsPerLayer) {
            case 0: return H_ * D_;
            case 1:
            case 2: return Hkv_ * D_;
            case 3:
            case 6: return hidden_;
            default: return inter_;
        }
    }

    int64_t in_features(int64_t slot) const {
        if (slot == L_ * kLinearsPerLayer) return hidden_;
        switch (slot % kLinearsPerLayer) {
            case 3: return H_ * D_;
            case 6: return inter_;
            default: return hidden_;
        }
    }

    int64_t L_, hidden_, H_, Hkv_, D_, inter_, vocab_;
    float eps_;
    std::vector<int64_t> windows_;
    std::vector<float> inv_freq_;
    const void* embed_ = nullptr;
    bool embed_bf16_ = false;
    bool embed_f16_ = false;
    int64_t embed_rows_ = 0;
    const float* final_norm_ = nullptr;
    std::vector<Linear> linears_;
    std::vector<const float*> norms_;
    std::vector<Array> keep_;  // the registered weights stay alive as long as the decoder
};

}  // namespace

namespace cwm {

void bind_decoder(nb::module_& m) {
    nb::class_<Decoder>(m, "Decoder", "a transformer's forward pass in one call (runtime/native_step.py)")
        .def(nb::init<int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, double, Array,
                      std::vector<int64_t>, Array, Array>(),
             nb::arg("layers"), nb::arg("hidden"), nb::arg("heads"), nb::arg("kv_heads"), nb::arg("head_dim"),
             nb::arg("intermediate"), nb::arg("vocab"), nb::arg("eps"), nb::arg("inv_freq"), nb::arg("windows"),
             nb::arg("embed"), nb::arg("final_norm"))
        .def("set_norms", &Decoder::set_norms, nb::arg("layer"), nb::arg("input"), nb::arg("post"))
        .def("set_float", &Decoder::set_float, nb::arg("slot"), nb::arg("weight"))
        .def("set_int8", &Decoder::set_int8, nb::arg("slot"), nb::arg("qweight"), nb::arg("scales"))
        .def("set_int4", &Decoder::set_int4, nb::arg("slot"), nb::arg("qweight"), nb::arg("scales"),
             nb::arg("zeros"), nb::arg("group_size"))
        .def("missing", &Decoder::missing)
        .def_prop_ro("vocab", &Decoder::vocab)
        .def("forward", &Decoder::forward, nb::arg("tokens"), nb::arg("start_pos"), nb::arg("keys"),
             nb::arg("values"), nb::arg("capacities"), nb::arg("kv_bf16"), nb::arg("out"), nb::arg("all_logits"),
             nb::arg("threads"));
}

}  // namespace cwm
