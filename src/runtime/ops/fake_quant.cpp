// The one-pass fake quantization of runtime/ops/fake_quant.h. Rounding uses the 1.5 * 2^23
// trick, exact round-half-even for |v| < 2^22 under the default rounding mode (and +0 for
// every value that rounds to zero, as the integer round trip gives); larger values saturate
// whatever their rounding, which keeps the loop free of calls and vectorizable.
#include "runtime/ops/fake_quant.h"

#include <algorithm>
#if defined(__AVX512F__)
#include <immintrin.h>
#endif
#include <cstring>
#include <limits>
#include <type_traits>

#include "runtime/fusion.h"
#include "runtime/ops/data_movement.h"
#include "runtime/ops/elementwise.h"
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

// One channel's constants, with the code bounds.
struct Channel {
  float qs, qz, ds, dz, lo, hi;
  // The usual QDQ pair: one scale and one zero point on both sides.
  bool same() const { return qs == ds && qz == dz; }
};

// One value's quantization and dequantization (after the clip). Same: the usual pair, in
// fewer operations with the same bits: (clamp(r + z) - z) * s == clamp(r, lo - z, hi - z) * s
// (r and z integers, or r so large that both clamp), and the rounding needs no guard for
// |t| >= 2^22, where (t + 1.5 * 2^23) - 1.5 * 2^23 keeps the sign and a magnitude of 2^22 - 2
// or more, which clamps as t does. NaN clamps low either way.
// The clamped code of v0 (as a float), QuantizeLinear's result. Values of magnitude 2^22 and
// more saturate; NaN stays NaN through the rounding and clamps low.
inline float quant_code(float v0, const Channel& c) {
  const float v = round_half_even(v0 / c.qs) + c.qz;
  const float lo = v > c.lo ? v : c.lo;
  return lo < c.hi ? lo : c.hi;
}

template <bool Same>
inline float fake_quant_value(float v0, const Channel& c) {
  if constexpr (Same) {
    const float t = v0 / c.qs;
    constexpr float kMagic = 12582912.f;  // 1.5 * 2^23
    const float r = (t + kMagic) - kMagic, lo = c.lo - c.qz, hi = c.hi - c.qz;
    float v = r > lo ? r : lo;
    v = v < hi ? v : hi;
    return v * c.qs;
  } else {
    return (quant_code(v0, c) - c.dz) * c.ds;
  }
}

// The channel by value: with a reference, a store to y (which may be x itself) could change
// it, so the loop reloaded it every element and did not vectorize (6x slower).
template <bool Same, typename X>
void fake_quant_block(const X* x, float* y, int64_t n, const Channel c, float clip_lo, float clip_hi) {
  const bool clip = clip_lo > -std::numeric_limits<float>::infinity() || clip_hi < std::numeric_limits<float>::infinity();
  if (!std::is_same_v<X, float> || !clip) {
    for (int64_t i = 0; i < n; ++i) y[i] = fake_quant_value<Same>(static_cast<float>(x[i]), c);
    return;
  }
  for (int64_t i = 0; i < n; ++i) {
    float v0 = static_cast<float>(x[i]);
    v0 = v0 < clip_lo ? clip_lo : v0;  // NaN passes, as ClipOp lets it
    v0 = v0 > clip_hi ? clip_hi : v0;
    y[i] = fake_quant_value<Same>(v0, c);
  }
}

template <typename X>
void fake_quant_any(const X* x, float* y, int64_t n, const Channel& c, float clip_lo, float clip_hi) {
  if (c.same()) fake_quant_block<true>(x, y, n, c, clip_lo, clip_hi);
  else fake_quant_block<false>(x, y, n, c, clip_lo, clip_hi);
}

// A table of up to 256 floats indexed by a quantized value's code (minus the low bound):
// what a chain that depends on x through FQ1(x) only computes there.
struct CodeTable {
  alignas(64) float v[256] = {};
};

