// The executor of runtime/session.h: slots for every named value, one kernel per plan
// node, and the run loop that feeds, hooks and frees them.
#include "runtime/session.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <ctime>
#include <map>

#include "io/atomic_file.h"
#include "runtime/channels_last.h"
#include "runtime/fusion.h"
#include "runtime/node_convert.h"
#include "runtime/op_registry.h"
#include "runtime/parallel.h"
#include "util/error.h"

namespace dpl {

namespace {

// CPU time of the whole process (every thread), in ms: steadier than wall time on a shared
// machine, where other processes preempt ours.
double process_cpu_ms() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) * 1e3 + static_cast<double>(ts.tv_nsec) * 1e-6;
}

}  // namespace

std::string SessionOptions::default_node_times_file() {
  const char* v = std::getenv("DPL_NODE_TIMES");
  return v ? v : "";
}

Session::~Session() {
  if (opts_.node_times_file.empty()) return;
  try {
    write_node_times();
  } catch (const std::exception& e) {
    spdlog::warn("could not write the per-node times: {}", e.what());
  }
}

void Session::write_node_times() const {
  static std::atomic<int> sessions{0};
  const int k = ++sessions;
  std::string text = "index\tnode\top_type\tabsorbed\tcalls\ttotal_ms\tcpu_ms\tfirst_ms\timplementation\n";
  for (size_t i = 0; i < nodes_.size(); ++i) {
    const PlanNode& nr = nodes_[i];
    std::string absorbed;
    for (const auto& f : nr.desc.folded) absorbed += (absorbed.empty() ? "" : "+") + f.name + ":" + f.op_type;
    for (const auto& a : nr.desc.absorbed) {
      // A synthetic follower (runtime/fusion.h) lists the nodes it stands for.
      for (const auto& n : a.absorbed.empty() ? std::vector<NodeDesc>{a} : a.absorbed)
        absorbed += (absorbed.empty() ? "" : "+") + n.name + ":" + n.op_type;
    }
    const KernelInfo info = nr.op->kernel_info();
    std::string impl = info.impl;
    for (const auto& p : info.library_post_ops) impl += " +" + p;
    for (const auto& p : info.separate_post_ops) impl += " then " + p;
    text += fmt::format("{}\t{}\t{}\t{}\t{}\t{:.3f}\t{:.3f}\t{:.3f}\t{}\n", i, nr.desc.name, nr.desc.op_type,
                        absorbed.empty() ? "-" : absorbed, std::max<int64_t>(node_calls_[i] - 1, 0), node_ms_[i],
                        node_cpu_ms_[i], node_first_ms_[i], impl.empty() ? "-" : impl);
  }
  write_file_atomic(k == 1 ? opts_.node_times_file : opts_.node_times_file + "." + std::to_string(k), text);
}

int Session::slot(const std::string& name) {
  auto it = slot_of_.find(name);
  if (it != slot_of_.end()) return it->second;
  int s = static_cast<int>(slot_names_.size());
  slot_of_[name] = s;
  slot_names_.push_back(name);
  consts_.emplace_back();
  return s;
}

