// The runtime's whole transformer forward pass as one native call (see decoder.cpp).
#pragma once

#include <nanobind/nanobind.h>

namespace cwm {

void bind_decoder(nanobind::module_& m);

}  // namespace cwm
