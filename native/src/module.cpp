// cwm_lsp._native: Python bindings, CPU feature detection and kernel path dispatch.
// Tensors arrive zero-copy through DLPack (nb::ndarray); they are validated here, then the GIL
// is released while the kernel runs.
#include <nanobind/nanobind.h>
#include <nanobind/ndarray.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>
#include <omp.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "arrays.h"
#include "decoder.h"
#include "dispatch.h"
#include "kernels.h"

namespace nb = nanobind;

namespace {

enum class Path { Scalar, Avx2, Avx512, Avx512Bf16, Avx512Vnni };

const char* path_name(Path p) {
    switch (p) {
        case Path::Scalar: return "scalar";
        case Path::Avx2: return "avx2";
        case Path::Avx512: return "avx512";
        case Path::Avx512Bf16: return "avx512-bf16";
        case Path::Avx512Vnni: return "avx512-vnni";
    }
    return "scalar";
}

struct Features {
    bool avx2, fma, avx512f, avx512bw, avx512vl, avx512dq, avx512vnni, avx512bf16;
};

Features detect() {
    Features f{};
#if CWM_HAVE_X86
    __builtin_cpu_init();
    f.avx2 = __builtin_cpu_supports("avx2");
    f.fma = __builtin_cpu_supports("fma");
    f.avx512f = __builtin_cpu_supports("avx512f");
    f.avx512bw = __builtin_cpu_supports("avx512bw");
    f.avx512vl = __builtin_cpu_supports("avx512vl");
    f.avx512dq = __builtin_cpu_supports("avx512dq");
    f.avx512vnni = __builtin_cpu_supports("avx512vnni");
    f.avx512bf16 = __builtin_cpu_supports("avx512bf16");
#endif
    return f;
}

const Features& features() {
    static const Features f = detect();
    return f;
}

bool supported(Path p) {
    const Features& f = features();  // all false off x86
    const bool avx2 = f.avx2 && f.fma;
    const bool avx512 = avx2 && f.avx512f && f.avx512bw && f.avx512vl && f.avx512dq;
    switch (p) {
        case Path::Scalar: return true;
        case Path::Avx2: return avx2;
        case Path::Avx512: return avx512;
        case Path::Avx512Bf16: return avx512 && f.avx512bf16;
        case Path::Avx512Vnni: return avx512 && f.avx512vnni;
    }
    return false;
}

// "auto" takes the widest vectors the CPU has: the AVX512_BF16 attention for bf16 K/V, and VNNI
// integer dot products for the quantized-activation matmuls.
Path best_path() {
    if (supported(Path::Avx512Bf16)) return Path::Avx512Bf16;
    if (supported(Path::Avx512Vnni)) return Path::Avx512Vnni;
    if (supported(Path::Avx512)) return Path::Avx512;
    if (supported(Path::Avx2)) return Path::Avx2;
    return Path::Scalar;
}

// Forced "avx512" keeps vpmaddubsw dot products even on a VNNI CPU (so both can be tested).
bool uses_vnni(Path p) { return p == Path::Avx512Vnni || (p == Path::Avx512Bf16 && features().avx512vnni); }

// The integer dot products the int8-activation matmuls take on this path ("" on the scalar path,
// which keeps float32 activations).
const char* q8_dot_products(Path p) {
    if (p == Path::Scalar) return "";
    return uses_vnni(p) ? "vnni" : "vpmaddubsw";
}

std::atomic<Path> g_path{best_path()};  // read by kernels running without the GIL
std::atomic<bool> g_round_query{true};   // avx512-bf16 attention: bf16 query (see kernels.h)
// Quantized matmuls: float32 activations (true) or int8 activations in blocks of 32 (qdot_impl.h).
std::atomic<bool> g_exact_activations{false};

const cwm::KernelTable& table_for(Path p) {
#if CWM_HAVE_X86
    switch (p) {
        case Path::Avx512:
        case Path::Avx512Bf16:
        case Path::Avx512Vnni: return cwm_avx512::table();
        case Path::Avx2: return cwm_avx2::table();
        case Path::Scalar: break;
    }
#else
    (void)p;
#endif
    return cwm_scalar::table();
}

void set_path(const std::string& name) {
    Path p;
    if (name == "auto") p = best_path();
    else if (name == "scalar") p = Path::Scalar;
    else if (name == "avx2") p = Path::Avx2;
    else if (name == "avx512") p = Path::Avx512;
    else if (name == "avx512-bf16") p = Path::Avx512Bf16;
    else if (name == "avx512-vnni") p = Path::Avx512Vnni;
    else throw std::invalid_argument("unknown kernel path '" + name + "' (auto, scalar, avx2, avx512, avx512-bf16, avx512-vnni)");
    if (!supported(p)) throw std::invalid_argument("kernel path '" + name + "' is not supported by this CPU");
    g_path.store(p);
}

std::vector<std::string> supported_paths() {
    std::vector<std::string> out;
    for (Path p : {Path::Scalar, Path::Avx2, Path::Avx512, Path::Avx512Bf16, Path::Avx512Vnni})
        if (supported(p)) out.emplace_back(path_name(p));
    return out;
}

nb::dict cpu_features() {
    const Features& f = features();
    nb::dict d;
    d["avx2"] = f.avx2;
    d["fma"] = f.fma;
    d["avx512f"] = f.avx512f;
    d["avx512bw"] = f.avx512bw;
    d["avx512vl"] = f.avx512vl;
    d["avx512dq"] = f.avx512dq;
    d["avx512_vnni"] = f.avx512vnni;
    d["avx512_bf16"] = f.avx512bf16;
    return d;
}

// ---- validation -------------------------------------------------------------------------------

using cwm_arrays::Array;
using cwm_arrays::bf16_dtype;
using cwm_arrays::check_contiguous;
using cwm_arrays::fail;

void check(const Array& a, const char* name, size_t ndim, nb::dlpack::dtype dt, const char* dtname) {
    if (a.ndim() != ndim) fail(std::string(name) + " must have " + std::to_string(ndim) + " dimensions");
    if (a.dtype() != dt) fail(std::string(name) + " must be " + dtname);
    check_contiguous(a, name);
}

int64_t dim(const Array& a, size_t i) { return static_cast<int64_t>(a.shape(i)); }

// ---- operations --------------------------------------------------------------------------------

// Zero-fills out [M, N] and returns true when K == 0: every output is then an empty sum, which
// the kernels' gemm_panels would instead copy from accumulators it never wrote.
bool empty_sum(Array& out, int64_t M, int64_t N, int64_t K) {
    if (K != 0) return false;
    std::fill_n(static_cast<float*>(out.data()), M * N, 0.0f);
    return true;
}

void attention(Array q, Array k, Array v, Array out, int64_t start_pos, int64_t window) {
    check(q, "q", 3, nb::dtype<float>(), "float32");
    check(out, "out", 3, nb::dtype<float>(), "float32");
    cwm::KvType kv;
    if (k.dtype() == nb::dtype<float>()) kv = cwm::KvType::F32;
    else if (k.dtype() == bf16_dtype()) kv = cwm::KvType::BF16;
    else fail("k_cache must be float32 or bfloat16");
    check(k, "k_cache", 3, k.dtype(), "float32 or bfloat16");
    check(v, "v_cache", 3, k.dtype(), "the same dtype as k_cache");
    const int64_t T = dim(q, 0), H = dim(q, 1), D = dim(q, 2);
    const int64_t Hkv = dim(k, 0), C = dim(k, 1);
    if (dim(k, 2) != D) fail("k_cache head_dim differs from q");
    for (size_t i = 0; i < 3; ++i)
        if (v.shape(i) != k.shape(i)) fail("v_cache shape differs from k_cache");
    for (size_t i = 0; i < 3; ++i)
        if (out.shape(i) != q.shape(i)) fail("out shape differs from q");
    if (Hkv <= 0 || H % Hkv != 0) fail("n_heads must be a multiple of n_kv_heads");
    if (start_pos < 0) fail("start_pos must be >= 0");
    if (T == 0 || H == 0 || D == 0) return;  // H == 0: attention_tiled divides by G = H / Hkv
    const int64_t lo = window > 0 ? std::max<int64_t>(0, start_pos - window + 1) : 0;
    const int64_t span = start_pos + T - lo;
    if (span > C)
        fail("cache capacity " + std::to_string(C) + " is smaller than the " + std::to_string(span) +
             " key positions this call needs");
    cwm::AttentionArgs a{static_cast<const float*>(q.data()), k.data(), v.data(), static_cast<float*>(out.data()),
                         T, H, Hkv, C, D, start_pos, window, kv, g_round_query.load()};
    nb::gil_scoped_release release;
    cwm::run_attention(a);
}

void int8_linear(Array x, Array w, Array scales, Array out) {
    check(x, "x", 2, nb::dtype<float>(), "float32");
    check(w, "qweight", 2, nb::dtype<int8_t>(), "int8");
    check(scales, "scales", 1, nb::dtype<float>(), "float32");
    check(out, "out", 2, nb::dtype<float>(), "float32");
    const int64_t M = dim(x, 0), K = dim(x, 1), N = dim(w, 0);
    if (dim(w, 1) != K) fail("qweight must be [N, K] with K = x.shape[1]");
    if (dim(scales, 0) != N) fail("scales must be [N]");
    if (dim(out, 0) != M || dim(out, 1) != N) fail("out must be [M, N]");
    if (M == 0 || N == 0 || empty_sum(out, M, N, K)) return;
    cwm::Int8Args a{static_cast<const float*>(x.data()), static_cast<const int8_t*>(w.data()),
                    static_cast<const float*>(scales.data()), static_cast<float*>(out.data()), M, N, K};
    nb::gil_scoped_release release;
    cwm::run_int8(a);
}

void int4_linear(Array x, Array w, Array scales, Array zeros, int64_t group_size, Array out) {
    check(x, "x", 2, nb::dtype<float>(), "float32");
    check(w, "qweight", 2, nb::dtype<uint8_t>(), "uint8");
    const bool half = scales.dtype() == cwm_arrays::f16_dtype();
    check(scales, "scales", 2, half ? scales.dtype() : nb::dtype<float>(), "float32 or float16");
    check(zeros, "zeros", 2, nb::dtype<uint8_t>(), "uint8");
    check(out, "out", 2, nb::dtype<float>(), "float32");
    const int64_t M = dim(x, 0), K = dim(x, 1), N = dim(w, 0);
    if (K % 2 != 0) fail("K must be even for int4 weights");
    if (group_size <= 0 || K % group_size != 0) fail("group_size must divide K");
    if (dim(w, 1) != K / 2) fail("qweight must be [N, K // 2]");
    const int64_t ng = K / group_size;
    if (dim(scales, 0) != N || dim(scales, 1) != ng) fail("scales must be [N, K // group_size]");
    if (dim(zeros, 0) != N || dim(zeros, 1) != ng) fail("zeros must be [N, K // group_size]");
    if (dim(out, 0) != M || dim(out, 1) != N) fail("out must be [M, N]");
    if (M == 0 || N == 0 || empty_sum(out, M, N, K)) return;
    cwm::Int4Args a{static_cast<const float*>(x.data()), static_cast<const uint8_t*>(w.data()),
                    half ? nullptr : static_cast<const float*>(scales.data()), static_cast<const uint8_t*>(zeros.data()),
                    static_cast<float*>(out.data()), M, N, K, group_size};
    nb::gil_scoped_release release;
    a.uniform_zero = cwm::uniform_zero(a.zeros, N * ng);
    if (half) a.scales_f16 = static_cast<const uint16_t*>(scales.data());
    cwm::run_int4(a);
}

void float_linear(Array x, Array w, Array out) {
    check(x, "x", 2, nb::dtype<float>(), "float32");
    const bool bf16 = w.dtype() == bf16_dtype();
    if (!bf16 && w.dtype() != nb::dtype<float>()) fail("weight must be float32 or bfloat16");
    check(w, "weight", 2, w.dtype(), "float32 or bfloat16");
    check(out, "out", 2, nb::dtype<float>(), "float32");
    const int64_t M = dim(x, 0), K = dim(x, 1), N = dim(w, 0);
    if (dim(w, 1) != K) fail("weight must be [N, K] with K = x.shape[1]");
    if (dim(out, 0) != M || dim(out, 1) != N) fail("out must be [M, N]");
    if (M == 0 || N == 0 || empty_sum(out, M, N, K)) return;
    cwm::FloatArgs a{static_cast<const float*>(x.data()), w.data(), bf16, static_cast<float*>(out.data()), M, N, K};
    nb::gil_scoped_release release;
    cwm::run_float(a);
}

}  // namespace