Session::Session(const OnnxGraph& graph, SessionOptions opts) : opts_(std::move(opts)) {
  // Kernels may pack weights in init() with the session's thread count.
  ThreadCountScope threads(opts_.threads);
  const auto& g = graph.graph();
  const int opset = static_cast<int>(graph.opset());

  // Refuse the model up front, naming every missing operator once.
  std::map<std::string, int> missing;
  for (const auto& n : g.node()) {
    bool std_domain = n.domain().empty() || n.domain() == "ai.onnx";
    std::string key = std_domain ? n.op_type() : n.domain() + "::" + n.op_type();
    if (!std_domain || !OpRegistry::instance().has(n.op_type())) missing[key]++;
  }
  if (!missing.empty()) {
    std::string list;
    for (auto& [k, c] : missing) list += (list.empty() ? "" : ", ") + k + (c > 1 ? " (" + std::to_string(c) + " nodes)" : "");
    fail("the model uses {} operator type(s) the runtime does not support: {}", missing.size(), list);
  }

  for (const auto& init : g.initializer()) consts_[slot(init.name())] = graph.get_initializer(init.name());
  inputs_ = graph.network_inputs();
  outputs_ = graph.network_outputs();
  for (const auto& o : outputs_) slot(o);
  for (const auto& in : inputs_) {
    slot(in);
    input_shapes_[in] = graph.tensor_shape(in).value_or(Shape{});
    input_types_[in] = graph.value_type(in);
  }
  if (!inputs_.empty()) {
    const Shape& s = input_shapes_[inputs_[0]];
    declared_batch_ = s.empty() ? 0 : s[0];
  }

  nodes_.resize(g.node_size());
  for (int i = 0; i < g.node_size(); ++i) {
    PlanNode& nr = nodes_[i];
    nr.desc = node_desc_from_proto(g.node(i), opset);
    nr.desc.own_inputs = nr.desc.inputs.size();
    for (const auto& in : nr.desc.inputs) nr.in_slots.push_back(in.empty() ? -1 : slot(in));
    for (const auto& out : nr.desc.outputs) nr.out_slots.push_back(out.empty() ? -1 : slot(out));
    nr.op = OpRegistry::instance().create(nr.desc.op_type);
  }
  // consts_ has every slot now: pointers into it stay valid. Kernels see them in can_absorb
  // (fusion needs to know which operands are constants) and in init.
  if (opts_.fuse) fold_constant_nodes();
  for (auto& nr : nodes_)
    for (int s : nr.in_slots)
      nr.desc.const_inputs.push_back(s >= 0 && consts_[s].defined() &&
                                             (opts_.pack_weights || consts_[s].bytes() < opts_.kStreamedConstantBytes)
                                         ? &consts_[s]
                                         : nullptr);
  if (opts_.fuse) {
    std::vector<char> visible(slot_names_.size(), 0);  // graph outputs and kept tensors stay
    for (const auto& o : outputs_) visible[slot_of_.at(o)] = 1;
    for (const auto& k : opts_.keep)
      if (slot_of_.count(k)) visible[slot_of_[k]] = 1;
    nodes_ = plan_fusion(std::move(nodes_), PlanSlots{slot_names_, consts_, visible});
  }
  node_ms_.assign(nodes_.size(), 0.0);
  node_first_ms_.assign(nodes_.size(), 0.0);
  node_cpu_ms_.assign(nodes_.size(), 0.0);
  node_calls_.assign(nodes_.size(), 0);
  for (auto& nr : nodes_) {
    try {
      nr.op->init(nr.desc);
    } catch (const Error& e) {
      fail("node '{}' ({}): {}", nr.desc.name, nr.desc.op_type, e.what());
    }
  }
}

void Session::fold_constant_nodes() {
  // What a QDQ model does to its weights: QuantizeLinear -> DequantizeLinear on an
  // initializer, maybe a Clip before it (sub-8-bit), or DequantizeLinear on stored integers.
  static const std::set<std::string> kFoldable = {"QuantizeLinear", "DequantizeLinear", "Clip"};
  std::vector<PlanNode> kept;
  for (auto& nr : nodes_) {
    bool fold = kFoldable.count(nr.desc.op_type) && !nr.in_slots.empty() && nr.in_slots[0] >= 0;
    for (int s : nr.in_slots) fold = fold && (s < 0 || consts_[s].defined());
    for (int s : nr.out_slots) fold = fold && s >= 0 && !input_shapes_.count(slot_names_[s]);
    if (!fold) {
      kept.push_back(std::move(nr));
      continue;
    }
    std::vector<const Tensor*> ins;
    for (int s : nr.in_slots) {
      ins.push_back(s >= 0 ? &consts_[s] : nullptr);
      nr.desc.const_inputs.push_back(ins.back());
    }
    std::vector<Tensor> outs(nr.out_slots.size());
    OpContext ctx;
    ctx.threads = opts_.threads;
    try {
      nr.op->init(nr.desc);
      nr.op->forward(ctx, ins, outs);
    } catch (const Error& e) {
      fail("node '{}' ({}): {}", nr.desc.name, nr.desc.op_type, e.what());
    }
    for (size_t k = 0; k < outs.size(); ++k) consts_[nr.out_slots[k]] = std::move(outs[k]);
  }
  nodes_ = std::move(kept);
}

Shape Session::input_shape(const std::string& name) const {
  auto it = input_shapes_.find(name);
  DPL_CHECK(it != input_shapes_.end(), "the model has no input named '{}'", name);
  return it->second;
}

DType Session::input_type(const std::string& name) const {
  auto it = input_types_.find(name);
  DPL_CHECK(it != input_types_.end(), "the model has no input named '{}'", name);
  return it->second;
}

const NodeDesc& Session::node(int i) const { return nodes_.at(i).desc; }

KernelInfo Session::kernel_info(int i) {
  ThreadCountScope threads(opts_.threads);  // a kernel may look its primitive up by thread count
  return nodes_.at(i).op->kernel_info();
}

int Session::node_count() const { return static_cast<int>(nodes_.size()); }

