// oneDNN plumbing shared by the kernels that run on it (Conv, ConvTranspose, Gemm, MatMul,
// the QLinear family): one CPU engine for the process, a stream per calling thread, memory
// descriptors from dpl::Shape, zero-copy wrapping of dpl::Tensor buffers, reorders, and a
// per-thread scratch area for activations reordered around a primitive.
//
// Threads: Debian's oneDNN runs on OpenMP and takes omp_get_max_threads() of the calling
// thread at execution. sync_threads() makes that equal to dpl::num_threads(); the kernels
// call it at the start of forward(). Primitives whose creation depends on the thread count
// are cached with the count in the key.
#pragma once
#include <oneapi/dnnl/dnnl.hpp>

#include <cstddef>
#include <vector>

#include "core/tensor.h"

namespace dpl::dnn {

using dnnl::memory;
using Dims = memory::dims;

dnnl::engine& engine();
// One in-order stream per thread (a dnnl::stream must not be used by two threads at once).
dnnl::stream& stream();
// omp_set_num_threads(dpl::num_threads()) when the calling thread's setting differs.
void sync_threads();
// True when the CPU has int8 dot-product instructions (VNNI), so oneDNN's int8 kernels
// accumulate u8*s8 products exactly in int32 (without VNNI they may saturate in int16).
bool has_exact_int8();

memory::data_type to_dnnl(DType t);
Dims to_dims(const Shape& s);
// Row-major (dense, C order) descriptor.
memory::desc plain_desc(const Dims& dims, memory::data_type dt);
// Channels-last memory ([N, spatial..., C]) for the logical dims [N, C, spatial...]
// (runtime/channels_last.h); plain below rank 3.
memory::desc channels_last_desc(const Dims& dims, memory::data_type dt);
inline memory::desc plain_desc(const Shape& s, DType t) { return plain_desc(to_dims(s), to_dnnl(t)); }
// Descriptor with explicit strides in elements.
memory::desc strided_desc(const Dims& dims, memory::data_type dt, const Dims& strides);
// True when `md` is the dense row-major layout of its dims.
bool is_plain(const memory::desc& md);

// Wraps the tensor's buffer (no copy). `md` must not need more bytes than the tensor has.
// The tensor must outlive the memory object's use; oneDNN may write through it when used as
// a destination, so only wrap inputs as sources.
memory wrap(const Tensor& t, const memory::desc& md);
inline memory wrap(const Tensor& t) { return wrap(t, plain_desc(t.shape(), t.dtype())); }

// Reorders src into dst (both already allocated).
void reorder(const memory& src, const memory& dst);
// src in layout `md` in newly allocated memory (owned by the returned object); src itself
// when its layout already is `md`.
memory reorder_to(const memory& src, const memory::desc& md);

// Grow-only per-thread buffers for data reordered or staged around a primitive, one per
// use so that two uses in one call never share memory. A slot's pointer stays valid until
// the next scratch() call for the same slot on the same thread. 64-byte aligned.
enum class ScratchSlot {
  ConvSrc,        // conv source reordered into the primitive's layout
  ConvDst,        // conv destination in the primitive's layout, before the reorder back
  ConvWeights,    // run-time conv weights reordered per call
  DeconvColumns,  // ConvTranspose GEMM columns (deconv_gemm.cpp)
  MatMulB,        // run-time matmul B reordered per call
};
void* scratch(ScratchSlot slot, size_t bytes);
// Memory object over scratch slot `slot` sized for `md`.
memory scratch_memory(ScratchSlot slot, const memory::desc& md);

}  // namespace dpl::dnn