// The codes of n values (n <= 1024), as table indices.
inline void code_indices(const float* __restrict x, int32_t* __restrict idx, int64_t n, const Channel c) {
  for (int64_t i = 0; i < n; ++i) idx[i] = static_cast<int32_t>(quant_code(x[i], c) - c.lo);
}

#if defined(__AVX512F__)
// The lookup as register permutes: a gather of 16 values cost more than computing them
// (docs/perf-notes.md, "Fake quantization in one pass"). The 256 entries are 16 registers;
// each permute picks by the low 5 bits of the code from a pair of them, three blends by the
// next 3 bits pick among the 8 pairs.
struct RegisterTable {
  __m512 t[16];
  explicit RegisterTable(const CodeTable& table) {
    for (int k = 0; k < 16; ++k) t[k] = _mm512_load_ps(table.v + 16 * k);
  }
  __m512 operator()(__m512i k) const {
    __m512 r[8];
    for (int p = 0; p < 8; ++p) r[p] = _mm512_permutex2var_ps(t[2 * p], k, t[2 * p + 1]);
    const __mmask16 m0 = _mm512_test_epi32_mask(k, _mm512_set1_epi32(32));
    const __mmask16 m1 = _mm512_test_epi32_mask(k, _mm512_set1_epi32(64));
    const __mmask16 m2 = _mm512_test_epi32_mask(k, _mm512_set1_epi32(128));
    const __m512 a0 = _mm512_mask_blend_ps(m0, r[0], r[1]), a1 = _mm512_mask_blend_ps(m0, r[2], r[3]);
    const __m512 a2 = _mm512_mask_blend_ps(m0, r[4], r[5]), a3 = _mm512_mask_blend_ps(m0, r[6], r[7]);
    const __m512 b0 = _mm512_mask_blend_ps(m1, a0, a1), b1 = _mm512_mask_blend_ps(m1, a2, a3);
    return _mm512_mask_blend_ps(m2, b0, b1);
  }
};
#endif

// y[i] = table[idx[i]] for n values.
inline void look_up(const CodeTable& table, const int32_t* __restrict idx, float* __restrict y, int64_t n) {
  int64_t i = 0;
#if defined(__AVX512F__)
  const RegisterTable regs(table);
  for (; i + 16 <= n; i += 16) _mm512_storeu_ps(y + i, regs(_mm512_load_si512(idx + i)));
#endif
  for (; i < n; ++i) y[i] = table.v[idx[i]];
}

// FQ1's value at each code, through f: table[k] = f((lo + k - dz) * ds).
template <typename F>
CodeTable code_table(const Channel& c1, F f) {
  CodeTable table;
  const int codes = static_cast<int>(c1.hi - c1.lo) + 1;
  for (int k = 0; k < codes; ++k) table.v[k] = f((c1.lo + static_cast<float>(k) - c1.dz) * c1.ds);
  return table;
}

// fake_quant_silu's TensorRT form over n values: its steps as separate loops over an L1-sized
// block (each vectorizes; the whole chain in one loop did not, and ran slower than separate
// passes). The Sigmoid reads FQ1(x), one of at most 256 values: it is a lookup of x's code in
// a table of sigmoid_fast at each (the same bits). MulBy: 0 none (y = s), 1 x.
template <int MulBy, bool Last>
void fake_quant_silu_block(const float* __restrict x, float* __restrict y, int64_t n, const Channel& c1,
                           const Channel& c3) {
  const CodeTable sigmoid = code_table(c1, [](float v) { return ew::sigmoid_fast(v); });
  constexpr int64_t kBlock = 1024;
  alignas(64) int32_t idx[kBlock];
  alignas(64) float s[kBlock];
  for (int64_t b = 0; b < n; b += kBlock) {
    const int64_t m = std::min(kBlock, n - b);
    const float* __restrict xb = x + b;
    float* __restrict yb = y + b;
    code_indices(xb, idx, m, c1);
    if constexpr (MulBy == 0) {
      look_up(sigmoid, idx, yb, m);
    } else {
      look_up(sigmoid, idx, s, m);
      if constexpr (Last) {
        for (int64_t i = 0; i < m; ++i) s[i] *= xb[i];
        if (c3.same()) {
          for (int64_t i = 0; i < m; ++i) yb[i] = fake_quant_value<true>(s[i], c3);
        } else {
          for (int64_t i = 0; i < m; ++i) yb[i] = fake_quant_value<false>(s[i], c3);
        }
      } else {
        for (int64_t i = 0; i < m; ++i) yb[i] = xb[i] * s[i];
      }
    }
  }
}

