// Array validation shared by the bindings (module.cpp) and the decoder (decoder.cpp): DLPack
// dtypes nanobind has no name for, contiguity, and the error every check raises (ValueError).
#pragma once

#include <nanobind/ndarray.h>

#include <cstdint>
#include <stdexcept>
#include <string>

namespace cwm_arrays {

using Array = nanobind::ndarray<nanobind::device::cpu>;

[[noreturn]] inline void fail(const std::string& msg) { throw std::invalid_argument(msg); }

inline nanobind::dlpack::dtype float16_kind(nanobind::dlpack::dtype_code code) {
    nanobind::dlpack::dtype d;
    d.code = static_cast<uint8_t>(code);
    d.bits = 16;
    d.lanes = 1;
    return d;
}

inline nanobind::dlpack::dtype bf16_dtype() { return float16_kind(nanobind::dlpack::dtype_code::Bfloat); }
inline nanobind::dlpack::dtype f16_dtype() { return float16_kind(nanobind::dlpack::dtype_code::Float); }

inline void check_contiguous(const Array& a, const std::string& name) {
    for (size_t i = 0; i < a.ndim(); ++i)
        if (a.shape(i) == 0) return;  // no elements: any strides will do (PyTorch calls it contiguous)
    int64_t expected = 1;
    for (size_t i = a.ndim(); i-- > 0;) {
        if (a.shape(i) != 1 && a.stride(i) != expected) fail(name + " must be C-contiguous");
        expected *= static_cast<int64_t>(a.shape(i));
    }
}

}  // namespace cwm_arrays
