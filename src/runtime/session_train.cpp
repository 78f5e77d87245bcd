// The training half of runtime/session.h (docs/training.md): run_forward plans which nodes
// lie between the trainable tensors and the fetched ones and keeps their inputs and
// outputs; run_backward walks those nodes in reverse, mirroring run_range's frees:
// a gradient lives from its first consumer's backward to its producer's, a kept forward
// tensor until the last backward that reads it.
#include "runtime/fusion.h"
#include "runtime/ops/grad_util.h"
#include "runtime/parallel.h"
#include "runtime/session.h"
#include "util/error.h"

namespace dpl {

void Session::plan_tape(int first, int last, const std::vector<std::string>& fetch,
                        const std::set<std::string>& trainable, const TensorMap& feeds, Tape& tape) const {
  DPL_CHECK(first >= 0 && first <= last && last <= node_count(), "node range [{}, {}) out of range", first, last);
  const size_t ns = slot_names_.size();
  tape = Tape();
  tape.first_ = first;
  tape.last_ = last;
  std::vector<char> produced(ns, 0);
  for (int i = first; i < last; ++i)
    for (int s : nodes_[i].out_slots)
      if (s >= 0) produced[s] = 1;
  tape.reach_.assign(ns, 0);
  for (const auto& t : trainable) {
    auto it = slot_of_.find(t);
    DPL_CHECK(it != slot_of_.end(), "trainable tensor '{}' is not a tensor of the model", t);
    const int s = it->second;
    DPL_CHECK(!produced[s], "trainable tensor '{}' is computed by nodes [{}, {}): only initializers and tensors fed to "
              "the range can be trained", t, first, last);
    DPL_CHECK(consts_[s].defined() || feeds.count(t), "trainable tensor '{}' is neither an initializer nor fed", t);
    tape.trainable_.push_back(s);
    tape.reach_[s] = 1;
  }
  for (int i = first; i < last; ++i) {
    // Shape and Size give a tensor's shape, not a function of its values: what is computed
    // from them (a Reshape target, an Expand of a constant) needs no gradient.
    const std::string& op = nodes_[i].desc.op_type;
    if (op == "Shape" || op == "Size") continue;
    bool r = false;
    for (int s : nodes_[i].in_slots) r = r || (s >= 0 && tape.reach_[s]);
    if (r)
      for (int s : nodes_[i].out_slots)
        if (s >= 0) tape.reach_[s] = 1;
  }
  // Nodes from which a fetched tensor is reached, walking back.
  std::vector<char> live(ns, 0);
  for (const auto& f : fetch) {
    auto it = slot_of_.find(f);
    DPL_CHECK(it != slot_of_.end(), "'{}' is not a tensor of the model", f);
    live[it->second] = 1;
    tape.fetched_.push_back(it->second);
  }
  tape.active_.assign(last - first, 0);
  for (int i = last; i-- > first;) {
    const PlanNode& nr = nodes_[i];
    bool out_live = false, in_reach = false;
    for (int s : nr.out_slots) out_live = out_live || (s >= 0 && live[s]);
    for (int s : nr.in_slots) in_reach = in_reach || (s >= 0 && tape.reach_[s]);
    if (!out_live) continue;
    for (int s : nr.in_slots)
      if (s >= 0) live[s] = 1;
    if (!in_reach || nr.desc.op_type == "Shape" || nr.desc.op_type == "Size") continue;
    tape.active_[i - first] = 1;
    DPL_CHECK(nr.op->has_backward(), "node '{}' ({}) has no backward pass, and it lies between the trainable tensors "
              "and the outputs", nr.desc.name, nr.desc.absorbed.empty() ? nr.desc.op_type : nr.desc.op_type + " with fused "
              + nr.desc.absorbed.front().op_type);
  }
}

TensorMap Session::run_forward(int first, int last, const TensorMap& feeds, const std::vector<std::string>& fetch,
                               const std::set<std::string>& trainable, Tape& tape) {
  plan_tape(first, last, fetch, trainable, feeds, tape);
  return forward_range(first, last, feeds, fetch, &tape);
}

TensorMap Session::run_backward(Tape& tape, const TensorMap& grad_outputs, const GradHook& hook) {
  DPL_CHECK(tape.recorded_, "run_backward needs the tape of a run_forward (each tape serves one backward)");
  ThreadCountScope threads(opts_.threads);
  const size_t ns = slot_names_.size();
  auto value = [&](int s) -> const Tensor& { return consts_[s].defined() ? consts_[s] : tape.kept_[s]; };
  std::vector<Tensor> grads(ns);
  std::vector<char> owned(ns, 0);  // grads[s] is ours to add into (not shared with another tensor)
  for (const auto& [name, g] : grad_outputs) {
    auto it = slot_of_.find(name);
    DPL_CHECK(it != slot_of_.end(), "gradient given for '{}', which is not a tensor of the model", name);
    const int s = it->second;
    DPL_CHECK(std::count(tape.fetched_.begin(), tape.fetched_.end(), s), "gradient given for '{}', which the forward "
              "pass did not fetch", name);
    const Tensor& v = value(s);
    if (!v.defined()) continue;  // fetched but not computed from a trainable: no kept value, no backward
    DPL_CHECK(g.dtype() == DType::F32 && g.shape() == v.shape(), "gradient of '{}' must be float32 {}, got {} {}", name,
              shape_str(v.shape()), dtype_name(g.dtype()), shape_str(g.shape()));
    grads[s] = g;
  }
  // Backward passes still to read each slot's gradient (trainables) or forward value.
  std::vector<int> pending(ns, 0), readers(ns, 0);
  const int first = tape.first_, last = tape.last_;
  for (int i = first; i < last; ++i) {
    if (!tape.active_[i - first]) continue;
    for (int s : nodes_[i].in_slots)
      if (s >= 0) pending[s] += tape.reach_[s], readers[s]++;
    for (int s : nodes_[i].out_slots)
      if (s >= 0) readers[s]++;
  }
  std::vector<char> is_trainable(ns, 0);
  for (int s : tape.trainable_) is_trainable[s] = 1;
  TensorMap result;
  auto deliver = [&](int s) {
    Tensor g = grads[s];
    if (!g.defined()) g = Tensor::zeros(DType::F32, value(s).shape());
    else if (!owned[s]) g = g.clone();
    grads[s] = Tensor();
    if (hook) hook(slot_names_[s], g);
    result[slot_names_[s]] = g;
  };

  OpContext ctx;
  ctx.threads = opts_.threads;
  ctx.declared_batch = declared_batch_;
  ctx.actual_batch = tape.actual_batch_;
  for (int i = last; i-- > first;) {
    if (!tape.active_[i - first]) continue;
    PlanNode& nr = nodes_[i];
    GradArgs args;
    bool any_dy = false, any_want = false;
    for (int s : nr.in_slots) {
      args.inputs.push_back(s >= 0 ? &value(s) : nullptr);
      args.wants.push_back(s >= 0 && tape.reach_[s]);
      any_want = any_want || args.wants.back();
    }
    for (int s : nr.out_slots) {
      args.outputs.push_back(s >= 0 ? &value(s) : nullptr);
      args.grad_outputs.push_back(s >= 0 && grads[s].defined() ? &grads[s] : nullptr);
      any_dy = any_dy || args.grad_outputs.back();
    }
    std::vector<Tensor> gin(nr.in_slots.size());
    args.grad_inputs = gin;
    if (any_dy && any_want) {
      try {
        nr.op->backward(ctx, args);
      } catch (const Error& e) {
        fail("node '{}' ({}) backward: {}", nr.desc.name, nr.desc.op_type, e.what());
      }
    }
    for (size_t k = 0; k < nr.in_slots.size(); ++k) {
      const int s = nr.in_slots[k];
      if (s < 0 || !args.wants[k] || !gin[k].defined()) continue;
      DPL_CHECK(gin[k].shape() == args.inputs[k]->shape() && gin[k].dtype() == DType::F32,
                "node '{}' ({}) backward gave a {} {} gradient for input '{}' of shape {}", nr.desc.name,
                nr.desc.op_type, dtype_name(gin[k].dtype()), shape_str(gin[k].shape()), slot_names_[s],
                shape_str(args.inputs[k]->shape()));
      if (!grads[s].defined()) {
        grads[s] = gin[k];
        owned[s] = 0;
      } else {
        if (!owned[s]) grads[s] = grads[s].clone(), owned[s] = 1;
        grad::accumulate(grads[s], gin[k]);
      }
    }
    // This node produced its outputs: their gradients are spent.
    for (int s : nr.out_slots)
      if (s >= 0) grads[s] = Tensor(), owned[s] = 0;
    for (int s : nr.in_slots)
      if (s >= 0 && tape.reach_[s] && --pending[s] == 0 && is_trainable[s]) deliver(s);
    for (int s : nr.in_slots)
      if (s >= 0 && --readers[s] == 0) tape.kept_[s] = Tensor();
    for (int s : nr.out_slots)
      if (s >= 0 && --readers[s] == 0) tape.kept_[s] = Tensor();
  }
  // Trainables no taped node reads: zero gradient.
  for (int s : tape.trainable_)
    if (!result.count(slot_names_[s])) deliver(s);
  tape = Tape();
  return result;
}

}  // namespace dpl