// The quantized-Sigmoid chain depends on x through FQ1(x) only: y is a lookup of x's code in
// a table of the chain's values there, built with the same functions, so the same bits; per
// value, a quantization and a lookup.
void fake_quant_silu_lookup(const float* __restrict x, float* __restrict y, int64_t n, const Channel& c1,
                            const Channel& c2, const Channel& c3, bool last) {
  const CodeTable table = code_table(c1, [&](float v) {
    const float m = v * fake_quant_value<false>(ew::sigmoid_fast(v), c2);
    return last ? fake_quant_value<false>(m, c3) : m;
  });
  constexpr int64_t kBlock = 1024;
  alignas(64) int32_t idx[kBlock];
  for (int64_t b = 0; b < n; b += kBlock) {
    const int64_t m = std::min(kBlock, n - b);
    code_indices(x + b, idx, m, c1);
    look_up(table, idx, y + b, m);
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
    return Channel{value_at(a.q_scale, c), value_at(a.q_zp, c), value_at(a.dq_scale, c), value_at(a.dq_zp, c), lo, hi};
  };
  if (!s.per_axis) {
    const Channel c = channel(0);
    parallel_for(x.numel(), [&](int64_t b, int64_t e) { fake_quant_any(xd + b, yd + b, e - b, c, a.clip_lo, a.clip_hi); });
    return;
  }
  parallel_for(
      s.outer * s.channels,
      [&](int64_t b0, int64_t b1) {
        for (int64_t b = b0; b < b1; ++b) {
          const Channel c = channel(b % s.channels);
          fake_quant_any(xd + b * s.inner, yd + b * s.inner, s.inner, c, a.clip_lo, a.clip_hi);
        }
      },
      std::max<int64_t>(1, 16384 / std::max<int64_t>(s.inner, 1)));
}

}  // namespace

namespace {

// The code bounds of a's zero point type (uint8 when omitted), checked as fake_quantize does.
std::pair<float, float> code_bounds(const std::string& op, const FakeQuantArgs& a) {
  const DType qt = a.q_zp ? a.q_zp->dtype() : DType::U8;
  DPL_CHECK(qt == DType::U8 || qt == DType::I8, "{}: quantized type {} not supported (int8 and uint8 are)", op,
            dtype_name(qt));
  DPL_CHECK(!a.dq_zp || a.dq_zp->dtype() == qt, "{}: the dequantize zero point is {} but the quantized values are {}",
            op, dtype_name(a.dq_zp ? a.dq_zp->dtype() : qt), dtype_name(qt));
  const float lo = std::max(qt == DType::U8 ? 0.f : -128.f, a.code_lo);
  const float hi = std::min(qt == DType::U8 ? 255.f : 127.f, a.code_hi);
  DPL_CHECK(lo <= hi, "{}: code bounds [{}, {}] are empty", op, lo, hi);
  return {lo, hi};
}

Channel per_tensor_channel(const std::string& op, const FakeQuantArgs& a, std::pair<float, float> bounds) {
  DPL_CHECK(a.q_scale && a.dq_scale, "internal: {} without scales", op);
  for (const Tensor* t : {a.q_scale, a.q_zp, a.dq_scale, a.dq_zp})
    DPL_CHECK(!t || t->numel() == 1, "{}: a fused fake quantization takes per-tensor parameters, got {} values", op,
              t->numel());
  DPL_CHECK(a.q_scale->dtype() == DType::F32 && a.dq_scale->dtype() == DType::F32, "{}: scales must be float32", op);
  return Channel{value_at(a.q_scale, 0), value_at(a.q_zp, 0), value_at(a.dq_scale, 0), value_at(a.dq_zp, 0),
                 bounds.first, bounds.second};
}

}  // namespace

