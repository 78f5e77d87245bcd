// QuantizeLinear, DequantizeLinear (opset 10 and 13: per-tensor, or per-axis with the
// `axis` attribute) and DynamicQuantizeLinear (opset 11).
//
//   QuantizeLinear:   y = saturate(round_half_even(x / scale) + zero_point)  (int8 or uint8,
//                     the zero point's type; uint8 when it is omitted)
//   DequantizeLinear: y = (x - zero_point) * scale   (int8, uint8 or int32 input)
//
// In fused sessions a QuantizeLinear absorbs the DequantizeLinear that reads its output
// (the fake quantization of a QDQ model) and runs both as one pass (ops/fake_quant.h).
//
// The division is a float division and rounding uses the default round-to-nearest-even
// mode, as ONNX's reference and ONNX Runtime do, so results are bit-exact with them.
#include <cmath>
#include <limits>
#include <map>
#include <string>
#include <utility>

#include "runtime/fusion.h"
#include "runtime/op_registry.h"
#include "runtime/ops/data_movement.h"
#include "runtime/ops/fake_quant.h"
#include "runtime/ops/rounding.h"
#include "runtime/parallel.h"

namespace dpl {
namespace {

// Calls f(xb, yb, scale, zero_point) for every block of s.inner elements, in parallel: xb
// and yb the block in x (element type X) and y (Y); scale and zero point (Z, 0 when absent)
// those of the block's channel, or the tensor's when per tensor.
template <typename X, typename Y, typename Z, typename F>
void for_each_block(const Tensor& x, const Tensor& scale, const Tensor* zp, Tensor& y, const AxisSplit& s, F&& f) {
  const X* xd = x.data<X>();
  Y* yd = y.data<Y>();
  const float* sd = scale.data<float>();
  const Z* zd = zp ? zp->data<Z>() : nullptr;
  parallel_for(
      s.outer * s.channels,
      [&](int64_t b0, int64_t b1) {
        for (int64_t b = b0; b < b1; ++b) {
          const int64_t c = s.per_axis ? b % s.channels : 0;
          f(xd + b * s.inner, yd + b * s.inner, sd[c], zd ? zd[c] : Z(0));
        }
      },
      std::max<int64_t>(1, 65536 / std::max<int64_t>(s.inner, 1)));
}

template <typename Q>
constexpr float qmin() { return static_cast<float>(std::numeric_limits<Q>::min()); }
template <typename Q>
constexpr float qmax() { return static_cast<float>(std::numeric_limits<Q>::max()); }

// y[i] = saturate(nearbyint(x[i] / s) + zp). NaN goes to the low end like a plain clamp.
template <typename X, typename Q>
void quantize_block(const X* __restrict x, Q* __restrict y, int64_t n, float s, float zp) {
  for (int64_t i = 0; i < n; ++i) {
    float v = round_half_even(static_cast<float>(x[i]) / s) + zp;
    v = v > qmin<Q>() ? v : qmin<Q>();
    v = v < qmax<Q>() ? v : qmax<Q>();
    y[i] = static_cast<Q>(v);
  }
}

template <typename X, typename Q>
void quantize(const Tensor& x, const Tensor& scale, const Tensor* zp, Tensor& y, const AxisSplit& s) {
  for_each_block<X, Q, Q>(x, scale, zp, y, s, [&](const X* xb, Q* yb, float sc, Q z) {
    quantize_block(xb, yb, s.inner, sc, static_cast<float>(z));
  });
}

// Whether the scale (input 1) and zero point (input 2) of a QuantizeLinear or
// DequantizeLinear are constants of one value.
bool per_tensor_constants(const NodeDesc& n) {
  const Tensor *scale = n.constant(1), *zp = n.constant(2);
  return scale && scale->numel() == 1 && (!n.has_input(2) || (zp && zp->numel() == 1));
}

// How many operands a follower's node appended to the absorbing node's inputs (its inputs
// after the first that are present).
int appended(const NodeDesc& n) {
  int k = 0;
  for (size_t i = 1; i < n.inputs.size(); ++i) k += !n.inputs[i].empty();
  return k;
}

class QuantizeLinearOp : public Op {
 public:
  // The DequantizeLinear reading its output (the fake quantization); then, per tensor, the
  // SiLU after it with its fake quantizations (fake_quant_silu): TensorRT's Sigmoid reading
  // the fake-quantized x and the Mul of the float x by it, or the Sigmoid -> Q -> DQ -> Mul
  // of the other platforms as one follower (kQuantizedSwishOp); then the product's pair.
  bool can_absorb(const NodeDesc& self, const NodeDesc& f, bool extra_ready) const override {
    if (!extra_ready) return false;
    const auto& a = self.absorbed;
    if (a.empty()) return fake_quant_pair(self, f);
    const bool pair_per_tensor = per_tensor_constants(self) && per_tensor_constants(a[0]);
    if (a.size() == 1 && f.op_type == "Sigmoid") return f.inputs.size() == 1 && pair_per_tensor;
    if (a.size() == 1 && f.op_type == kQuantizedSwishOp)
      return pair_per_tensor && per_tensor_constants(f.absorbed[1]) && per_tensor_constants(f.absorbed[2]);
    const bool product_done = (a.size() == 2 && a[1].op_type == kQuantizedSwishOp) ||
                              (a.size() == 3 && a[1].op_type == "Sigmoid" && a[2].op_type == "Mul");
    if (product_done)
      return f.op_type == kQuantDequantOp && f.absorbed.size() == 2 && per_tensor_constants(f.absorbed[0]) &&
             per_tensor_constants(f.absorbed[1]);
    if (a.size() == 2 && a[1].op_type == "Sigmoid") {
      if (f.op_type != "Mul" || f.inputs.size() != 2 || self.outputs.size() != 1) return false;
      const std::string &x = self.inputs[0], &s = self.outputs[0];
      return (f.inputs[0] == x && f.inputs[1] == s) || (f.inputs[0] == s && f.inputs[1] == x);
    }
    return false;
  }
  void init(const NodeDesc& node) override {
    name_ = "QuantizeLinear '" + node.name + "'";
    axis_ = node.attrs.get_int("axis", 1);
    if (node.attrs.has("saturate"))
      DPL_CHECK(node.attrs.get_int("saturate", 1) == 1, "{}: saturate=0 applies to float8 only", name_);
    fused_ = !node.absorbed.empty();
    if (fused_) {
      name_ += " + DequantizeLinear '" + node.absorbed[0].name + "'";
      dq_ = fake_quant_operands(node, 1, node.absorbed[0], static_cast<int>(node.own_inputs));
      if (node.own_inputs <= 2) dq_.q_zp = -1;  // input 2 is the DequantizeLinear's scale then
    }
    silu_ = node.absorbed.size() >= 2;
    if (fused_ && !silu_) span_fq_ = constant_fake_quant(name_, dq_, node);
    if (!silu_) return;
    // Operands after the node's own (x, scale[, zero point]) and the DequantizeLinear's, in
    // absorption order: TensorRT's Mul appends x; the quantized SiLU its pair's; the last
    // pair its own.
    int next = static_cast<int>(node.own_inputs) + appended(node.absorbed[0]);
    auto pair_at = [&](const NodeDesc& q, const NodeDesc& dq) {
      const FakeQuantOperands o = fake_quant_operands(q, next, dq, next + appended(q));
      next += appended(q) + appended(dq);
      return o;
    };
    const NodeDesc& chain = node.absorbed[1];
    quantized_sigmoid_ = chain.op_type == kQuantizedSwishOp;
    if (quantized_sigmoid_) {
      sigmoid_fq_ = pair_at(chain.absorbed[1], chain.absorbed[2]);
      name_ += " + SiLU with its Sigmoid quantized";
    } else {
      mul_ = node.absorbed.size() >= 3;
      next += mul_;  // the Mul's x
      name_ += mul_ ? " + SiLU" : " + Sigmoid";
    }
    const NodeDesc& tail = node.absorbed.back();
    last_ = tail.op_type == kQuantDequantOp;
    if (last_) {
      last_fq_ = pair_at(tail.absorbed[0], tail.absorbed[1]);
      name_ += " + QuantizeLinear '" + tail.absorbed[0].name + "' + DequantizeLinear '" + tail.absorbed[1].name + "'";
    }
  }
  // The fake quantization (with its DequantizeLinear, constant per-tensor operands) on spans.
  bool forward_span(const SpanArgs& a) override {
    if (!span_fq_ || a.inputs < 1 || !a.in[0] || a.scalar[0]) return false;
    (*span_fq_)(a.in[0], a.y, a.n);
    return true;
  }
  void forward(OpContext&, const std::vector<const Tensor*>& in, std::vector<Tensor>& out) override {
    const Tensor& x = *in[0];
    const Tensor& scale = *in[1];
    if (silu_) {
      SiluChain c;
      c.first = dq_.args(in);
      c.quantized_sigmoid = quantized_sigmoid_;
      if (quantized_sigmoid_) c.sigmoid_fq = sigmoid_fq_.args(in);
      c.mul = mul_;
      c.last = last_;
      if (last_) c.last_fq = last_fq_.args(in);
      Tensor y;
      fake_quant_silu(name_, x, c, y);
      out[0] = std::move(y);
      return;
    }
    if (fused_) {
      Tensor y;
      fake_quantize(name_, x, dq_.args(in), y);
      out[0] = std::move(y);
      return;
    }
    const Tensor* zp = in.size() > 2 ? in[2] : nullptr;
    const DType qt = zp ? zp->dtype() : DType::U8;
    DPL_CHECK(qt == DType::U8 || qt == DType::I8, "{}: output type {} not supported (int8 and uint8 are)", name_,
              dtype_name(qt));
    DPL_CHECK(x.dtype() == DType::F32 || x.dtype() == DType::I32, "{}: input must be float32 or int32, got {}", name_,
              dtype_name(x.dtype()));
    AxisSplit s = split_axis(name_, x, scale, zp, axis_);
    Tensor y(qt, x.shape());
    if (x.numel() > 0) {
      const bool xf = x.dtype() == DType::F32;
      if (qt == DType::U8) xf ? quantize<float, uint8_t>(x, scale, zp, y, s) : quantize<int32_t, uint8_t>(x, scale, zp, y, s);
      else xf ? quantize<float, int8_t>(x, scale, zp, y, s) : quantize<int32_t, int8_t>(x, scale, zp, y, s);
    }
    out[0] = y;
  }

