// Pad: constant, reflect, edge (and opset 19's wrap). Pads come from the 'pads' input
// (opset 11+, with opset 18's optional 'axes') or the attribute (before 11); negative pads
// crop. Each output row (all dims but the last) maps to one source row, or to none in
// constant mode; its middle part is one memcpy and only the padded ends go element by
// element.
#include <algorithm>

#include "runtime/op_registry.h"
#include "runtime/ops/data_movement.h"
#include "runtime/ops/grad_util.h"

namespace dpl {
namespace {

enum class PadMode { Constant, Reflect, Edge, Wrap };

class PadOp : public grad::MoveGradOp {  // backward: grad_util.h
 public:
  void init(const NodeDesc& node) override {
    const std::string mode = node.attrs.get_string("mode", "constant");
    if (mode == "constant") mode_ = PadMode::Constant;
    else if (mode == "reflect") mode_ = PadMode::Reflect;
    else if (mode == "edge") mode_ = PadMode::Edge;
    else if (mode == "wrap") mode_ = PadMode::Wrap;
    else fail("Pad mode '{}' is not constant, reflect, edge or wrap", mode);
    attr_form_ = node.opset < 11;
    trace_replace_ = {{2, Tensor::scalar<int64_t>(0)}};  // padding traces as "no source"
    if (attr_form_) {
      DPL_CHECK(node.attrs.has("pads"), "Pad (opset {}) needs the 'pads' attribute", node.opset);
      pads_attr_ = node.attrs.get_ints("pads");
      value_attr_ = node.attrs.get_float("value", 0.f);
    }
  }

  // Traced (grad_util.h); an attribute pad value other than 0 would trace as a source.
  bool has_backward() const override { return !(attr_form_ && value_attr_ != 0.f); }

  void forward(OpContext&, const std::vector<const Tensor*>& in, std::vector<Tensor>& out) override {
    const Tensor& x = *in[0];
    const int r = x.rank();
    const size_t es = dtype_size(x.dtype());

    // Pads per dim.
    std::vector<int64_t> raw = attr_form_ ? pads_attr_ : ops::input_ints(in.size() > 1 ? in[1] : nullptr);
    std::vector<int64_t> axes;
    if (!attr_form_ && in.size() > 3 && in[3]) {
      axes = ops::input_ints(in[3]);
    } else {
      for (int d = 0; d < r; ++d) axes.push_back(d);
    }
    const size_t na = axes.size();
    DPL_CHECK(raw.size() == 2 * na, "Pad has {} pads for {} axes (needs 2 per axis)", raw.size(), na);
    std::vector<int64_t> pb(r, 0), pe(r, 0);
    for (size_t i = 0; i < na; ++i) {
      const int a = ops::norm_axis(axes[i], r, "Pad axis");
      pb[a] = raw[i];
      pe[a] = raw[na + i];
    }

    // Constant value, as the element's bytes.
    uint64_t bits = 0;
    if (mode_ == PadMode::Constant) {
      if (attr_form_) {
        if (value_attr_ != 0.f)
          dispatch_dtype(x.dtype(), [&](auto tag) {
            using T = decltype(tag);
            T v = static_cast<T>(value_attr_);
            std::memcpy(&bits, &v, sizeof(T));
          });
      } else if (in.size() > 2 && in[2] && in[2]->numel() > 0) {
        DPL_CHECK(in[2]->dtype() == x.dtype(), "Pad constant_value is {} but the data is {}", dtype_name(in[2]->dtype()),
                  dtype_name(x.dtype()));
        std::memcpy(&bits, in[2]->raw(), es);
      }
    }

    Shape shape(r);
    std::vector<std::vector<int64_t>> map(r);  // output index -> input index, -1: constant
    for (int d = 0; d < r; ++d) {
      const int64_t n = x.dim(d);
      shape[d] = n + pb[d] + pe[d];
      DPL_CHECK(shape[d] >= 0, "Pad: pads {} and {} remove more than the {} elements of axis {}", pb[d], pe[d], n, d);
      DPL_CHECK(mode_ == PadMode::Constant || n > 0 || shape[d] == 0 || (pb[d] == 0 && pe[d] == 0),
                "Pad: cannot pad the empty axis {} in a non-constant mode", d);
      map[d].resize(shape[d]);
      for (int64_t o = 0; o < shape[d]; ++o) {
        int64_t i = o - pb[d];
        if (i < 0 || i >= n) {
          switch (mode_) {
            case PadMode::Constant: i = -1; break;
            case PadMode::Edge: i = std::clamp<int64_t>(i, 0, n - 1); break;
            case PadMode::Wrap: i = ((i % n) + n) % n; break;
            case PadMode::Reflect:
              if (n == 1) {
                i = 0;
              } else {
                const int64_t p = 2 * (n - 1);
                i = ((i % p) + p) % p;
                if (i >= n) i = p - i;
              }
              break;
          }
        }
        map[d][o] = i;
      }
    }

    Tensor y(x.dtype(), shape);
    if (y.numel() == 0) {
      out[0] = std::move(y);
      return;
    }
    if (r == 0) {
      std::memcpy(y.raw(), x.raw(), es);
      out[0] = std::move(y);
      return;
    }
    const auto in_st = shape_strides(x.shape());
    const int64_t L = shape[r - 1], nL = x.dim(r - 1);
    const int64_t lo = std::clamp<int64_t>(pb[r - 1], 0, L);
    const int64_t hi = std::max(lo, std::clamp<int64_t>(pb[r - 1] + nL, 0, L));
    const int64_t rows = y.numel() / L;
    const std::vector<int64_t>& mL = map[r - 1];
    ops::dispatch_size(es, [&](auto tag) {
      using U = decltype(tag);
      U v;
      std::memcpy(&v, &bits, sizeof(U));
      const U* src = static_cast<const U*>(x.raw());
      U* dst = static_cast<U*>(y.raw());
      parallel_for(
          rows,
          [&](int64_t b, int64_t e) {
            for (int64_t row = b; row < e; ++row) {
              // Source row of this output row.
              int64_t rem = row, off = 0;
              bool inside = true;
              for (int d = r - 2; d >= 0; --d) {
                const int64_t o = rem % shape[d];
                rem /= shape[d];
                const int64_t i = map[d][o];
                if (i < 0) {
                  inside = false;
                  break;
                }
                off += i * in_st[d];
              }
              U* drow = dst + row * L;
              if (!inside) {
                std::fill_n(drow, L, v);
                continue;
              }
              const U* srow = src + off;
              for (int64_t o = 0; o < lo; ++o) drow[o] = mL[o] < 0 ? v : srow[mL[o]];
              if (hi > lo) std::memcpy(drow + lo, srow + (lo - pb[r - 1]), (hi - lo) * sizeof(U));
              for (int64_t o = hi; o < L; ++o) drow[o] = mL[o] < 0 ? v : srow[mL[o]];
            }
          },
          ops::grain_for(L * static_cast<int64_t>(sizeof(U))));
    });
    out[0] = std::move(y);
  }

 private:
  PadMode mode_ = PadMode::Constant;
  bool attr_form_ = false;
  std::vector<int64_t> pads_attr_;
  float value_attr_ = 0.f;
};

}  // namespace

DPL_REGISTER_OP("Pad", PadOp);

}  // namespace dpl