void fake_quant_silu(const std::string& op, const Tensor& x, const SiluChain& chain, Tensor& y) {
  DPL_CHECK(x.dtype() == DType::F32, "{}: input must be float32, got {}", op, dtype_name(x.dtype()));
  DPL_CHECK(chain.mul || (!chain.quantized_sigmoid && !chain.last), "internal: {}: a SiLU chain without its Mul", op);
  const Channel c1 = per_tensor_channel(op, chain.first, code_bounds(op, chain.first));
  const Channel unused{1.f, 0.f, 1.f, 0.f, 0.f, 0.f};
  const Channel c2 = chain.quantized_sigmoid ? per_tensor_channel(op, chain.sigmoid_fq, code_bounds(op, chain.sigmoid_fq))
                                             : unused;
  const Channel c3 = chain.last ? per_tensor_channel(op, chain.last_fq, code_bounds(op, chain.last_fq)) : unused;
  if (!y.defined() || y.shape() != x.shape() || y.dtype() != DType::F32) y = Tensor(DType::F32, x.shape());
  const float* xd = x.data<float>();
  float* yd = y.data<float>();
  using Form = void (*)(const float*, float*, int64_t, const Channel&, const Channel&);
  Form form = nullptr;
  if (chain.quantized_sigmoid) {
    parallel_for(
        x.numel(),
        [&](int64_t b, int64_t e) { fake_quant_silu_lookup(xd + b, yd + b, e - b, c1, c2, c3, chain.last); });
    return;
  }
  if (!chain.mul) form = fake_quant_silu_block<0, false>;
  else form = chain.last ? fake_quant_silu_block<1, true> : fake_quant_silu_block<1, false>;
  parallel_for(x.numel(), [&](int64_t b, int64_t e) { form(xd + b, yd + b, e - b, c1, c3); }, kElementwiseGrainHeavy);
}

bool per_tensor_constant_pair(const NodeDesc& f) {
  if (f.op_type != kQuantDequantOp || f.absorbed.size() != 2) return false;
  for (const NodeDesc& n : f.absorbed) {
    const Tensor *scale = n.constant(1), *zp = n.constant(2);
    if (!scale || scale->numel() != 1 || scale->dtype() != DType::F32) return false;
    if (n.has_input(2) && (!zp || zp->numel() != 1 || (zp->dtype() != DType::U8 && zp->dtype() != DType::I8)))
      return false;
  }
  return true;
}

FakeQuantOperands pair_operands(const NodeDesc& f, int first) {
  const NodeDesc &q = f.absorbed.at(0), &dq = f.absorbed.at(1);
  return fake_quant_operands(q, first, dq, first + 1 + (q.has_input(2) ? 1 : 0));
}

FakeQuantConstants pair_constants(const std::string& op, const NodeDesc& f) {
  DPL_CHECK(per_tensor_constant_pair(f), "internal: {}: not a constant per-tensor fake quantization", op);
  const NodeDesc &q = f.absorbed[0], &dq = f.absorbed[1];
  FakeQuantArgs a;
  a.q_scale = q.constant(1);
  a.q_zp = q.has_input(2) ? q.constant(2) : nullptr;
  a.dq_scale = dq.constant(1);
  a.dq_zp = dq.has_input(2) ? dq.constant(2) : nullptr;
  return FakeQuantSpan(op, a).constants();
}

FakeQuantSpan::FakeQuantSpan(const std::string& op, const FakeQuantArgs& a) {
  const Channel c = per_tensor_channel(op, a, code_bounds(op, a));
  c_ = FakeQuantConstants{c.qs, c.qz, c.ds, c.dz, c.lo, c.hi};
}

void FakeQuantSpan::operator()(const float* x, float* y, int64_t n) const {
  constexpr float kInf = std::numeric_limits<float>::infinity();
  fake_quant_any<float>(x, y, n, Channel{c_.q_scale, c_.q_zero, c_.dq_scale, c_.dq_zero, c_.lo, c_.hi}, -kInf, kInf);
}