 private:
  std::string name_;
  int64_t axis_ = 1;
  bool fused_ = false;
  // The SiLU chain (fake_quant_silu): its form and operands.
  bool silu_ = false, quantized_sigmoid_ = false, mul_ = true, last_ = false;
  FakeQuantOperands dq_, sigmoid_fq_, last_fq_;
  std::optional<FakeQuantSpan> span_fq_;  // the pair alone, with constant operands
};

template <typename Q>
void dequantize(const Tensor& x, const Tensor& scale, const Tensor* zp, Tensor& y, const AxisSplit& s) {
  for_each_block<Q, float, Q>(x, scale, zp, y, s, [&](const Q* xb, float* yb, float sc, Q zq) {
    const int32_t z = static_cast<int32_t>(zq);
    for (int64_t i = 0; i < s.inner; ++i) yb[i] = static_cast<float>(static_cast<int32_t>(xb[i]) - z) * sc;
  });
}

// y[i] = table[x[i] + offset] (an int8 code read as a byte and offset by 128 lands on its
// entry). Restrict-qualified and not inlined: with byte stores the compiler otherwise reloads
// the captured pointers for every element.
template <typename E>
__attribute__((noinline)) void look_up_block(const uint8_t* __restrict x, E* __restrict y, int64_t n,
                                             const E* __restrict table, int offset) {
  for (int64_t i = 0; i < n; ++i) y[i] = table[static_cast<uint8_t>(x[i] + offset)];
}

// DequantizeLinear. In fused sessions a per-tensor DequantizeLinear of 8-bit codes absorbs
// the element-wise nodes after it that compute one function of its value (kCodeLookupOp, a
// QOperator model's SiLU) and runs them as a 256-entry table: built once by running those
// nodes' own kernels on every code, so the table holds bit for bit what they compute.
class DequantizeLinearOp : public Op {
 public:
  bool can_absorb(const NodeDesc& self, const NodeDesc& f, bool ready) const override {
    if (f.op_type != kCodeLookupOp || !ready || !self.absorbed.empty() || !self.has_input(2)) return false;
    const Tensor *scale = self.constant(1), *zp = self.constant(2);
    return scale && zp && scale->numel() == 1 && zp->numel() == 1 && scale->dtype() == DType::F32 &&
           (zp->dtype() == DType::U8 || zp->dtype() == DType::I8);
  }
  void init(const NodeDesc& node) override {
    name_ = "DequantizeLinear '" + node.name + "'";
    axis_ = node.attrs.get_int("axis", 1);
    if (!node.absorbed.empty()) {
      island_ = node.absorbed[0].absorbed;
      own_output_ = node.absorbed[0].inputs[0];
      name_ += " + " + std::to_string(island_.size()) + " element-wise nodes as a table";
    }
  }
  void forward(OpContext&, const std::vector<const Tensor*>& in, std::vector<Tensor>& out) override {
    const Tensor& x = *in[0];
    const Tensor& scale = *in[1];
    const Tensor* zp = in.size() > 2 ? in[2] : nullptr;
    if (zp) DPL_CHECK(zp->dtype() == x.dtype(), "{}: zero point is {} but x is {}", name_, dtype_name(zp->dtype()),
                      dtype_name(x.dtype()));
    if (!island_.empty()) {
      out[0] = look_up(x, scale, zp);
      return;
    }
    out[0] = dequantized(x, scale, zp);
  }

