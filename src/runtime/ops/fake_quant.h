// Fake quantization in one pass: [Clip ->] QuantizeLinear -> DequantizeLinear, the pattern a
// QDQ model puts on every quantized activation, run as
//
//   y = (saturate(round_half_even(clip(x) / qs) + qz) - dz) * ds
//
// bit for bit what Clip, QuantizeLinear and DequantizeLinear (quantize_linear.cpp) give in
// three passes: a float division, round-to-nearest-even, clamping to the zero point type's
// range with NaN at its low end, the clip as ClipOp does it (NaN passes). Per tensor or per
// channel (each of the two ops along its `axis`). Used by the fused sessions (QuantizeLinear
// absorbing its DequantizeLinear, Clip absorbing both: runtime/fusion.h) and by
// "dpl.FakeQuantize" (profiling). Also here: the per-axis layout both ops share.
#pragma once
#include <cstdint>
#include <limits>
#include <optional>
#include <string>

#include "core/tensor.h"
#include "runtime/node_desc.h"

namespace dpl {

// Layout of a per-axis operation: outer x channels x inner.
struct AxisSplit {
  int64_t outer = 1, channels = 1, inner = 1;
  bool per_axis = false;
};

// The split of x for a scale (and zero point) of `op` along `axis` (scalar scale: per tensor);
// errors name `op`.
AxisSplit split_axis(const std::string& op, const Tensor& x, const Tensor& scale, const Tensor* zp, int64_t axis);

// The operands of one fake quantization. Scales are float32, zero points int8 or uint8 (an
// omitted quantize zero point means uint8 0, as QuantizeLinear says).
struct FakeQuantArgs {
  const Tensor* q_scale = nullptr;
  const Tensor* q_zp = nullptr;  // may be null
  const Tensor* dq_scale = nullptr;
  const Tensor* dq_zp = nullptr;  // may be null
  int64_t q_axis = 1, dq_axis = 1;
  // Clip bounds applied first (infinite: no clip).
  float clip_lo = -std::numeric_limits<float>::infinity();
  float clip_hi = std::numeric_limits<float>::infinity();
  // Code bounds narrower than the zero point type's (a sub-8-bit grid: dpl.FakeQuantize's
  // qmin / qmax attributes); the type's own range when wider.
  float code_lo = -std::numeric_limits<float>::infinity();
  float code_hi = std::numeric_limits<float>::infinity();
};

// Where a fused node finds the QuantizeLinear's and DequantizeLinear's operands among the
// inputs forward() gets (indices; -1: omitted), and the two axes.
struct FakeQuantOperands {
  int q_scale = -1, q_zp = -1, dq_scale = -1, dq_zp = -1;
  int64_t q_axis = 1, dq_axis = 1;
  FakeQuantArgs args(const std::vector<const Tensor*>& in) const;
};

// Whether `dq` (a DequantizeLinear reading the QuantizeLinear `q`'s output) can run fused
// with it: no attributes beyond `axis` (and saturate=1), and per-channel axes that agree
// (equal, or one side per tensor by a constant scalar scale).
bool fake_quant_pair(const NodeDesc& q, const NodeDesc& dq);
// The operands of q (its scale at input q_first, then its zero point when present) and of dq
// (from input dq_first) as the fusion planner appended them.
FakeQuantOperands fake_quant_operands(const NodeDesc& q, int q_first, const NodeDesc& dq, int dq_first);

// y for float32 x (y may be x itself: in place). `op` names the node in errors.
void fake_quantize(const std::string& op, const Tensor& x, const FakeQuantArgs& a, Tensor& y);

// A QuantizeLinear -> DequantizeLinear pair offered to a node that computes its values
// itself (fusion.h's kQuantDequantOp follower `f`) with constant per-tensor parameters, which
// that node can apply to each run of values while they are in cache (FakeQuantSpan).
bool per_tensor_constant_pair(const NodeDesc& f);
// The pair's operands as the fusion planner appended them to the absorbing node's inputs,
// from input `first` on.
FakeQuantOperands pair_operands(const NodeDesc& f, int first);

// One per-tensor fake quantization as numbers: the code bounds [lo, hi] are those of the zero
// point type, narrowed by the FakeQuantArgs' code bounds.
//   y = (clamp(round_half_even(x / q_scale) + q_zero, lo, hi) - dq_zero) * dq_scale
struct FakeQuantConstants {
  float q_scale = 1.f, q_zero = 0.f, dq_scale = 1.f, dq_zero = 0.f, lo = 0.f, hi = 0.f;
  // The usual pair: one scale and one zero point on both sides.
  bool same() const { return q_scale == dq_scale && q_zero == dq_zero; }
};

// The constants of a per_tensor_constant_pair follower `f` (errors name `op`).
FakeQuantConstants pair_constants(const std::string& op, const NodeDesc& f);

// The per-tensor fake quantization of fake_quantize over spans of float32 values, in place,
// with the same bits; the constants are read once.
class FakeQuantSpan {
 public:
  FakeQuantSpan(const std::string& op, const FakeQuantArgs& a);
  explicit FakeQuantSpan(const FakeQuantConstants& c) : c_(c) {}
  void operator()(float* y, int64_t n) const { (*this)(y, y, n); }
  void operator()(const float* x, float* y, int64_t n) const;
  const FakeQuantConstants& constants() const { return c_; }

