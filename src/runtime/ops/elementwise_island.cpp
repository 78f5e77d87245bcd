// dpl.ElementwiseIsland (runtime/fusion.h, kElementwiseIslandOp): a run of element-wise
// nodes that read one tensor x, each other's outputs and scalar constants, executed block by
// block so that their intermediate values stay in cache: one pass over memory for the whole
// run instead of one per node (PP-OCRv4 det's scalar affine + HardSwish blocks are eight
// nodes after every convolution; docs/perf-notes.md, "Element-wise islands").
//
// Each block runs the nodes' own kernels (created from their descriptions, one set per
// thread), so the results are bit for bit those of the separate nodes: on float32 spans of
// kSpan values in L1 (Op::forward_span) where every member has that form, else forward() on
// views of blocks of kBlock values.
// With scalar operands only, every value of the island has x's shape and the same element
// order, whatever x's layout: the island takes channels-last tensors as they are.
#include <algorithm>
#include <atomic>
#include <cstring>
#include <map>
#include <mutex>
#include <utility>

#include "runtime/fusion.h"
#include "runtime/op_registry.h"
#include "runtime/parallel.h"

namespace dpl {
namespace {

// Values per block of forward() calls: each value of the island takes 64 KiB, a few are live
// at once (L2); and per span of forward_span() calls: every value 4 KiB (L1).
constexpr int64_t kBlock = 16384;
constexpr int64_t kSpan = 1024;

class ElementwiseIslandOp : public Op {
 public:
  void init(const NodeDesc& node) override {
    members_ = node.absorbed;
    DPL_CHECK(!members_.empty() && node.inputs.size() == 1, "internal: an element-wise island without nodes");
    name_ = "element-wise island of " + std::to_string(members_.size()) + " nodes ending at '" + node.name + "'";
    // Value 0 is x; value k + 1 is member k's output. Each member input is a value or a constant.
    std::map<std::string, int> value_of{{node.inputs[0], 0}};
    sources_.resize(members_.size());
    last_use_.assign(members_.size() + 1, -1);
    for (size_t k = 0; k < members_.size(); ++k) {
      const NodeDesc& d = members_[k];
      DPL_CHECK(d.outputs.size() == 1, "internal: {}: '{}' has {} outputs", name_, d.name, d.outputs.size());
      for (size_t j = 0; j < d.inputs.size(); ++j) {
        Source s;
        if (!d.inputs[j].empty()) {
          auto it = value_of.find(d.inputs[j]);
          if (it != value_of.end()) {
            s.value = it->second;
            last_use_[static_cast<size_t>(s.value)] = static_cast<int>(k);
          } else {
            s.constant = d.constant(j);
            DPL_CHECK(s.constant && s.constant->numel() == 1, "internal: {}: input '{}' of '{}' is not a scalar constant",
                      name_, d.inputs[j], d.name);
          }
        }
        sources_[k].push_back(s);
      }
      value_of[d.outputs[0]] = static_cast<int>(k) + 1;
    }
  }

  // Which form ran: a member without a span form costs the island its L1 spans (a third more
  // time on PP-OCRv4 det's blocks), so tests and DPL_NODE_TIMES can see it.
  KernelInfo kernel_info() override {
    KernelInfo info;
    if (spans_ == Spans::kYes) info.impl = "spans of " + std::to_string(kSpan) + " values";
    else if (spans_ == Spans::kNo && no_span_ >= 0)
      info.impl = "blocks of " + std::to_string(kBlock) + " values (" + members_[static_cast<size_t>(no_span_)].op_type +
                  " '" + members_[static_cast<size_t>(no_span_)].name + "' has no span form)";
    return info;
  }

  void forward(OpContext&, const std::vector<const Tensor*>& in, std::vector<Tensor>& out) override {
    const Tensor& x = *in[0];
    const int64_t n = x.numel();
    const int nt = n > kBlock ? num_threads() : 1;
    while (static_cast<int>(ops_.size()) < nt) ops_.push_back(make_ops());
    if (x.dtype() == DType::F32 && spans_ != Spans::kNo && n > 0 && forward_spans(x, out[0])) return;
    // The first block on this thread gives the result's type; then the rest in parallel.
    const Tensor first = run_block(ops_[0], x, 0, std::min(n, kBlock));
    Tensor y(first.dtype(), x.shape());
    const size_t esize = dtype_size(y.dtype());
    auto* yd = static_cast<uint8_t*>(y.raw());
    std::memcpy(yd, first.raw(), first.bytes());
    const int64_t blocks = (n + kBlock - 1) / kBlock;
    std::string error;
    std::mutex error_mutex;
    if (blocks > 1) {
      parallel_for(
          blocks - 1,
          [&](int64_t b0, int64_t b1) {
            ThreadCountScope serial(1);  // the member kernels run on this thread only
            auto& ops = ops_[static_cast<size_t>(omp_get_thread_num())];
            try {  // nothing may throw out of the parallel region: the first error is kept
              for (int64_t b = b0 + 1; b < b1 + 1; ++b) {
                const int64_t begin = b * kBlock, count = std::min(kBlock, n - begin);
                const Tensor r = run_block(ops, x, begin, count);
                DPL_CHECK(r.dtype() == y.dtype() && r.numel() == count, "internal: {}: a block's result changed type",
                          name_);
                std::memcpy(yd + static_cast<size_t>(begin) * esize, r.raw(), r.bytes());
              }
            } catch (const Error& e) {
              const std::lock_guard<std::mutex> lock(error_mutex);
              if (error.empty()) error = e.what();
            }
          },
          1);
    }
    if (!error.empty()) fail("{}", error);
    out[0] = std::move(y);
  }