void Session::check_feed(const std::string& name, const Tensor& t) const {
  auto it = input_shapes_.find(name);
  if (it == input_shapes_.end()) return;  // a cached intermediate fed to run_range
  DType want = input_types_.at(name);
  DPL_CHECK(want == DType::Undefined || t.dtype() == want, "input '{}' must be {}, got {}", name, dtype_name(want),
            dtype_name(t.dtype()));
  const Shape& decl = it->second;
  if (decl.empty()) return;
  DPL_CHECK(decl.size() == t.shape().size(), "input '{}' must have rank {} (shape {}), got shape {}", name,
            decl.size(), shape_str(decl), shape_str(t.shape()));
  // Dim 0 is the batch: any size is accepted there.
  for (size_t d = 1; d < decl.size(); ++d)
    DPL_CHECK(decl[d] < 0 || decl[d] == t.shape()[d], "input '{}' must have shape {}, got {}", name,
              shape_str(decl), shape_str(t.shape()));
}

TensorMap Session::run(const TensorMap& feeds, const std::vector<std::string>& fetch) {
  for (const auto& in : inputs_)
    DPL_CHECK(feeds.count(in), "no value given for model input '{}'", in);
  return run_range(0, node_count(), feeds, fetch.empty() ? outputs_ : fetch);
}

TensorMap Session::run_range(int first, int last, const TensorMap& feeds, const std::vector<std::string>& fetch) {
  return forward_range(first, last, feeds, fetch, nullptr);
}