 private:
  FakeQuantConstants c_;
};

// The per-tensor fake quantization with operands `o` of a node `n`, when they are its
// constants (and valid); empty otherwise (forward() then reads them, and reports errors).
std::optional<FakeQuantSpan> constant_fake_quant(const std::string& op, const FakeQuantOperands& o, const NodeDesc& n);

// The output's per-tensor fake quantization absorbed by an operator that only copies values
// (Concat, nearest Resize): quantizing commutes with copying, so the copy can quantize as it
// goes, or the side with fewer values be quantized; the same bits as the separate pair, and
// no pass of its own (docs/perf-notes.md, "Fake quantization in copying operators").
class CopyFakeQuant {
 public:
  // Whether `self` (not yet absorbing) may take the pair `f` (Op::can_absorb's arguments).
  static bool can_absorb(const NodeDesc& self, const NodeDesc& f, bool ready);
  // From the absorbing node (its absorbed[0] the pair); inactive when it absorbed nothing.
  void init(const NodeDesc& node);
  bool active() const { return fq_.has_value(); }
  // The node's own inputs among forward()'s (the pair's operands follow them).
  size_t own_inputs(size_t given) const { return fq_ ? own_ : given; }
  // Copies `bytes` (float32 values when active) from src to dst, quantizing when active.
  void copy(void* dst, const void* src, size_t bytes) const;
  // The same over threads, in chunks.
  void parallel_copy(void* dst, const void* src, size_t bytes) const;
  // t (float32) quantized in place, over threads.
  void apply(Tensor& t) const;
  // Fails naming the node unless t is float32 (what QuantizeLinear takes here).
  void check_float(const Tensor& t) const;

 private:
  std::optional<FakeQuantSpan> fq_;
  size_t own_ = 0;
  std::string name_;
};

// The SiLU of a QDQ model with its fake quantizations, one pass over x, bit for bit what the
// separate nodes give (QuantizeLinear -> DequantizeLinear pairs FQ, Sigmoid with its own
// sigmoid_fast, Mul), in the two placements of our platforms:
//
//   TensorRT (the Sigmoid reads the quantized x, the Mul the float one):
//     v = FQ1(x), s = sigmoid(v), m = x * s, y = FQ3(m)
//   quantized Sigmoid (SNPE and most others: every tensor quantized):
//     v = FQ1(x), s = FQ2(sigmoid(v)), m = v * s, y = FQ3(m)
//
// The fusion planner may stop early: y = s (TensorRT, no Mul) or y = m (no FQ3). The second
// form depends on x through FQ1(x) only, one of 256 codes: it runs as a table lookup. Per-tensor
// parameters, float32 x; the FakeQuantArgs leave the clip and code bounds at their defaults.
struct SiluChain {
  FakeQuantArgs first;                // FQ1
  bool quantized_sigmoid = false;     // FQ2 present (then the Mul reads v)
  FakeQuantArgs sigmoid_fq;           // FQ2
  bool mul = true;                    // false: y = s (TensorRT placement only)
  bool last = false;                  // FQ3 present
  FakeQuantArgs last_fq;              // FQ3
};
void fake_quant_silu(const std::string& op, const Tensor& x, const SiluChain& chain, Tensor& y);

}  // namespace dpl
