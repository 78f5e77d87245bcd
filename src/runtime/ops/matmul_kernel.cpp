#include "runtime/ops/matmul_kernel.h"

#include <algorithm>
#include <utility>
#include <unordered_map>

#include "io/mapped_file.h"
#include "runtime/parallel.h"

namespace dpl {

using dnn::Dims;
using dnn::memory;

Dims dense_strides(const Dims& dims) {
  Dims s(dims.size());
  int64_t st = 1;
  for (size_t i = dims.size(); i-- > 0;) {
    s[i] = st;
    st *= std::max<int64_t>(dims[i], 1);
  }
  return s;
}

struct MatMulKernel::Entry {
  Dims a_dims, a_strides, b_dims, b_strides, c_dims, y_dims;
  int threads = 1;
  memory::desc a_md, user_b_md, b_md, c_md, y_md;
  dnnl::primitive prim;
  dnnl::reorder b_r;
  memory packed_b;
  bool c_as_bias = false;
};

MatMulKernel::MatMulKernel() = default;
MatMulKernel::~MatMulKernel() = default;

void MatMulKernel::init(MatMulParams p, const Tensor* const_b) {
  p_ = std::move(p);
  has_const_b_ = const_b != nullptr;
  if (const_b) const_b_ = *const_b;
  cache_.clear();
}

void MatMulKernel::run_raw(const void* a, const Dims& a_dims, const Dims& a_strides, const void* b_in,
                           const Dims& b_dims, const Dims& b_strides, const void* c, const Dims& c_dims, void* y,
                           const Dims& y_dims, int32_t a_zp) {
  const void* b = has_const_b_ ? std::as_const(const_b_).raw() : b_in;
  dnn::sync_threads();
  const int threads = num_threads();
  Entry* e = nullptr;
  for (size_t i = 0; i < cache_.size(); ++i) {
    Entry& c0 = *cache_[i];
    if (c0.threads == threads && c0.a_dims == a_dims && c0.a_strides == a_strides && c0.b_dims == b_dims &&
        c0.b_strides == b_strides && c0.c_dims == c_dims && c0.y_dims == y_dims) {
      std::rotate(cache_.begin(), cache_.begin() + static_cast<long>(i), cache_.begin() + static_cast<long>(i) + 1);
      e = cache_[0].get();
      break;
    }
  }
  if (!e) {
    auto ne = std::make_unique<Entry>();
    ne->a_dims = a_dims, ne->a_strides = a_strides, ne->b_dims = b_dims, ne->b_strides = b_strides;
    ne->c_dims = c_dims, ne->y_dims = y_dims, ne->threads = threads;
    ne->a_md = memory::desc(a_dims, dnn::to_dnnl(p_.a_type), a_strides);
    ne->user_b_md = memory::desc(b_dims, dnn::to_dnnl(p_.b_type), b_strides);
    ne->y_md = dnn::plain_desc(y_dims, dnn::to_dnnl(p_.y_type));
    memory::desc b_req =
        has_const_b_ ? memory::desc(b_dims, dnn::to_dnnl(p_.b_type), memory::format_tag::any) : ne->user_b_md;
    dnnl::primitive_attr attr;
    ne->c_as_bias = p_.has_c && p_.alpha == 1.f;
    if (p_.has_c) ne->c_md = dnn::plain_desc(c_dims, memory::data_type::f32);
    if (p_.alpha != 1.f) attr.set_output_scales(0, {p_.alpha});
    if (p_.has_c && !ne->c_as_bias) {
      dnnl::post_ops po;
      po.append_binary(dnnl::algorithm::binary_add, ne->c_md);
      attr.set_post_ops(po);
    }
    if (p_.a_zero_point) attr.set_zero_points(DNNL_ARG_SRC, 0, {DNNL_RUNTIME_S32_VAL});
    try {
      auto d = ne->c_as_bias ? dnnl::matmul::desc(ne->a_md, b_req, ne->c_md, ne->y_md)
                             : dnnl::matmul::desc(ne->a_md, b_req, ne->y_md);
      dnnl::matmul::primitive_desc pd(d, attr, dnn::engine());
      ne->b_md = pd.weights_desc();
      ne->prim = dnnl::matmul(pd);
    } catch (const dnnl::error& err) {
      fail("{}: oneDNN cannot build the matmul for A [{}] B [{}] ({})", p_.op_name, fmt::join(a_dims, ","),
           fmt::join(b_dims, ","), err.what());
    }
    if (ne->b_md != ne->user_b_md)
      ne->b_r = dnnl::reorder(dnnl::reorder::primitive_desc(dnn::engine(), ne->user_b_md, dnn::engine(), ne->b_md));
    if (has_const_b_ && ne->b_r) {
      ne->packed_b = memory(ne->b_md, dnn::engine());
      memory user(ne->user_b_md, dnn::engine(), const_cast<void*>(std::as_const(const_b_).raw()));
      ne->b_r.execute(dnn::stream(), user, ne->packed_b);
      dnn::stream().wait();
      if (const_b_.is_view()) release_mapped_pages(std::as_const(const_b_).raw(), const_b_.bytes());
    }
    constexpr size_t kMaxEntries = 4;
    cache_.insert(cache_.begin(), std::move(ne));
    if (cache_.size() > kMaxEntries) cache_.pop_back();
    e = cache_[0].get();
  }

  std::unordered_map<int, memory> args;
  args[DNNL_ARG_SRC] = memory(e->a_md, dnn::engine(), const_cast<void*>(a));
  args[DNNL_ARG_DST] = memory(e->y_md, dnn::engine(), y);
  if (e->packed_b) {
    args[DNNL_ARG_WEIGHTS] = e->packed_b;
  } else {
    memory user(e->user_b_md, dnn::engine(), const_cast<void*>(b));
    if (e->b_r) {
      memory packed = dnn::scratch_memory(dnn::ScratchSlot::MatMulB, e->b_md);
      e->b_r.execute(dnn::stream(), user, packed);
      args[DNNL_ARG_WEIGHTS] = packed;
    } else {
      args[DNNL_ARG_WEIGHTS] = user;
    }
  }
  if (p_.has_c) {
    memory cm(e->c_md, dnn::engine(), const_cast<void*>(c));
    if (e->c_as_bias) args[DNNL_ARG_BIAS] = cm;
    else args[DNNL_ARG_ATTR_MULTIPLE_POST_OP(0) | DNNL_ARG_SRC_1] = cm;
  }
  memory zp_mem;
  if (p_.a_zero_point) {
    zp_mem = memory(memory::desc({1}, memory::data_type::s32, memory::format_tag::x), dnn::engine(), &a_zp);
    args[DNNL_ARG_ATTR_ZERO_POINTS | DNNL_ARG_SRC] = zp_mem;
  }
  e->prim.execute(dnn::stream(), args);
  dnn::stream().wait();
}

}  // namespace dpl