TensorMap Session::forward_range(int first, int last, const TensorMap& feeds, const std::vector<std::string>& fetch,
                                 Tape* tape) {
  DPL_CHECK(first >= 0 && first <= last && last <= node_count(), "node range [{}, {}) out of range", first, last);
  ThreadCountScope threads(opts_.threads);  // hooks run under it too
  std::vector<Tensor> vals(slot_names_.size());
  for (const auto& [name, t] : feeds) {
    auto it = slot_of_.find(name);
    if (it == slot_of_.end()) continue;
    check_feed(name, t);
    vals[it->second] = t;
    if (hook_ && input_shapes_.count(name)) hook_(name, t);
  }
  OpContext ctx;
  ctx.threads = opts_.threads;
  ctx.declared_batch = declared_batch_;
  ctx.actual_batch = declared_batch_;
  if (!inputs_.empty() && vals[slot_of_[inputs_[0]]].defined() && vals[slot_of_[inputs_[0]]].rank() > 0)
    ctx.actual_batch = vals[slot_of_[inputs_[0]]].dim(0);

  // Last use of every slot inside the range; fetched and kept tensors are never freed.
  std::vector<int> last_use(slot_names_.size(), -1);
  for (int i = first; i < last; ++i)
    for (int s : nodes_[i].in_slots)
      if (s >= 0) last_use[s] = i;
  std::vector<char> pinned(slot_names_.size(), 0);
  for (const auto& f : fetch) {
    auto it = slot_of_.find(f);
    DPL_CHECK(it != slot_of_.end(), "'{}' is not a tensor of the model", f);
    pinned[it->second] = 1;
  }
  for (const auto& k : opts_.keep)
    if (slot_of_.count(k)) pinned[slot_of_[k]] = 1;
  // A training pass keeps what the backward passes of its active nodes read.
  if (tape) {
    for (int s : tape->trainable_) pinned[s] = 1;
    for (int i = first; i < last; ++i)
      if (tape->active_[i - first]) {
        for (int s : nodes_[i].in_slots)
          if (s >= 0 && !consts_[s].defined()) pinned[s] = 1;
        for (int s : nodes_[i].out_slots)
          if (s >= 0) pinned[s] = 1;
      }
  }

  std::vector<const Tensor*> ins;
  std::vector<Tensor> outs;
  // Slots holding a channels-last tensor (runtime/channels_last.h).
  const bool channels_last = opts_.channels_last && !hook_ && !tape && !opts_.keep_all;
  std::vector<char> last_order(slot_names_.size(), 0);
  cl_stats_ = {};
  for (int i = first; i < last; ++i) {
    PlanNode& nr = nodes_[i];
    ins.clear();
    bool any_last = false;
    for (size_t k = 0; k < nr.in_slots.size(); ++k) {
      int s = nr.in_slots[k];
      if (s < 0) {
        ins.push_back(nullptr);
        continue;
      }
      const Tensor* t = consts_[s].defined() ? &consts_[s] : &vals[s];
      DPL_CHECK(t->defined(), "node '{}' ({}) needs tensor '{}', which has no value (not fed or freed)", nr.desc.name,
                nr.desc.op_type, slot_names_[s]);
      ins.push_back(t);
      any_last = any_last || last_order[s];
    }
    // The node's time includes the layout conversions of its inputs made here: they are
    // the cost of its not taking the layout (docs/perf-notes.md, "Per-node profile").
    const bool timed = !opts_.node_times_file.empty();
    const auto t0 = timed ? std::chrono::steady_clock::now() : std::chrono::steady_clock::time_point{};
    const double c0 = timed ? process_cpu_ms() : 0.0;
    bool passes_on = false;  // channels-last in, channels-last out: an element-wise node
    ctx.in_channels_last.assign(nr.in_slots.size(), 0);
    if (any_last) {
      passes_on = runs_on_any_layout(nr.desc, ins);
      // Mixed orders (a residual Add of a convolution's channels-last output and a plain
      // shortcut): the plain inputs join the channels-last order, which the convolutions
      // downstream want, unless one is a constant.
      for (size_t k = 0; passes_on && k < ins.size(); ++k) {
        const int s = nr.in_slots[k];
        if (ins[k] && ins[k]->numel() != 1 && !last_order[s]) passes_on = !consts_[s].defined();
      }
      for (size_t k = 0; passes_on && k < ins.size(); ++k) {
        const int s = nr.in_slots[k];
        if (!ins[k] || ins[k]->numel() == 1 || last_order[s]) continue;
        vals[s] = plain_to_channels_last(vals[s]);  // once: the slot is channels-last from now on
        last_order[s] = 1;
        ++cl_stats_.converted;
      }
      for (size_t k = 0; !passes_on && k < ins.size(); ++k) {
        const int s = nr.in_slots[k];
        if (s < 0 || !last_order[s]) continue;
        if (nr.op->accepts_channels_last(k)) {
          ctx.in_channels_last[k] = 1;
        } else {
          vals[s] = channels_last_to_plain(vals[s]);  // once: the slot is plain from now on
          last_order[s] = 0;
          ++cl_stats_.converted;
        }
      }
    }
    ctx.channels_last_out_ok = channels_last && !passes_on;
    ctx.in_writable.assign(nr.in_slots.size(), 0);
    for (size_t k = 0; k < nr.in_slots.size() && !opts_.keep_all; ++k) {
      const int s = nr.in_slots[k];
      ctx.in_writable[k] = s >= 0 && !consts_[s].defined() && last_use[s] == i && !pinned[s] &&
                           std::count(nr.in_slots.begin(), nr.in_slots.end(), s) == 1 && vals[s].sole_owner();
    }
    ctx.out_channels_last.assign(nr.out_slots.size(), 0);
    outs.assign(nr.out_slots.size(), Tensor());
    try {
      nr.op->forward(ctx, ins, outs);
    } catch (const Error& e) {
      fail("node '{}' ({}): {}", nr.desc.name, nr.desc.op_type, e.what());
    }
    if (timed) {
      const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
      if (node_calls_[i]++ == 0) {
        node_first_ms_[i] += ms;
      } else {
        node_ms_[i] += ms;
        node_cpu_ms_[i] += process_cpu_ms() - c0;
      }
    }
    for (size_t k = 0; k < nr.out_slots.size(); ++k) {
      int s = nr.out_slots[k];
      if (s < 0) continue;
      DPL_CHECK(outs[k].defined(), "node '{}' ({}) produced no value for output '{}'", nr.desc.name, nr.desc.op_type,
                slot_names_[s]);
      vals[s] = std::move(outs[k]);
      last_order[s] = passes_on || ctx.out_channels_last[k];
      cl_stats_.produced += ctx.out_channels_last[k];
      if (hook_) hook_(slot_names_[s], vals[s]);
    }
    if (!opts_.keep_all)
      for (int s : nr.in_slots)
        if (s >= 0 && last_use[s] == i && !pinned[s]) vals[s] = Tensor();
  }

  if (tape) {
    tape->kept_.assign(slot_names_.size(), Tensor());
    tape->actual_batch_ = ctx.actual_batch;
    for (int i = first; i < last; ++i)
      if (tape->active_[i - first]) {
        for (int s : nodes_[i].in_slots)
          if (s >= 0 && !consts_[s].defined()) tape->kept_[s] = vals[s];
        for (int s : nodes_[i].out_slots)
          if (s >= 0) tape->kept_[s] = vals[s];
      }
    for (int s : tape->trainable_)
      if (!consts_[s].defined()) tape->kept_[s] = vals[s];
    tape->recorded_ = true;
  }
  TensorMap result;
  for (const auto& f : fetch) {
    int s = slot_of_[f];
    const Tensor& t = consts_[s].defined() ? consts_[s] : vals[s];
    DPL_CHECK(t.defined(), "tensor '{}' was not computed by nodes [{}, {})", f, first, last);
    result[f] = last_order[s] ? channels_last_to_plain(t) : t;
    cl_stats_.converted += last_order[s];
  }
  if (opts_.keep_all)
    for (size_t s = 0; s < vals.size(); ++s)
      if (vals[s].defined()) result.emplace(slot_names_[s], vals[s]);
  return result;
}

}  // namespace dpl
