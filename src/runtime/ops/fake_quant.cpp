// The one-pass fake quantization of runtime/ops/fake_quant.h. Rounding uses the 1.5 * 2^23
// trick, exact round-half-even for |v| < 2^22 under the default rounding mode (and +0 for
// every value that rounds to zero, as the integer round trip gives); larger values saturate
// whatever their rounding, which keeps the loop free of calls and vectorizable.
#include "runtime/ops/fake_quant.h"

#include <algorithm>
#include <type_traits>

#include "runtime/ops/rounding.h"
#include "runtime/parallel.h"

namespace dpl {

AxisSplit split_axis(const std::string& op, const Tensor& x, const Tensor& scale, const Tensor* zp, int64_t axis) {
  AxisSplit s;
  s.inner = x.numel();
  DPL_CHECK(scale.dtype() == DType::F32, "{}: scale must be float32, got {}", op, dtype_name(scale.dtype()));
  if (zp) {
    DPL_CHECK(zp->shape() == scale.shape() || (zp->numel() == 1 && scale.numel() == 1),
              "{}: zero point shape {} differs from scale shape {}", op, shape_str(zp->shape()),
              shape_str(scale.shape()));
  }
  if (scale.numel() == 1 && scale.rank() <= 1) return s;  // per tensor
  DPL_CHECK(scale.rank() == 1, "{}: scale must be a scalar or 1-D, got shape {}", op, shape_str(scale.shape()));
  const int64_t r = x.rank();
  if (axis < 0) axis += r;
  DPL_CHECK(axis >= 0 && axis < r, "{}: axis {} out of range for input of rank {}", op, axis, r);
  DPL_CHECK(scale.numel() == x.dim(static_cast<int>(axis)), "{}: scale has {} values but input {} has {} along axis {}",
            op, scale.numel(), shape_str(x.shape()), x.dim(static_cast<int>(axis)), axis);
  s.per_axis = true;
  s.outer = 1;
  for (int64_t d = 0; d < axis; ++d) s.outer *= x.dim(static_cast<int>(d));
  s.channels = x.dim(static_cast<int>(axis));
  s.inner = 1;
  for (int64_t d = axis + 1; d < r; ++d) s.inner *= x.dim(static_cast<int>(d));
  return s;
}

namespace {

bool only_axis_attrs(const NodeDesc& n) {
  for (const auto& [name, v] : n.attrs.all())
    if (name != "axis" && !(name == "saturate" && n.attrs.get_int("saturate", 1) == 1)) return false;
  return true;
}

bool constant_scalar(const NodeDesc& n, size_t i) {
  const Tensor* t = n.constant(i);
  return t && t->numel() == 1;
}

}  // namespace

bool fake_quant_pair(const NodeDesc& q, const NodeDesc& dq) {
  if (q.op_type != "QuantizeLinear" || dq.op_type != "DequantizeLinear") return false;
  if (q.outputs.size() != 1 || dq.outputs.size() != 1 || dq.inputs.empty() || dq.inputs[0] != q.outputs[0]) return false;
  if (!q.has_input(1) || !dq.has_input(1) || !only_axis_attrs(q) || !only_axis_attrs(dq)) return false;
  return q.attrs.get_int("axis", 1) == dq.attrs.get_int("axis", 1) || constant_scalar(q, 1) || constant_scalar(dq, 1);
}

FakeQuantOperands fake_quant_operands(const NodeDesc& q, int q_first, const NodeDesc& dq, int dq_first) {
  FakeQuantOperands o;
  o.q_scale = q_first;
  o.q_zp = q.has_input(2) ? q_first + 1 : -1;
  o.dq_scale = dq_first;
  o.dq_zp = dq.has_input(2) ? dq_first + 1 : -1;
  o.q_axis = q.attrs.get_int("axis", 1);
  o.dq_axis = dq.attrs.get_int("axis", 1);
  return o;
}

FakeQuantArgs FakeQuantOperands::args(const std::vector<const Tensor*>& in) const {
  auto at = [&](int i) -> const Tensor* { return i >= 0 && i < static_cast<int>(in.size()) ? in[i] : nullptr; };
  FakeQuantArgs a;
  a.q_scale = at(q_scale);
  a.q_zp = at(q_zp);
  a.dq_scale = at(dq_scale);
  a.dq_zp = at(dq_zp);
  a.q_axis = q_axis;
  a.dq_axis = dq_axis;
  return a;
}

namespace {

// One channel's constants.
struct Channel {
  float qs, qz, ds, dz;
};

template <typename X>
void fake_quant_block(const X* x, float* y, int64_t n, const Channel& c, float lo, float hi, float clip_lo,
                      float clip_hi) {
  for (int64_t i = 0; i < n; ++i) {
    float v0 = static_cast<float>(x[i]);
    if constexpr (std::is_same_v<X, float>) {
      v0 = v0 < clip_lo ? clip_lo : v0;
      v0 = v0 > clip_hi ? clip_hi : v0;
    }
    const float t = v0 / c.qs;
    // Values of magnitude 2^22 and more saturate below; NaN stays NaN and clamps low.
    const float r = round_half_even(t);
    float v = r + c.qz;
    v = v > lo ? v : lo;
    v = v < hi ? v : hi;
    y[i] = (v - c.dz) * c.ds;
  }
}

float value_at(const Tensor* t, int64_t c) {
  if (!t) return 0.f;
  const int64_t i = t->numel() == 1 ? 0 : c;
  switch (t->dtype()) {
    case DType::F32: return t->data<float>()[i];
    case DType::I8: return static_cast<float>(t->data<int8_t>()[i]);
    case DType::U8: return static_cast<float>(t->data<uint8_t>()[i]);
    default: return 0.f;
  }
}

template <typename X>
void run(const Tensor& x, const FakeQuantArgs& a, const AxisSplit& s, float lo, float hi, Tensor& y) {
  const X* xd = x.data<X>();
  float* yd = y.data<float>();
  auto channel = [&](int64_t c) {
    return Channel{value_at(a.q_scale, c), value_at(a.q_zp, c), value_at(a.dq_scale, c), value_at(a.dq_zp, c)};
  };
  if (!s.per_axis) {
    const Channel c = channel(0);
    parallel_for(x.numel(), [&](int64_t b, int64_t e) {
      fake_quant_block(xd + b, yd + b, e - b, c, lo, hi, a.clip_lo, a.clip_hi);
    });
    return;
  }
  parallel_for(
      s.outer * s.channels,
      [&](int64_t b0, int64_t b1) {
        for (int64_t b = b0; b < b1; ++b) {
          const Channel c = channel(b % s.channels);
          fake_quant_block(xd + b * s.inner, yd + b * s.inner, s.inner, c, lo, hi, a.clip_lo, a.clip_hi);
        }
      },
      std::max<int64_t>(1, 16384 / std::max<int64_t>(s.inner, 1)));
}

}  // namespace

void fake_quantize(const std::string& op, const Tensor& x, const FakeQuantArgs& a, Tensor& y) {
  DPL_CHECK(a.q_scale && a.dq_scale, "internal: {} without scales", op);
  const DType qt = a.q_zp ? a.q_zp->dtype() : DType::U8;
  DPL_CHECK(qt == DType::U8 || qt == DType::I8, "{}: quantized type {} not supported (int8 and uint8 are)", op,
            dtype_name(qt));
  DPL_CHECK(!a.dq_zp || a.dq_zp->dtype() == qt, "{}: the dequantize zero point is {} but the quantized values are {}",
            op, dtype_name(a.dq_zp ? a.dq_zp->dtype() : qt), dtype_name(qt));
  DPL_CHECK(x.dtype() == DType::F32 || x.dtype() == DType::I32, "{}: input must be float32 or int32, got {}", op,
            dtype_name(x.dtype()));
  const AxisSplit qs = split_axis(op, x, *a.q_scale, a.q_zp, a.q_axis);
  const AxisSplit ds = split_axis(op, x, *a.dq_scale, a.dq_zp, a.dq_axis);
  DPL_CHECK(!qs.per_axis || !ds.per_axis || (qs.outer == ds.outer && qs.channels == ds.channels),
            "{}: quantize and dequantize are per channel along different axes", op);
  const AxisSplit& s = qs.per_axis ? qs : ds;
  if (!y.defined() || y.shape() != x.shape() || y.dtype() != DType::F32) y = Tensor(DType::F32, x.shape());
  if (x.numel() == 0) return;
  const float lo = std::max(qt == DType::U8 ? 0.f : -128.f, a.code_lo);
  const float hi = std::min(qt == DType::U8 ? 255.f : 127.f, a.code_hi);
  DPL_CHECK(lo <= hi, "{}: code bounds [{}, {}] are empty", op, lo, hi);
  if (x.dtype() == DType::F32) run<float>(x, a, s, lo, hi, y);
  else run<int32_t>(x, a, s, lo, hi, y);
}

}  // namespace dpl
