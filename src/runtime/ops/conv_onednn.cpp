// The oneDNN path of ConvKernel: per-shape primitive cache (Entry), primitive creation
// with the post-ops, constant weights reordered once into the layout the primitive picked,
// and the run with reorders around the primitive when it works in a blocked layout.
#include <algorithm>
#include <utility>
#include <unordered_map>

#include "io/mapped_file.h"
#include "runtime/ops/conv_kernel.h"
#include "runtime/parallel.h"

namespace dpl {

using dnn::Dims;
using dnn::memory;

struct ConvKernel::Entry {
  Shape x_shape, w_shape;
  Io io;
  int threads = 1;
  ConvGeometry g;
  memory::desc user_src_md, user_dst_md, user_wei_md, bias_md;  // plain (ONNX) layouts
  memory::desc src_md, dst_md, wei_md;                           // the primitive's layouts
  memory::desc src_req, dst_req;                                 // the layouts asked for (or any)
  dnnl::primitive prim;
  std::vector<memory::desc> binary_mds;
  std::vector<int> binary_po_index;  // position of each binary post-op in oneDNN's list
  // The one-value operands of binary post-ops (a FakeQuant's scale and zero points), with
  // their positions in oneDNN's list; scalar_md has the output's rank.
  std::vector<std::pair<int, float>> scalar_po;
  memory::desc scalar_md;
  bool reorder_src = false, reorder_dst = false;
  dnnl::reorder src_r, dst_r, wei_r;
  memory packed_w;  // constant weights in wei_md
  std::string impl;  // oneDNN's implementation name (e.g. "jit:avx512_core", "gemm:jit")
  // How many of ConvParams::post_ops the primitive applies; the rest run after it on the
  // plain output (post_ops_row), where oneDNN's implementation would run them slowly.
  size_t onednn_post_ops = 0;
  // The first post-op (a BinaryAdd) is oneDNN's sum: the destination is its operand
  // (ConvIo::add_in_place).
  bool add_as_sum = false;
};

namespace {

// Rule: plain NCHW src/dst (oneDNN's gemm:jit, no reorders) for unpadded float 1x1
// convolutions on inputs of at least kPlain1x1MinPixels pixels (a plain GEMM, no im2col);
// oneDNN's own layout (reorders from/to NCHW around it) for the rest. Measurements:
// docs/perf-notes.md.
constexpr int64_t kPlain1x1MinPixels = 128;


// Whether an implementation (by oneDNN's name, e.g. "jit:avx512_core", "brgconv_1x1:...",
// "x64:gemm:jit", "ref:any") applies post-ops at the speed of the convolution itself: the
// direct JIT kernels do; the GEMM-based and reference convolutions do not.
bool post_ops_fast(const std::string& impl) {
  return impl.find("gemm") == std::string::npos && impl.find("ref") == std::string::npos;
}

}  // namespace

bool prefer_plain(const ConvParams& p, const ConvGeometry& g) {
  if (p.src_type != DType::F32) return false;  // int8 kernels want nhwc/blocked
  if (p.transposed) return false;
  if (g.G != 1) return false;
  int64_t pixels = 1;
  for (int i = 0; i < g.nsp; ++i) {
    if (g.kernel[i] != 1 || g.pads_begin[i] != 0 || g.pads_end[i] != 0) return false;
    pixels *= g.in[i];
  }
  return pixels >= kPlain1x1MinPixels;
}

// The ONNX weight layout as a oneDNN descriptor (strided view, no copy); conv_geometry.h.
memory::desc user_weight_desc(const ConvParams& p, const ConvGeometry& g) {
  const auto dt = dnn::to_dnnl(p.wei_type);
  int64_t K = 1;
  for (auto k : g.kernel) K *= k;
  Dims kdims(g.kernel.begin(), g.kernel.end());
  Dims kstrides(kdims.size());
  {
    int64_t s = 1;
    for (size_t i = kdims.size(); i-- > 0;) kstrides[i] = s, s *= kdims[i];
  }
  const int64_t Mg = g.M / g.G, Cg = g.C / g.G;
  Dims dims, strides;
  if (!p.transposed) {
    // ONNX (M, C/G, k...) is oneDNN's (oc, ic, k...) or (g, oc/g, ic/g, k...).
    if (g.G == 1) dims = {g.M, g.C}, strides = {g.C * K, K};
    else dims = {g.G, Mg, Cg}, strides = {Mg * Cg * K, Cg * K, K};
  } else {
    // ONNX (C, M/G, k...) = (g, ic/g, oc/g, k...); oneDNN wants dims (g, oc/g, ic/g, k...).
    if (g.G == 1) dims = {g.M, g.C}, strides = {K, g.M * K};
    else dims = {g.G, Mg, Cg}, strides = {Cg * Mg * K, K, Mg * K};
  }
  dims.insert(dims.end(), kdims.begin(), kdims.end());
  strides.insert(strides.end(), kstrides.begin(), kstrides.end());
  return dnn::strided_desc(dims, dt, strides);
}

namespace {

dnnl::algorithm eltwise_alg(PostOp::Kind k) {
  using A = dnnl::algorithm;
  switch (k) {
    case PostOp::Kind::Relu:
    case PostOp::Kind::LeakyRelu: return A::eltwise_relu;
    case PostOp::Kind::Clip: return A::eltwise_clip;
    case PostOp::Kind::Sigmoid: return A::eltwise_logistic;
    case PostOp::Kind::Swish: return A::eltwise_swish;
    case PostOp::Kind::HardSwish: return A::eltwise_hardswish;
    case PostOp::Kind::Tanh: return A::eltwise_tanh;
    default: fail("internal: post-op is not elementwise");
  }
}

// A QuantizeLinear -> DequantizeLinear pair as oneDNN post-ops with fake_quantize's bits
// (docs/perf-notes.md, "Fake quantization inside the convolution"): a division by the scale
// (a binary post-op on a one-value operand: a multiplication by the reciprocal rounds
// differently, and oneDNN has no element-wise division), round-half-even, the zero point, the
// clamp, the dequantization; the usual pair (one scale and zero point) as
// clamp(r, lo - z, hi - z) * s, as fake_quant.cpp does. Each step is exact on the integer codes
// but the final product, one rounding as in the kernel; NaN clamps to the low bound in both
// (max(NaN, lo) is lo on x86), and a code of zero gives +0 (x * s + 0). The zero points are
// binary additions and the clamp is clip_v2, so that an activation before the pair (a Clip,
// a HardSigmoid's linear + clip) keeps the algorithms distinct (distinct_eltwise_prefix).
void append_fake_quant(const FakeQuantConstants& c, dnnl::post_ops& po, ConvKernel::Entry& e) {
  using A = dnnl::algorithm;
  auto scalar = [&](A alg, float v) {
    e.scalar_po.emplace_back(po.len(), v);
    po.append_binary(alg, e.scalar_md);
  };
  scalar(A::binary_div, c.q_scale);
  po.append_eltwise(1.f, A::eltwise_round, 0.f, 0.f);
  if (c.same()) {
    po.append_eltwise(1.f, A::eltwise_clip_v2, c.lo - c.q_zero, c.hi - c.q_zero);
  } else {
    if (c.q_zero != 0.f) scalar(A::binary_add, c.q_zero);
    po.append_eltwise(1.f, A::eltwise_clip_v2, c.lo, c.hi);
    if (c.dq_zero != 0.f) scalar(A::binary_add, -c.dq_zero);
  }
  po.append_eltwise(1.f, A::eltwise_linear, c.dq_scale, 0.f);
}

// The first `count` of p.post_ops as oneDNN post-ops; records the binary operands'
// descriptors in `e`, and in `owner` (when given) the index in p.post_ops of each oneDNN one.
dnnl::post_ops onednn_post_ops(const ConvParams& p, size_t count, const memory::desc& dst_req, ConvKernel::Entry& e,
                               std::vector<size_t>* owner = nullptr) {
  dnnl::post_ops po;
  e.binary_mds.clear();
  e.binary_po_index.clear();
  e.scalar_po.clear();
  e.scalar_md = dnn::plain_desc(Dims(static_cast<size_t>(dst_req.data.ndims), 1), memory::data_type::f32);
  e.onednn_post_ops = count;
  for (size_t i = 0; i < count; ++i) {
    const PostOp& op = p.post_ops[i];
    if (i == 0 && e.add_as_sum) {
      po.append_sum(1.f);
      continue;
    }
    switch (op.kind) {
      case PostOp::Kind::BinaryAdd: {
        // Operand in the destination's layout when that is fixed, else plain.
        memory::desc md = dst_req.data.format_kind == dnnl_format_kind_any ? e.user_dst_md : dst_req;
        e.binary_mds.push_back(md);
        e.binary_po_index.push_back(po.len());
        po.append_binary(dnnl::algorithm::binary_add, md);
        break;
      }
      case PostOp::Kind::FakeQuant: append_fake_quant(op.fq, po, e); break;
      case PostOp::Kind::HardSigmoid:  // oneDNN 2.6 has no hardsigmoid: clip(alpha * x + beta, 0, 1)
        po.append_eltwise(1.f, dnnl::algorithm::eltwise_linear, op.alpha, op.beta);
        po.append_eltwise(1.f, dnnl::algorithm::eltwise_clip, 0.f, 1.f);
        break;
      case PostOp::Kind::Relu: po.append_eltwise(1.f, eltwise_alg(op.kind), 0.f, 0.f); break;
      case PostOp::Kind::HardSwish: po.append_eltwise(1.f, eltwise_alg(op.kind), 0.f, 0.f); break;
      case PostOp::Kind::Sigmoid:
      case PostOp::Kind::Tanh: po.append_eltwise(1.f, eltwise_alg(op.kind), 0.f, 0.f); break;
      default: po.append_eltwise(1.f, eltwise_alg(op.kind), op.alpha, op.beta); break;
    }
    if (owner) owner->resize(static_cast<size_t>(po.len()), i);
  }
  return po;
}

// oneDNN 2.6's JIT convolutions apply every eltwise post-op of one algorithm with the first
// one's parameters (a Clip after a HardSigmoid clipped to [0, 1] again; a second linear
// repeated the first: docs/perf-notes.md, "Fake quantization inside the convolution"). The
// number of leading p.post_ops whose eltwise algorithms are all different: the rest run after
// the primitive.
size_t distinct_eltwise_prefix(const ConvParams& p, const memory::desc& dst_req, ConvKernel::Entry& e) {
  std::vector<size_t> owner;
  const dnnl::post_ops po = onednn_post_ops(p, p.post_ops.size(), dst_req, e, &owner);
  std::vector<dnnl::algorithm> seen;
  for (int j = 0; j < po.len(); ++j) {
    if (po.kind(j) != dnnl::primitive::kind::eltwise) continue;
    float scale, alpha, beta;
    dnnl::algorithm alg;
    po.get_params_eltwise(j, scale, alg, alpha, beta);
    if (std::find(seen.begin(), seen.end(), alg) != seen.end()) return owner[static_cast<size_t>(j)];
    seen.push_back(alg);
  }
  return p.post_ops.size();
}

// A Fwd (convolution_forward or deconvolution_forward) primitive built from `d`; records
// the layouts oneDNN chose in `e`.
template <typename Fwd>
void make_primitive(const typename Fwd::desc& d, const dnnl::primitive_attr& attr, ConvKernel::Entry& e) {
  typename Fwd::primitive_desc pd(d, attr, dnn::engine());
  e.impl = pd.impl_info_str();
  e.src_md = pd.src_desc();
  e.dst_md = pd.dst_desc();
  e.wei_md = pd.weights_desc();
  e.prim = Fwd(pd);
}

// The convolution or deconvolution primitive for the requested activation layouts, with
// oneDNN's choice of weight layout; fills the layouts it chose into `e`.
void create_primitive(const ConvParams& p, const memory::desc& src_req, const memory::desc& dst_req,
                      const dnnl::primitive_attr& attr, ConvKernel::Entry& e) {
  const ConvGeometry& g = e.g;
  const memory::desc wei_req(e.user_wei_md.dims(), dnn::to_dnnl(p.wei_type), memory::format_tag::any);
  Dims strides(g.strides.begin(), g.strides.end()), dil(g.nsp), pl(g.nsp), pr(g.nsp);
  for (int i = 0; i < g.nsp; ++i) {
    dil[i] = g.dilations[i] - 1;
    if (!p.transposed) {
      pl[i] = g.pads_begin[i];
      pr[i] = g.pads_end[i];
    } else {
      const int64_t full = g.strides[i] * (g.in[i] - 1) + (g.kernel[i] - 1) * g.dilations[i] + 1;
      pl[i] = std::max<int64_t>(g.pads_begin[i], 0);
      pr[i] = full - pl[i] - g.prim_out[i];
    }
  }
  const auto pk = p.prop_kind;
  auto desc = [&](auto fwd, dnnl::algorithm alg) {
    using D = typename decltype(fwd)::desc;
    return p.has_bias ? D(pk, alg, src_req, wei_req, e.bias_md, dst_req, strides, dil, pl, pr)
                      : D(pk, alg, src_req, wei_req, dst_req, strides, dil, pl, pr);
  };
  using CF = dnnl::convolution_forward;
  using DF = dnnl::deconvolution_forward;
  if (!p.transposed) make_primitive<CF>(desc(CF(), dnnl::algorithm::convolution_direct), attr, e);
  else make_primitive<DF>(desc(DF(), dnnl::algorithm::deconvolution_direct), attr, e);
}

}  // namespace

ConvKernel::ConvKernel() = default;
ConvKernel::~ConvKernel() = default;

void ConvKernel::init(ConvParams p, const Tensor* const_w, const Tensor* const_b) {
  p_ = std::move(p);
  has_const_w_ = const_w != nullptr;
  has_const_b_ = const_b != nullptr;
  if (const_w) const_w_ = *const_w;
  if (const_b) const_b_ = *const_b;
  cache_.clear();
  packed_w_.clear();
}

std::unique_ptr<ConvKernel::Entry> ConvKernel::create_entry(const Shape& x, const Shape& w, Io io) {
  auto e = std::make_unique<Entry>();
  e->x_shape = x;
  e->w_shape = w;
  e->io = io;
  e->threads = num_threads();
  e->g = conv_geometry(p_, x, w);
  const ConvGeometry& g = e->g;
  const auto sdt = dnn::to_dnnl(p_.src_type), ddt = dnn::to_dnnl(p_.dst_type);

  Dims src_dims(x.begin(), x.end());
  Dims dst_dims = {g.N, g.M};
  dst_dims.insert(dst_dims.end(), g.prim_out.begin(), g.prim_out.end());
  e->user_src_md = io.src_channels_last ? dnn::channels_last_desc(src_dims, sdt) : dnn::plain_desc(src_dims, sdt);
  e->user_dst_md = io.dst_channels_last ? dnn::channels_last_desc(dst_dims, ddt) : dnn::plain_desc(dst_dims, ddt);
  e->user_wei_md = user_weight_desc(p_, g);
  if (p_.has_bias) e->bias_md = dnn::plain_desc(Dims{g.M}, memory::data_type::f32);

  // Float channels-last in and out: the primitive on NHWC itself, no reorders. Plain in and
  // out: the measured choice between plain and oneDNN's layout. Otherwise oneDNN's layout
  // with reorders from and to the tensors' (mixed layouts fall back to slow kernels).
  const bool fixed = io.src_channels_last == io.dst_channels_last &&
                     (io.src_channels_last ? p_.src_type == DType::F32 : prefer_plain(p_, g));
  e->src_req = fixed ? e->user_src_md : memory::desc(src_dims, sdt, memory::format_tag::any);
  e->dst_req = fixed ? e->user_dst_md : memory::desc(dst_dims, ddt, memory::format_tag::any);
  const memory::desc &src_req = e->src_req, &dst_req = e->dst_req;

  auto build = [&](size_t post_count) {
    dnnl::primitive_attr attr;
    attr.set_post_ops(onednn_post_ops(p_, post_count, dst_req, *e));
    if (p_.src_zero_point) attr.set_zero_points(DNNL_ARG_SRC, 0, {DNNL_RUNTIME_S32_VAL});
    try {
      create_primitive(p_, src_req, dst_req, attr, *e);
    } catch (const dnnl::error& err) {
      fail("{}: oneDNN cannot build the primitive for X {} W {} ({})", p_.op_name, shape_str(x), shape_str(w),
           err.what());
    }
  };
  // Post-ops are only fast in oneDNN's direct JIT kernels: its GEMM-based and reference
  // convolutions apply a binary post-op element by element, and an element-wise one in a
  // slower pass than ours (docs/perf-notes.md, "Binary post-ops", "Post-ops on gemm:jit").
  // There, all of them run after the primitive. So do they where they would move oneDNN to
  // another implementation than the convolution alone gets (on NHWC, a residual Add moves a
  // 1x1 layer from brgconv_1x1 to the older jit_1x1).
  // The residual Add in place (ConvIo::add_in_place) where the destination's layout is
  // fixed, so the operand's buffer is the primitive's destination itself.
  const size_t library_count = distinct_eltwise_prefix(p_, dst_req, *e);  // before build(0) resets e
  build(0);
  if (library_count > 0 && post_ops_fast(e->impl)) {
    const std::string alone = e->impl;
    // All of them, else those before the first residual Add (a fake quantization before it
    // stays inside the call).
    size_t before_add = 0;
    while (before_add < library_count && p_.post_ops[before_add].kind != PostOp::Kind::BinaryAdd) ++before_add;
    for (size_t count : {library_count, before_add}) {
      if (count == 0) continue;
      e->add_as_sum = io.add_in_place && fixed && !g.needs_expand && p_.dst_type == DType::F32 &&
                      p_.post_ops[0].kind == PostOp::Kind::BinaryAdd;
      build(count);
      if (e->impl != alone && e->add_as_sum) {
        e->add_as_sum = false;
        build(count);
      }
      if (e->impl == alone) break;
    }
    if (e->impl != alone) build(0);
  }
  e->reorder_src = e->src_md != e->user_src_md;
  e->reorder_dst = e->dst_md != e->user_dst_md;
  if (e->reorder_src) e->src_r = dnnl::reorder(dnnl::reorder::primitive_desc(dnn::engine(), e->user_src_md,
                                                                             dnn::engine(), e->src_md));
  if (e->reorder_dst) e->dst_r = dnnl::reorder(dnnl::reorder::primitive_desc(dnn::engine(), e->dst_md,
                                                                             dnn::engine(), e->user_dst_md));
  if (e->wei_md != e->user_wei_md)
    e->wei_r = dnnl::reorder(dnnl::reorder::primitive_desc(dnn::engine(), e->user_wei_md, dnn::engine(), e->wei_md));
  if (has_const_w_) pack_constant_weights(*e, w);
  return e;
}

// Constant weights in the entry's layout, reordered once and shared by entries that want
// the same layout.
void ConvKernel::pack_constant_weights(Entry& e, const Shape& w) {
  DPL_CHECK(const_w_.shape() == w, "internal: {} constant weights changed shape", p_.op_name);
  for (auto& [md, mem] : packed_w_)
    if (md == e.wei_md) e.packed_w = mem;
  if (!e.packed_w) {
    memory user(e.user_wei_md, dnn::engine(), const_cast<void*>(std::as_const(const_w_).raw()));
    e.packed_w = dnn::reorder_to(user, e.wei_md);
    if (e.packed_w.get_data_handle() == user.get_data_handle())
      e.packed_w = user;  // const_w_ keeps it alive
    else if (const_w_.is_view())
      release_mapped_pages(std::as_const(const_w_).raw(), const_w_.bytes());  // the packed copy serves
    packed_w_.emplace_back(e.wei_md, e.packed_w);
  }
}

ConvKernel::Entry& ConvKernel::entry_for(const Shape& x, const Shape& w, Io io) {
  const int threads = num_threads();
  for (size_t i = 0; i < cache_.size(); ++i) {
    Entry& e = *cache_[i];
    if (e.threads == threads && e.x_shape == x && e.w_shape == w && e.io == io) {
      if (i != 0) std::rotate(cache_.begin(), cache_.begin() + static_cast<long>(i), cache_.begin() + static_cast<long>(i) + 1);
      return *cache_[0];
    }
  }
  constexpr size_t kMaxEntries = 4;
  auto e = create_entry(x, w, io);
  cache_.insert(cache_.begin(), std::move(e));
  if (cache_.size() > kMaxEntries) cache_.pop_back();
  return *cache_[0];
}

memory ConvKernel::weights_for(Entry& e, const Tensor& w) {
  if (e.packed_w) return e.packed_w;
  memory user(e.user_wei_md, dnn::engine(), const_cast<void*>(w.raw()));
  if (!e.wei_r) return user;
  memory packed = dnn::scratch_memory(dnn::ScratchSlot::ConvWeights, e.wei_md);
  e.wei_r.execute(dnn::stream(), user, packed);
  return packed;
}

Tensor ConvKernel::run_onednn(const Tensor& x, const Tensor& w, const Tensor* b,
                              const std::vector<const Tensor*>& binary_args, int32_t src_zp, Io io) {
  Entry& e = entry_for(x.shape(), w.shape(), io);
  DPL_CHECK(io.plain() || !e.g.needs_expand, "internal: {}: channels-last tensors with an expanded output", p_.op_name);
  const ConvGeometry& g = e.g;
  // With the Add in place, the output is written into the first operand's buffer.
  Tensor y = e.add_as_sum ? *binary_args.at(0) : Tensor(p_.dst_type, g.y_shape);
  DPL_CHECK(y.shape() == g.y_shape && y.dtype() == p_.dst_type, "internal: {} add operand shape {} != output {}",
            p_.op_name, shape_str(y.shape()), shape_str(g.y_shape));

  // The BinaryAdd operands, in the layouts the primitive was built with.
  std::vector<memory> bin;
  size_t bi = e.add_as_sum ? 1 : 0;
  DPL_CHECK(p_.post_ops.empty() || !g.needs_expand,
            "internal: {} post-ops with an output_shape beyond the natural output", p_.op_name);
  std::vector<const float*> tail_bin;  // operands of the post-ops run after the primitive
  for (size_t i = e.add_as_sum ? 1 : 0; i < p_.post_ops.size(); ++i) {
    if (p_.post_ops[i].kind != PostOp::Kind::BinaryAdd) continue;
    DPL_CHECK(bi < binary_args.size() && binary_args[bi], "internal: {} post-op operand missing", p_.op_name);
    DPL_CHECK(binary_args[bi]->shape() == y.shape(), "internal: {} fused add operand shape {} != output {}",
              p_.op_name, shape_str(binary_args[bi]->shape()), shape_str(y.shape()));
    if (i < e.onednn_post_ops)
      bin.push_back(dnn::wrap(*binary_args[bi], e.binary_mds[bin.size()]));
    else
      tail_bin.push_back(binary_args[bi]->data<float>());
    ++bi;
  }

  memory src_user = dnn::wrap(x, e.user_src_md);
  memory src = src_user;
  if (e.reorder_src) {
    src = dnn::scratch_memory(dnn::ScratchSlot::ConvSrc, e.src_md);
    e.src_r.execute(dnn::stream(), src_user, src);
  }
  // The primitive's plain output: y itself, or a temporary when ConvTranspose's output
  // extends beyond the natural one.
  Tensor prim_y = y;
  if (g.needs_expand) {
    const Dims pd = e.user_dst_md.dims();
    prim_y = Tensor(p_.dst_type, Shape(pd.begin(), pd.end()));
  }
  memory dst_user(e.user_dst_md, dnn::engine(), prim_y.raw());
  memory dst = e.reorder_dst ? dnn::scratch_memory(dnn::ScratchSlot::ConvDst, e.dst_md) : dst_user;

  std::unordered_map<int, memory> args{{DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, weights_for(e, w)}, {DNNL_ARG_DST, dst}};
  if (p_.has_bias) {
    const Tensor& bt = has_const_b_ ? const_b_ : *b;
    DPL_CHECK(bt.numel() == e.g.M && bt.dtype() == DType::F32, "{}: bias B has shape {}, expected [{}]", p_.op_name,
              shape_str(bt.shape()), e.g.M);
    args[DNNL_ARG_BIAS] = memory(e.bias_md, dnn::engine(), const_cast<void*>(bt.raw()));
  }
  DPL_CHECK(bin.size() == e.binary_po_index.size(), "internal: {} has {} fused add operands, expected {}", p_.op_name,
            bin.size(), e.binary_po_index.size());
  for (size_t k = 0; k < bin.size(); ++k)
    args[DNNL_ARG_ATTR_MULTIPLE_POST_OP(e.binary_po_index[k]) | DNNL_ARG_SRC_1] = bin[k];
  for (auto& [po_index, value] : e.scalar_po)
    args[DNNL_ARG_ATTR_MULTIPLE_POST_OP(po_index) | DNNL_ARG_SRC_1] = memory(e.scalar_md, dnn::engine(), &value);
  memory zp_mem;
  if (p_.src_zero_point) {
    zp_mem = memory(memory::desc({1}, memory::data_type::s32, memory::format_tag::x), dnn::engine(), &src_zp);
    args[DNNL_ARG_ATTR_ZERO_POINTS | DNNL_ARG_SRC] = zp_mem;
  }
  e.prim.execute(dnn::stream(), args);
  if (e.reorder_dst) e.dst_r.execute(dnn::stream(), dst, dst_user);
  dnn::stream().wait();

  if (g.needs_expand) expand_output(g, prim_y, b, y);
  if (e.onednn_post_ops < p_.post_ops.size()) {
    const std::vector<PostOp> tail(p_.post_ops.begin() + static_cast<long>(e.onednn_post_ops), p_.post_ops.end());
    float* yd = y.data<float>();
    // All the post-ops on one cache-sized block before the next: one pass over memory.
    constexpr int64_t kBlock = 4096;
    parallel_for(y.numel(), [&](int64_t b0, int64_t b1) {
      for (int64_t b = b0; b < b1; b += kBlock) post_ops_row(tail, yd + b, std::min(kBlock, b1 - b), b, tail_bin);
    });
  }
  return y;
}

ConvKernel::PrimitiveInfo ConvKernel::primitive_info(const Shape& x, const Shape& w) {
  const Entry& e = entry_for(x, w);
  return {e.impl, e.onednn_post_ops};
}

KernelInfo ConvKernel::last_kernel_info() {
  KernelInfo k;
  if (last_path_ == Path::None) return k;
  size_t in_library = 0;
  bool add_as_sum = false;  // the residual Add as oneDNN's sum, in place
  if (last_path_ == Path::Depthwise) {
    k.impl = k.impl_alone = "direct depthwise";
  } else if (last_path_ == Path::DeconvGemm) {
    k.impl = k.impl_alone = "direct gemm+col2im";
  } else {
    const Entry& e = entry_for(last_x_, last_w_, last_io_);
    k.impl = k.impl_alone = e.impl;
    in_library = e.onednn_post_ops;
    add_as_sum = e.add_as_sum;
    if (in_library > 0) {
      // The same convolution and requested layouts without post-ops.
      Entry alone = e;
      dnnl::primitive_attr attr;
      if (p_.src_zero_point) attr.set_zero_points(DNNL_ARG_SRC, 0, {DNNL_RUNTIME_S32_VAL});
      create_primitive(p_, e.src_req, e.dst_req, attr, alone);
      k.impl_alone = alone.impl;
    }
  }
  for (size_t i = 0; i < p_.post_ops.size(); ++i)
    (i < in_library ? k.library_post_ops : k.separate_post_ops)
        .push_back(i == 0 && add_as_sum ? "sum" : post_op_name(p_.post_ops[i].kind));
  return k;
}

// Places the primitive's output prim_y at g.out_offset inside y; everything else is the
// bias (or 0).
void ConvKernel::expand_output(const ConvGeometry& g, const Tensor& prim_y, const Tensor* b, Tensor& y) const {
  DPL_CHECK(p_.dst_type == DType::F32, "internal: {} output expansion only for float", p_.op_name);
  const Tensor* bt = bias_for(b);
  const int n = g.nsp;
  int64_t out_sp = 1, prim_sp = 1;
  for (int i = 0; i < n; ++i) out_sp *= g.out[i], prim_sp *= g.prim_out[i];
  float* yd = y.data<float>();
  const float* pd = prim_y.data<float>();
  for (int64_t nc = 0; nc < g.N * g.M; ++nc) {
    const float bv = bt ? bt->data<float>()[nc % g.M] : 0.f;
    float* yo = yd + nc * out_sp;
    std::fill_n(yo, out_sp, bv);
    const float* po = pd + nc * prim_sp;
    for (int64_t q = 0; q < prim_sp; ++q) {
      const int64_t off = expanded_index(g, q);
      if (off >= 0) yo[off] = po[q];
    }
  }
}

}  // namespace dpl