namespace cwm {

void run_attention(const AttentionArgs& a) {
    const Path path = g_path.load();
#if CWM_HAVE_X86
    if (path == Path::Avx512Bf16 && cwm_avx512_bf16::attention(a)) return;
#endif
    if (!table_for(path).attention(a)) cwm_scalar::table().attention(a);
}

void run_int8(const Int8Args& a) {
    const Path path = g_path.load();
    if (!g_exact_activations.load()) {
#if CWM_HAVE_X86
        if (uses_vnni(path) && cwm_avx512_vnni::int8_linear_q8(a)) return;
#endif
        const auto q8 = table_for(path).int8_linear_q8;
        if (q8 != nullptr && q8(a)) return;
    }
    if (!table_for(path).int8_linear(a)) cwm_scalar::table().int8_linear(a);
}

void run_int4(const Int4Args& a) {
    const Path path = g_path.load();
    if (!g_exact_activations.load()) {
#if CWM_HAVE_X86
        if (uses_vnni(path) && cwm_avx512_vnni::int4_linear_q8(a)) return;
#endif
        const auto q8 = table_for(path).int4_linear_q8;
        if (q8 != nullptr && q8(a)) return;
    }
    if (a.scales_f16 != nullptr) {  // the float32-activation kernels read float scales
        const int64_t count = a.N * (a.K / a.G);
        std::vector<float> wide(static_cast<size_t>(count));
        for (int64_t i = 0; i < count; ++i) wide[static_cast<size_t>(i)] = cwm::f16_to_f32(a.scales_f16[i]);
        Int4Args b = a;
        b.scales = wide.data();
        b.scales_f16 = nullptr;
        if (!table_for(path).int4_linear(b)) cwm_scalar::table().int4_linear(b);
        return;
    }
    if (!table_for(path).int4_linear(a)) cwm_scalar::table().int4_linear(a);
}

bool round_query() { return g_round_query.load(); }

void run_silu_mul(float* gate, const float* up, int64_t n) { table_for(g_path.load()).silu_mul(gate, up, n); }

void run_float(const FloatArgs& a) {
    if (!table_for(g_path.load()).float_linear(a)) cwm_scalar::table().float_linear(a);
}

}  // namespace cwm

