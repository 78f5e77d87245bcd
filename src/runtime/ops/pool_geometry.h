// Pooling geometry shared by pool.cpp (the forward) and pool_grad.cpp (the backward):
// the attributes of MaxPool/AveragePool (PoolAttrs) and, per spatial axis, the window
// taps of every output position with the average's divisor (Axis1D).
#pragma once
#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "core/memory_budget.h"
#include "core/tensor.h"
#include "runtime/node_desc.h"

namespace dpl::pool {

inline int64_t floor_div(int64_t a, int64_t b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }
inline int64_t ceil_div(int64_t a, int64_t b) { return -floor_div(-a, b); }

// One spatial axis of a pooling window, with per-output tap tables.
struct Axis1D {
  int64_t in = 0, out = 0, k = 1, s = 1, d = 1, pb = 0, pe = 0;
  std::vector<int64_t> first;  // input position of the first in-bounds tap, per output
  std::vector<int64_t> n;      // number of in-bounds taps, per output
  std::vector<double> inv;     // 1 / divisor (AveragePool), per output
  int64_t o_lo = 0, o_hi = 0;  // outputs [o_lo, o_hi) have all k taps in bounds

  bool identity() const { return k == 1 && s == 1 && pb == 0 && out == in; }

  void build(bool count_include_pad) {
    first.assign(out, 0);
    n.assign(out, 0);
    inv.assign(out, 0.0);
    o_lo = out;
    o_hi = out;
    for (int64_t o = 0; o < out; ++o) {
      const int64_t start = o * s - pb;
      const int64_t j_lo = start >= 0 ? 0 : ceil_div(-start, d);
      const int64_t j_hi = in - 1 - start >= 0 ? std::min(k - 1, floor_div(in - 1 - start, d)) : -1;
      const int64_t cnt = std::max<int64_t>(0, j_hi - j_lo + 1);
      first[o] = start + j_lo * d;
      n[o] = cnt;
      int64_t div = cnt;
      if (count_include_pad) {
        const int64_t lim = in + pe - 1 - start;  // taps inside the padded extent
        div = lim >= 0 ? std::min(k, floor_div(lim, d) + 1) : 0;
      }
      inv[o] = div > 0 ? 1.0 / static_cast<double>(div) : 0.0;
      if (cnt == k) {
        if (o_lo == out) o_lo = o;
        o_hi = o + 1;
      }
    }
    if (o_lo == out) o_lo = o_hi = 0;
  }
};

struct PoolAttrs {
  std::vector<int64_t> kernel, strides, pads, dilations;
  std::string auto_pad = "NOTSET";
  bool ceil_mode = false;
  bool count_include_pad = false;
  int64_t storage_order = 0;

  void parse(const NodeDesc& node) {
    const Attributes& a = node.attrs;
    kernel = a.get_ints("kernel_shape");
    DPL_CHECK(!kernel.empty(), "{} '{}': attribute kernel_shape is required", node.op_type, node.name);
    const size_t m = kernel.size();
    strides = a.get_ints("strides", std::vector<int64_t>(m, 1));
    dilations = a.get_ints("dilations", std::vector<int64_t>(m, 1));
    pads = a.get_ints("pads", std::vector<int64_t>(2 * m, 0));
    auto_pad = a.get_string("auto_pad", "NOTSET");
    ceil_mode = a.get_int("ceil_mode", 0) != 0;
    count_include_pad = a.get_int("count_include_pad", 0) != 0;
    storage_order = a.get_int("storage_order", 0);
    DPL_CHECK(strides.size() == m && dilations.size() == m && pads.size() == 2 * m,
              "{} '{}': kernel_shape has {} axes but strides/dilations/pads have {}/{}/{} values", node.op_type,
              node.name, m, strides.size(), dilations.size(), pads.size());
    for (size_t i = 0; i < m; ++i) {
      DPL_CHECK(kernel[i] >= 1 && strides[i] >= 1 && dilations[i] >= 1,
                "{} '{}': kernel_shape, strides and dilations must be positive", node.op_type, node.name);
      DPL_CHECK(pads[i] >= 0 && pads[i + m] >= 0, "{} '{}': negative pads", node.op_type, node.name);
    }
    DPL_CHECK(auto_pad == "NOTSET" || auto_pad == "VALID" || auto_pad == "SAME_UPPER" || auto_pad == "SAME_LOWER",
              "{} '{}': unknown auto_pad '{}'", node.op_type, node.name, auto_pad);
    DPL_CHECK(storage_order == 0 || storage_order == 1, "{} '{}': storage_order must be 0 or 1", node.op_type,
              node.name);
  }

  std::vector<Axis1D> axes(const Shape& x, const std::string& op) const {
    const size_t m = kernel.size();
    DPL_CHECK(x.size() == m + 2, "{}: input of shape {} does not match a {}-D kernel_shape", op, shape_str(x), m);
    std::vector<Axis1D> r(m);
    for (size_t i = 0; i < m; ++i) {
      Axis1D& a = r[i];
      a.in = x[i + 2];
      a.k = kernel[i];
      a.s = strides[i];
      a.d = dilations[i];
      const int64_t ke = (a.k - 1) * a.d + 1;
      if (auto_pad == "SAME_UPPER" || auto_pad == "SAME_LOWER") {
        a.out = ceil_div(a.in, a.s);
        const int64_t total = std::max<int64_t>(0, (a.out - 1) * a.s + ke - a.in);
        const int64_t small = total / 2;
        a.pb = auto_pad == "SAME_UPPER" ? small : total - small;
        a.pe = total - a.pb;
      } else {
        if (auto_pad == "NOTSET") {
          a.pb = pads[i];
          a.pe = pads[i + m];
        }
        const int64_t span = a.in + a.pb + a.pe - ke;
        DPL_CHECK(span >= 0, "{}: kernel extent {} exceeds the padded input {} on spatial axis {}", op, ke,
                  a.in + a.pb + a.pe, i);
        if (ceil_mode && auto_pad == "NOTSET") {
          a.out = ceil_div(span, a.s) + 1;
          // The last window must start inside the input or the leading padding.
          if ((a.out - 1) * a.s >= a.in + a.pb) --a.out;
        } else {
          a.out = span / a.s + 1;
        }
      }
      // The tap tables hold 24 bytes per output position: huge pads or an empty input with a
      // huge declared dimension (fuzzing found one folding constants) must not allocate them.
      constexpr size_t kTableBytes = 2 * sizeof(int64_t) + sizeof(double);
      check_tensor_budget(op + " window tables of spatial axis " + std::to_string(i),
                          static_cast<uint64_t>(a.out) > SIZE_MAX / kTableBytes ? SIZE_MAX
                                                                                 : static_cast<size_t>(a.out) * kTableBytes);
      a.build(count_include_pad);
    }
    return r;
  }
};

}  // namespace dpl::pool
