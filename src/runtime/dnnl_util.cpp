// oneDNN plumbing (see dnnl_util.h): the engine, per-thread streams and scratch slots,
// descriptors and reorders.
#include "runtime/dnnl_util.h"

#include <omp.h>

#include <cstdlib>
#include <memory>

#include "runtime/parallel.h"

namespace dpl::dnn {

dnnl::engine& engine() {
  static dnnl::engine e(dnnl::engine::kind::cpu, 0);
  return e;
}

dnnl::stream& stream() {
  thread_local dnnl::stream s(engine());
  return s;
}

void sync_threads() {
  const int n = num_threads();
  if (omp_get_max_threads() != n) omp_set_num_threads(n);
}

bool has_exact_int8() {
  static const bool ok = [] {
    using isa = dnnl::cpu_isa;
    switch (dnnl::get_effective_cpu_isa()) {
      case isa::avx2_vnni:
      case isa::avx512_core_vnni:
      case isa::avx512_core_bf16:
      case isa::avx512_core_amx:
        return true;
      default:
        return false;
    }
  }();
  return ok;
}

memory::data_type to_dnnl(DType t) {
  switch (t) {
    case DType::F32: return memory::data_type::f32;
    case DType::I32: return memory::data_type::s32;
    case DType::I8: return memory::data_type::s8;
    case DType::U8: return memory::data_type::u8;
    default: fail("oneDNN has no element type {}", dtype_name(t));
  }
}

Dims to_dims(const Shape& s) { return Dims(s.begin(), s.end()); }

memory::desc plain_desc(const Dims& dims, memory::data_type dt) {
  Dims strides(dims.size());
  int64_t st = 1;
  for (size_t i = dims.size(); i-- > 0;) {
    strides[i] = st;
    st *= std::max<int64_t>(dims[i], 1);
  }
  // A rank-0 tensor is one element.
  if (dims.empty()) return memory::desc(Dims{1}, dt, Dims{1});
  return memory::desc(dims, dt, strides);
}

memory::desc channels_last_desc(const Dims& dims, memory::data_type dt) {
  if (dims.size() < 3) return plain_desc(dims, dt);
  // Memory order N, spatial..., C for the logical dims [N, C, spatial...].
  Dims strides(dims.size());
  int64_t st = std::max<int64_t>(dims[1], 1);
  strides[1] = 1;
  for (size_t i = dims.size(); i-- > 2;) {
    strides[i] = st;
    st *= std::max<int64_t>(dims[i], 1);
  }
  strides[0] = st;
  return memory::desc(dims, dt, strides);
}

memory::desc strided_desc(const Dims& dims, memory::data_type dt, const Dims& strides) {
  return memory::desc(dims, dt, strides);
}

bool is_plain(const memory::desc& md) { return md == plain_desc(md.dims(), md.data_type()); }

memory wrap(const Tensor& t, const memory::desc& md) {
  DPL_CHECK(md.get_size() <= t.bytes() || t.numel() == 0, "internal: oneDNN descriptor needs {} bytes, tensor has {}",
            md.get_size(), t.bytes());
  return memory(md, engine(), const_cast<void*>(t.raw()));
}

void reorder(const memory& src, const memory& dst) {
  dnnl::reorder(src, dst).execute(stream(), const_cast<memory&>(src), const_cast<memory&>(dst));
  stream().wait();
}

memory reorder_to(const memory& src, const memory::desc& md) {
  if (src.get_desc() == md) return src;
  memory dst(md, engine());
  reorder(src, dst);
  return dst;
}

namespace {
struct FreeDeleter {
  void operator()(void* p) const { std::free(p); }
};
struct Scratch {
  std::unique_ptr<void, FreeDeleter> p;
  size_t cap = 0;
};
}  // namespace

void* scratch(ScratchSlot slot, size_t bytes) {
  thread_local std::vector<Scratch> slots;
  const size_t i = static_cast<size_t>(slot);
  if (i >= slots.size()) slots.resize(i + 1);
  Scratch& s = slots[i];
  if (bytes > s.cap) {
    size_t cap = std::max(bytes, s.cap + s.cap / 2);
    cap = (cap + 63) / 64 * 64;
    s.p.reset();
    void* p = std::aligned_alloc(64, cap);
    if (!p) fail("out of memory allocating {} bytes of scratch", cap);
    s.p.reset(p);
    s.cap = cap;
  }
  return s.p.get();
}

memory scratch_memory(ScratchSlot slot, const memory::desc& md) {
  return memory(md, engine(), scratch(slot, std::max<size_t>(md.get_size(), 64)));
}

}  // namespace dpl::dnn