 private:
  Tensor dequantized(const Tensor& x, const Tensor& scale, const Tensor* zp) const {
    AxisSplit s = split_axis(name_, x, scale, zp, axis_);
    Tensor y(DType::F32, x.shape());
    if (x.numel() > 0) {
      switch (x.dtype()) {
        case DType::U8: dequantize<uint8_t>(x, scale, zp, y, s); break;
        case DType::I8: dequantize<int8_t>(x, scale, zp, y, s); break;
        case DType::I32:
          if (zp)
            for (int64_t i = 0; i < zp->numel(); ++i)
              DPL_CHECK(zp->data<int32_t>()[i] == 0, "{}: an int32 input needs a zero point of 0", name_);
          dequantize<int32_t>(x, scale, zp, y, s);
          break;
        default: fail("{}: input type {} not supported (int8, uint8, int32 are)", name_, dtype_name(x.dtype()));
      }
    }
    return y;
  }

  // The absorbed nodes' result for every code of x's type, in code order (-128.. or 0..).
  Tensor build_table(DType code_type, const Tensor& scale, const Tensor* zp) const {
    Tensor codes(code_type, {256});
    for (int i = 0; i < 256; ++i) {
      if (code_type == DType::U8) codes.data<uint8_t>()[i] = static_cast<uint8_t>(i);
      else codes.data<int8_t>()[i] = static_cast<int8_t>(i - 128);
    }
    std::map<std::string, Tensor> vals;
    vals[own_output_] = dequantized(codes, scale, zp);
    for (const NodeDesc& d : island_) {
      auto op = OpRegistry::instance().create(d.op_type);
      op->init(d);
      std::vector<const Tensor*> ins;
      for (size_t k = 0; k < d.inputs.size(); ++k) {
        if (d.inputs[k].empty()) {
          ins.push_back(nullptr);
          continue;
        }
        auto it = vals.find(d.inputs[k]);
        ins.push_back(it != vals.end() ? &it->second : d.constant(k));
        DPL_CHECK(ins.back(), "internal: {}: input '{}' of the absorbed node '{}' has no value", name_, d.inputs[k],
                  d.name);
      }
      std::vector<Tensor> outs(d.outputs.size());
      OpContext ctx;
      op->forward(ctx, ins, outs);
      vals[d.outputs[0]] = std::move(outs[0]);
    }
    const Tensor& t = vals.at(island_.back().outputs[0]);
    DPL_CHECK(t.numel() == 256 && dtype_size(t.dtype()) > 0, "internal: {}: the table has {} entries", name_,
              t.numel());
    return t;
  }