NB_MODULE(_native, m) {
    m.doc() = "cwm-lsp native CPU kernels: hybrid sliding/global GQA attention and int8/int4 matmul";
    m.def("cpu_features", &cpu_features, "CPU features relevant to the kernels");
    m.def("supported_paths", &supported_paths, "kernel paths this CPU can run");
    m.def("set_path", &set_path, nb::arg("name"), "force a kernel path: auto, scalar, avx2, avx512, avx512-bf16, avx512-vnni");
    m.def("get_path", []() { return std::string(path_name(g_path.load())); });
    m.def("best_path", []() { return std::string(path_name(best_path())); });
    m.def("max_threads", []() { return omp_get_max_threads(); });
    m.def("set_num_threads", [](int n) {
        if (n < 1) fail("thread count must be >= 1");
        omp_set_num_threads(n);
    });
    m.def("set_round_query", [](bool on) { g_round_query.store(on); }, nb::arg("on"),
          "avx512-bf16 attention: round the query to bf16 (default) or split it into hi + lo");
    m.def("get_round_query", []() { return g_round_query.load(); });
    m.def("set_exact_activations", [](bool on) { g_exact_activations.store(on); }, nb::arg("on"),
          "int8/int4 matmuls: float32 activations (True) or int8 activations in blocks of 32 (False, "
          "default; not on the scalar path)");
    m.def("get_exact_activations", []() { return g_exact_activations.load(); });
    m.def("q8_dot_products", []() { return std::string(q8_dot_products(g_path.load())); },
          "integer dot products of the int8-activation matmuls on the current path ('' for none)");
    m.def("attention", &attention, nb::arg("q"), nb::arg("k_cache"), nb::arg("v_cache"), nb::arg("out"),
          nb::arg("start_pos"), nb::arg("window"));
    m.def("int8_linear", &int8_linear, nb::arg("x"), nb::arg("qweight"), nb::arg("scales"), nb::arg("out"));
    m.def("int4_linear", &int4_linear, nb::arg("x"), nb::arg("qweight"), nb::arg("scales"), nb::arg("zeros"),
          nb::arg("group_size"), nb::arg("out"));
    m.def("float_linear", &float_linear, nb::arg("x"), nb::arg("weight"), nb::arg("out"));
    cwm::bind_decoder(m);
}
