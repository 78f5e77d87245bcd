// Runs a graph on batches. Every produced tensor passes through an optional hook (where
// calibration observers attach); intermediates are freed right after their last consumer
// unless asked to keep them. Any contiguous range of nodes can be run alone on cached
// inputs (run_range), which is what layer-wise reconstruction and profiling need, and
// differentiated (run_forward, then run_backward: the reverse walk of docs/training.md).
// The session is the executor only: with SessionOptions::fuse it runs the plan that
// runtime/fusion.h makes, and while it builds its kernels or runs, the calling thread's
// thread count is its own (runtime/parallel.h), so sessions never change each other's.
#pragma once
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "graph/onnx_graph.h"
#include "runtime/op.h"

namespace dpl {

struct PlanNode;
using TensorMap = std::unordered_map<std::string, Tensor>;
// Called once per graph input and once per node output, in execution order.
using TensorHook = std::function<void(const std::string& name, const Tensor& value)>;
// Receives each trainable tensor's gradient in run_backward once it is complete, and may
// change it in place (the distributed all-reduce goes there).
using GradHook = std::function<void(const std::string& name, Tensor& grad)>;

// What a training forward pass (Session::run_forward) keeps for Session::run_backward: the
// inputs and outputs of the nodes that lie between a trainable tensor and a fetched one,
// which are the nodes whose backward runs. One per forward/backward pair; run_backward
// spends it.
class Tape {
 public:
  bool recorded() const { return recorded_; }

 private:
  friend class Session;
  bool recorded_ = false;
  int first_ = 0, last_ = 0;
  std::vector<int> trainable_;   // slots
  std::vector<int> fetched_;     // slots
  std::vector<char> reach_;      // per slot: depends on a trainable tensor
  std::vector<char> active_;     // per node of [first_, last_): its backward runs
  std::vector<Tensor> kept_;     // per slot: forward value kept for the backward
  int64_t actual_batch_ = 0;
};

struct SessionOptions {
  int threads = 1;
  bool keep_all = false;         // never free intermediates
  std::set<std::string> keep;    // tensors to keep (and return on request) in any case
  // Let kernels absorb the nodes that follow them (Conv+BN+ReLU, Conv+Add, SiLU, a QDQ
  // model's QuantizeLinear -> DequantizeLinear...) and compute the quantization of constant
  // weights once, at creation. For plain inference only: absorbed and folded nodes' outputs
  // are never computed on their own, so hooks do not see them, and node indices (run_range)
  // refer to the fused plan.
  bool fuse = false;
  // false: constants of kStreamedConstantBytes or more reach the kernels as ordinary inputs,
  // so no kernel keeps a packed copy of a weight: each run reorders it into scratch. For
  // sessions of models whose weights do not fit in memory twice (profiling a mapped model,
  // docs/external_data.md); the results are the same.
  bool pack_weights = true;
  static constexpr size_t kStreamedConstantBytes = 64 << 10;
  // Let integer convolutions pass channels-last tensors to each other (runtime/channels_last.h).
  // Off in passes with a hook, a tape or keep_all, which see every tensor plain.
  bool channels_last = true;
  // Per-node timing (docs/perf-notes.md, "Per-node profile"): when not empty, every node's
  // forward() is timed (with the layout conversions of its inputs) and, when the session
  // ends, one tab-separated line per plan node
  // (index, name, op type, absorbed nodes, calls after the first, their total wall ms and
  // process CPU ms, the first call's wall ms (kernel set-up included), implementation) is
  // written to this file. Defaults to the environment variable DPL_NODE_TIMES; a second session of the
  // same process writes to "<file>.2", and so on.
  std::string node_times_file = default_node_times_file();
  static std::string default_node_times_file();
};

class Session {
 public:
  // The graph must be topologically sorted with named nodes (prepare_model does it).
  // Throws one error listing every operator the runtime lacks.
  explicit Session(const OnnxGraph& graph, SessionOptions opts = {});
  ~Session();

  // Runs the whole graph. `fetch` defaults to the graph outputs.
  TensorMap run(const TensorMap& feeds, const std::vector<std::string>& fetch = {});
  // Runs nodes [first, last) in graph order. `feeds` must hold every non-constant tensor
  // those nodes read and do not produce themselves.
  TensorMap run_range(int first, int last, const TensorMap& feeds, const std::vector<std::string>& fetch);

  // Training (docs/training.md). run_forward is run_range recording in `tape` what
  // run_backward needs to differentiate the fetched tensors with respect to `trainable`:
  // initializers, or tensors fed to the range (none produced inside it). Refuses, naming
  // node and op, a node without a backward pass between a trainable and a fetched tensor.
  // Training sessions are unfused (a kernel that absorbed a follower has no backward).
  TensorMap run_forward(int first, int last, const TensorMap& feeds, const std::vector<std::string>& fetch,
                        const std::set<std::string>& trainable, Tape& tape);
  // Walks the taped nodes in reverse from dL/d(fetched tensors) (`grad_outputs` by name; one
  // without an entry passes no gradient) and returns dL/d(every trainable tensor). Gradients
  // of tensors read by several nodes add up; each is freed once its producer's backward has
  // run, each kept forward tensor once the last backward reading it has. `hook` sees every
  // trainable's gradient as soon as it is complete.
  TensorMap run_backward(Tape& tape, const TensorMap& grad_outputs, const GradHook& hook = {});

  void set_hook(TensorHook hook) { hook_ = std::move(hook); }
  const std::vector<std::string>& input_names() const { return inputs_; }
  const std::vector<std::string>& output_names() const { return outputs_; }
  // Declared shape of a graph input (-1 for symbolic dims).
  Shape input_shape(const std::string& name) const;
  DType input_type(const std::string& name) const;
  int node_count() const;
  const NodeDesc& node(int i) const;
  // Channels-last tensors (runtime/channels_last.h) of the last forward pass: how many nodes
  // left their output channels-last, and how many tensors had to be converted back to plain
  // (for a consumer, a fetch) afterwards. For tests and diagnostics.
  struct ChannelsLastStats {
    int produced = 0, converted = 0;
  };
  ChannelsLastStats channels_last_stats() const { return cl_stats_; }
  // What ran plan node i's last forward() (Op::kernel_info).
  KernelInfo kernel_info(int i);

 private:
  int slot(const std::string& name);
  void check_feed(const std::string& name, const Tensor& t) const;
  // run_range, and run_forward when `tape` is given (after plan_tape).
  TensorMap forward_range(int first, int last, const TensorMap& feeds, const std::vector<std::string>& fetch,
                          Tape* tape);
  void plan_tape(int first, int last, const std::vector<std::string>& fetch, const std::set<std::string>& trainable,
                 const TensorMap& feeds, Tape& tape) const;
  void write_node_times() const;
  // Fused sessions: computes the weight quantization nodes that read constants only, once.
  void fold_constant_nodes();

  SessionOptions opts_;
  ChannelsLastStats cl_stats_;
  TensorHook hook_;
  std::vector<std::string> inputs_, outputs_;
  std::unordered_map<std::string, Shape> input_shapes_;
  std::unordered_map<std::string, DType> input_types_;
  std::unordered_map<std::string, int> slot_of_;
  std::vector<std::string> slot_names_;
  std::vector<Tensor> consts_;      // per slot: initializer value, or undefined
  std::vector<PlanNode> nodes_;
  int64_t declared_batch_ = 0;
  std::vector<double> node_ms_, node_cpu_ms_, node_first_ms_;  // per plan node, with node_times_file
  std::vector<int64_t> node_calls_;
};

}  // namespace dpl