 private:
  struct Source {
    int value = -1;                    // an island value, or
    const Tensor* constant = nullptr;  // a scalar constant (both unset: an omitted input)
  };

  // Values [begin, end) of x through every member on spans, the last one writing y: -1, or
  // the first member without a span form (then nothing is written).
  int run_spans(std::vector<std::unique_ptr<Op>>& ops, const float* x, float* y, int64_t begin, int64_t end,
                 std::vector<float>& scratch) const {
    const size_t last = members_.size() - 1;
    scratch.resize(last * static_cast<size_t>(kSpan));
    for (int64_t b = begin; b < end; b += kSpan) {
      SpanArgs a;
      a.n = std::min(kSpan, end - b);
      for (size_t k = 0; k <= last; ++k) {
        const std::vector<Source>& src = sources_[k];
        if (src.size() > SpanArgs::kMaxInputs) return static_cast<int>(k);
        a.inputs = src.size();
        for (size_t j = 0; j < src.size(); ++j) {
          const Source& s = src[j];
          a.present[j] = s.value >= 0 || s.constant;
          a.scalar[j] = s.value < 0;
          a.in[j] = s.value == 0 ? x + b
                    : s.value > 0 ? scratch.data() + static_cast<size_t>(s.value - 1) * kSpan
                    : s.constant && s.constant->dtype() == DType::F32 ? std::as_const(*s.constant).data<float>()
                                                                       : nullptr;
        }
        a.y = k == last ? y + b : scratch.data() + k * static_cast<size_t>(kSpan);
        if (!ops[k]->forward_span(a)) return static_cast<int>(k);
      }
    }
    return -1;
  }

  // The island on spans; false (nothing done) when some member has no span form.
  bool forward_spans(const Tensor& x, Tensor& result) {
    const int64_t n = x.numel();
    Tensor y(DType::F32, x.shape());
    const float* xd = x.data<float>();
    float* yd = y.data<float>();
    std::vector<float> scratch;
    int64_t start = 0;
    if (spans_ == Spans::kUnknown) {  // the first span tells
      start = std::min(n, kSpan);
      no_span_ = run_spans(ops_[0], xd, yd, 0, start, scratch);
      spans_ = no_span_ < 0 ? Spans::kYes : Spans::kNo;
      if (spans_ == Spans::kNo) return false;
    }
    std::atomic<bool> lost{false};  // nothing may throw inside the parallel region
    if (start < n) {
      parallel_for(
          n - start,
          [&](int64_t b, int64_t e) {
            ThreadCountScope serial(1);
            std::vector<float> thread_scratch;
            auto& ops = ops_[static_cast<size_t>(omp_get_thread_num())];
            if (run_spans(ops, xd, yd, start + b, start + e, thread_scratch) >= 0) lost = true;
          },
          kBlock);
    }
    DPL_CHECK(!lost, "internal: {}: a member lost its span form", name_);
    result = std::move(y);
    return true;
  }

  std::vector<std::unique_ptr<Op>> make_ops() const {
    std::vector<std::unique_ptr<Op>> ops;
    for (const NodeDesc& d : members_) {
      ops.push_back(OpRegistry::instance().create(d.op_type));
      ops.back()->init(d);
    }
    return ops;
  }

  // Values [begin, begin + count) of x through every member; the last member's result.
  Tensor run_block(std::vector<std::unique_ptr<Op>>& ops, const Tensor& x, int64_t begin, int64_t count) const {
    std::vector<Tensor> vals(members_.size() + 1);
    const size_t esize = dtype_size(x.dtype());
    // A view of the block (x's buffer is 64-byte aligned, blocks are multiples of 64 bytes).
    const auto* base = static_cast<const uint8_t*>(x.raw()) + static_cast<size_t>(begin) * esize;
    vals[0] = Tensor::view(x.dtype(), {count},
                           std::shared_ptr<uint8_t>(std::shared_ptr<void>(), const_cast<uint8_t*>(base)));
    std::vector<const Tensor*> ins;
    std::vector<Tensor> outs(1);
    for (size_t k = 0; k < members_.size(); ++k) {
      ins.clear();
      for (const Source& s : sources_[k]) ins.push_back(s.value >= 0 ? &vals[static_cast<size_t>(s.value)] : s.constant);
      outs[0] = Tensor();
      OpContext ctx;
      try {
        ops[k]->forward(ctx, ins, outs);
      } catch (const Error& e) {
        fail("{}: {} '{}': {}", name_, members_[k].op_type, members_[k].name, e.what());
      }
      DPL_CHECK(outs[0].numel() == count, "internal: {}: '{}' gave {} values for {}", name_, members_[k].name,
                outs[0].numel(), count);
      vals[k + 1] = std::move(outs[0]);
      // Values nothing later reads go back to the allocator while the block is in cache.
      for (size_t v = 0; v <= k; ++v)
        if (last_use_[v] == static_cast<int>(k)) vals[v] = Tensor();
    }
    return vals.back();
  }

  std::string name_;
  std::vector<NodeDesc> members_;             // in plan order; the last one's output is the result
  std::vector<std::vector<Source>> sources_;  // per member, per input
  std::vector<int> last_use_;                 // per value: the last member reading it (-1: none)
  std::vector<std::vector<std::unique_ptr<Op>>> ops_;  // one set of member kernels per thread
  enum class Spans { kUnknown, kYes, kNo } spans_ = Spans::kUnknown;  // whether every member has a span form
  int no_span_ = -1;  // the member that answered no (set on the first span, on one thread)
};

}  // namespace

DPL_REGISTER_OP(kElementwiseIslandOp, ElementwiseIslandOp);

}  // namespace dpl