  Tensor look_up(const Tensor& x, const Tensor& scale, const Tensor* zp) {
    DPL_CHECK(x.dtype() == DType::U8 || x.dtype() == DType::I8, "{}: input type {} for a table (8-bit codes only)",
              name_, dtype_name(x.dtype()));
    if (!table_.defined() || table_type_ != x.dtype()) {
      table_ = build_table(x.dtype(), scale, zp);
      table_type_ = x.dtype();
    }
    Tensor y(table_.dtype(), x.shape());
    const int offset = x.dtype() == DType::I8 ? 128 : 0;
    const auto* xs = static_cast<const uint8_t*>(x.raw());  // int8 codes read as bytes, then offset
    ops::dispatch_size(dtype_size(table_.dtype()), [&](auto tag) {
      using E = decltype(tag);
      const E* t = static_cast<const E*>(std::as_const(table_).raw());
      E* yd = static_cast<E*>(y.raw());
      parallel_for(x.numel(), [&](int64_t b, int64_t e) { look_up_block(xs + b, yd + b, e - b, t, offset); });
    });
    return y;
  }

  std::string name_;
  int64_t axis_ = 1;
  std::vector<NodeDesc> island_;  // the absorbed element-wise nodes, in plan order
  std::string own_output_;        // this node's own output name, their first input
  Tensor table_;
  DType table_type_ = DType::Undefined;
};

// DynamicQuantizeLinear: uint8 with scale = (max(0, max x) - min(0, min x)) / 255 and
// zero_point = saturate(round(0 - min / scale)).
class DynamicQuantizeLinearOp : public Op {
 public:
  void forward(OpContext&, const std::vector<const Tensor*>& in, std::vector<Tensor>& out) override {
    const Tensor& x = *in[0];
    DPL_CHECK(x.dtype() == DType::F32, "DynamicQuantizeLinear: input must be float32, got {}", dtype_name(x.dtype()));
    const float* xd = x.data<float>();
    float lo = 0.f, hi = 0.f;
    for (int64_t i = 0; i < x.numel(); ++i) {
      lo = std::min(lo, xd[i]);
      hi = std::max(hi, xd[i]);
    }
    const float scale = (hi - lo) / 255.f;
    float zpf = 0.f;
    if (scale != 0.f) {
      zpf = std::nearbyint(0.f - lo / scale);
      zpf = std::min(std::max(zpf, 0.f), 255.f);
    }
    Tensor y(DType::U8, x.shape());
    if (scale != 0.f) {
      AxisSplit s;
      s.inner = x.numel();
      Tensor st = Tensor::scalar<float>(scale);
      Tensor zt = Tensor::scalar<uint8_t>(static_cast<uint8_t>(zpf));
      quantize<float, uint8_t>(x, st, &zt, y, s);
    } else {
      std::fill_n(y.data<uint8_t>(), y.numel(), uint8_t{0});
    }
    out[0] = y;
    if (out.size() > 1) out[1] = Tensor::scalar<float>(scale);
    if (out.size() > 2) out[2] = Tensor::scalar<uint8_t>(static_cast<uint8_t>(zpf));
  }
};

}  // namespace

DPL_REGISTER_OP("QuantizeLinear", QuantizeLinearOp);
DPL_REGISTER_OP("DequantizeLinear", DequantizeLinearOp);
DPL_REGISTER_OP("DynamicQuantizeLinear", DynamicQuantizeLinearOp);

}  // namespace dpl