std::optional<FakeQuantSpan> constant_fake_quant(const std::string& op, const FakeQuantOperands& o, const NodeDesc& n) {
  std::vector<const Tensor*> consts(n.inputs.size(), nullptr);
  for (size_t i = 0; i < consts.size(); ++i) consts[i] = n.constant(i);
  for (int i : {o.q_scale, o.q_zp, o.dq_scale, o.dq_zp})
    if (i >= 0 && (static_cast<size_t>(i) >= consts.size() || !consts[static_cast<size_t>(i)])) return std::nullopt;
  try {
    const FakeQuantArgs a = o.args(consts);
    for (const Tensor* t : {a.q_scale, a.q_zp, a.dq_scale, a.dq_zp})
      if (t && t->numel() != 1) return std::nullopt;
    return FakeQuantSpan(op, a);
  } catch (const Error&) {
    return std::nullopt;
  }
}

void fake_quantize(const std::string& op, const Tensor& x, const FakeQuantArgs& a, Tensor& y) {
  DPL_CHECK(a.q_scale && a.dq_scale, "internal: {} without scales", op);
  const auto [lo, hi] = code_bounds(op, a);
  DPL_CHECK(x.dtype() == DType::F32 || x.dtype() == DType::I32, "{}: input must be float32 or int32, got {}", op,
            dtype_name(x.dtype()));
  const AxisSplit qs = split_axis(op, x, *a.q_scale, a.q_zp, a.q_axis);
  const AxisSplit ds = split_axis(op, x, *a.dq_scale, a.dq_zp, a.dq_axis);
  DPL_CHECK(!qs.per_axis || !ds.per_axis || (qs.outer == ds.outer && qs.channels == ds.channels),
            "{}: quantize and dequantize are per channel along different axes", op);
  const AxisSplit& s = qs.per_axis ? qs : ds;
  if (!y.defined() || y.shape() != x.shape() || y.dtype() != DType::F32) y = Tensor(DType::F32, x.shape());
  if (x.numel() == 0) return;
  if (x.dtype() == DType::F32) run<float>(x, a, s, lo, hi, y);
  else run<int32_t>(x, a, s, lo, hi, y);
}

bool CopyFakeQuant::can_absorb(const NodeDesc& self, const NodeDesc& f, bool ready) {
  return ready && self.absorbed.empty() && per_tensor_constant_pair(f);
}

void CopyFakeQuant::init(const NodeDesc& node) {
  if (node.absorbed.empty()) return;
  own_ = node.own_inputs;
  name_ = node.op_type + " '" + node.name + "' + QuantizeLinear -> DequantizeLinear";
  fq_ = constant_fake_quant(name_, pair_operands(node.absorbed.at(0), static_cast<int>(own_)), node);
  DPL_CHECK(fq_.has_value(), "internal: {}: the pair's operands are not valid constants", name_);
}

void CopyFakeQuant::copy(void* dst, const void* src, size_t bytes) const {
  if (!fq_) {
    std::memcpy(dst, src, bytes);
    return;
  }
  (*fq_)(static_cast<const float*>(src), static_cast<float*>(dst), static_cast<int64_t>(bytes / sizeof(float)));
}

void CopyFakeQuant::parallel_copy(void* dst, const void* src, size_t bytes) const {
  ops::parallel_byte_chunks(bytes, [&](size_t lo, size_t hi) {
    copy(static_cast<char*>(dst) + lo, static_cast<const char*>(src) + lo, hi - lo);
  });
}

void CopyFakeQuant::apply(Tensor& t) const {
  if (!fq_) return;
  check_float(t);
  parallel_copy(t.raw(), t.raw(), t.bytes());
}

void CopyFakeQuant::check_float(const Tensor& t) const {
  DPL_CHECK(!fq_ || t.dtype() == DType::F32, "{}: QuantizeLinear needs float32 values, got {}", name_,
            dtype_name(t.dtype()));
}

}  // namespace dpl
