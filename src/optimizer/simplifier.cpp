#include "optimizer/simplifier.h"

#include <onnx/checker.h>
#include <spdlog/spdlog.h>

#include <functional>
#include <unordered_set>
#include <vector>

#include "optimizer/passes/passes.h"
#include "util/error.h"

// libonnx 1.12 exports this overload (check_model(path) calls it with the model's folder)
// but declares only the other two.
namespace onnx::checker {
void check_model(const ModelProto& model, CheckerContext& ctx);
}  // namespace onnx::checker

namespace dpl {

namespace {

// Empty when the model passes onnx::checker::check_model, else its message. The checker
// looks for external data files in the model's folder, which only the overload taking a
// context knows (exported by libonnx, not declared in its header: see below).
std::string check_message(const onnx::ModelProto& m, const std::string& model_dir) {
  try {
    onnx::checker::CheckerContext ctx;
    ctx.set_model_dir(model_dir);
    onnx::checker::check_model(m, ctx);
  } catch (const std::exception& e) {
    std::string s = e.what();
    while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
    return s.empty() ? "unknown checker error" : s;
  }
  return "";
}

// value_info entries of tensors that no longer exist, or that are initializers or graph
// inputs/outputs (declared elsewhere), go.
void prune_value_info(OnnxGraph& g) {
  std::unordered_set<std::string> produced;
  for (const auto& n : g.graph().node())
    for (const auto& o : n.output()) produced.insert(o);
  auto* vi = g.graph().mutable_value_info();
  int w = 0;
  for (int r = 0; r < vi->size(); ++r) {
    const std::string& name = vi->Get(r).name();
    if (!produced.count(name) || g.is_initializer(name) || g.is_network_output(name)) continue;
    if (w != r) vi->SwapElements(w, r);
    ++w;
  }
  vi->DeleteSubrange(w, vi->size() - w);
  g.update_value_info_maps();
}

// Imports of other domains no node uses (the ai.onnx.ml import of TFLite exports).
void drop_unused_imports(OnnxGraph& g) {
  std::unordered_set<std::string> used;
  std::function<void(const onnx::GraphProto&)> walk = [&](const onnx::GraphProto& gr) {
    for (const auto& n : gr.node()) {
      used.insert(n.domain());
      for (const auto& a : n.attribute()) {
        if (a.has_g()) walk(a.g());
        for (const auto& s : a.graphs()) walk(s);
      }
    }
  };
  walk(g.graph());
  auto* imports = g.model().mutable_opset_import();
  for (int i = imports->size() - 1; i >= 0; --i) {
    const std::string& d = imports->Get(i).domain();
    if (!d.empty() && d != "ai.onnx" && !used.count(d)) imports->DeleteSubrange(i, 1);
  }
}

// One pass of an iteration: whether the options enable it, the pass (returns its number of
// changes) and the statistic that counts them. Run in this order.
struct PassStep {
  bool enabled;
  std::function<int(OnnxGraph&)> run;
  int SimplifyStats::*counter;
};

std::vector<PassStep> pass_steps(const SimplifyOptions& opts, SimplifyStats& st) {
  return {
      {opts.fold_shapes, passes::fold_shapes, &SimplifyStats::shapes_folded},
      {opts.fold_constants, [&](OnnxGraph& g) { return passes::fold_constants(g, opts, st); }, &SimplifyStats::folded},
      {opts.remove_identity, passes::remove_identity, &SimplifyStats::identities_removed},
      {true, passes::collapse_softmax_reshape, &SimplifyStats::softmax_collapsed},
      {opts.remove_dead, passes::remove_dead_nodes, &SimplifyStats::dead_removed},
      {opts.remove_dead, passes::remove_unused_initializers, &SimplifyStats::initializers_removed},
  };
}

}  // namespace

std::string SimplifyStats::summary() const {
  std::string s = fmt::format(
      "{} -> {} nodes, {} -> {} initializers in {} iteration(s): {} folded, {} shape(s) folded, {} "
      "Identity/Dropout removed, {} Softmax reshape(s) collapsed, {} dead node(s) and {} initializer(s) "
      "removed",
      nodes_before, nodes_after, initializers_before, initializers_after, iterations, folded, shapes_folded,
      identities_removed, softmax_collapsed, dead_removed, initializers_removed);
  if (!not_folded.empty()) {
    s += "; not folded:";
    for (const auto& [k, v] : not_folded) s += fmt::format(" {} x{}", k, v);
  }
  return s;
}

SimplifyStats simplify(OnnxGraph& g, const SimplifyOptions& opts) {
  SimplifyStats st;
  st.nodes_before = g.node_count();
  st.initializers_before = g.graph().initializer_size();
  const std::string check_before = opts.check ? check_message(g.model(), g.base_dir()) : "";

  g.convert_constant_to_init();
  for (const auto& [name, shape] : opts.input_shapes) g.set_input_shape(name, shape);
  // The batch dimension stays symbolic while folding (unless given): the runtime runs a
  // model at any batch size, which folded batch-1 shapes would break.
  std::map<std::string, int64_t> declared_batch;
  if (opts.symbolic_batch) {
    for (auto& in : *g.graph().mutable_input()) {
      if (g.is_initializer(in.name()) || !in.type().has_tensor_type() || !in.type().tensor_type().has_shape() ||
          in.type().tensor_type().shape().dim_size() == 0)
        continue;
      auto given = opts.input_shapes.find(in.name());
      if (given != opts.input_shapes.end() && !given->second.empty() && given->second[0] >= 0) continue;
      auto* d0 = in.mutable_type()->mutable_tensor_type()->mutable_shape()->mutable_dim(0);
      if (!d0->has_dim_value()) continue;
      declared_batch[in.name()] = d0->dim_value();
      d0->set_dim_param("dpl_batch");
    }
  }
  // Shapes inferred for other input shapes would contradict the new ones. Those of the
  // declared shapes come back at the end for the tensors that still exist.
  google::protobuf::RepeatedPtrField<onnx::ValueInfoProto> saved_info;
  const bool shapes_changed = !opts.input_shapes.empty() || !declared_batch.empty();
  if (shapes_changed) {
    if (opts.input_shapes.empty()) saved_info.Swap(g.graph().mutable_value_info());
    g.graph().clear_value_info();
    g.update_value_info_maps();
  }
  if (opts.remove_initializer_inputs) passes::drop_initializer_inputs(g);
  g.topologize();

  const std::vector<PassStep> steps = pass_steps(opts, st);
  for (int it = 0; it < opts.max_iterations; ++it) {
    st.iterations = it + 1;
    int changes = 0;
    g.infer_shapes();
    for (const PassStep& step : steps) {
      if (!step.enabled) continue;
      const int k = step.run(g);
      st.*step.counter += k;
      changes += k;
    }
    if (changes == 0) break;
  }
  if (shapes_changed) {
    for (auto& in : *g.graph().mutable_input())
      if (declared_batch.count(in.name()))
        in.mutable_type()->mutable_tensor_type()->mutable_shape()->mutable_dim(0)->set_dim_value(
            declared_batch[in.name()]);
    g.graph().clear_value_info();
    for (auto& v : saved_info) *g.graph().add_value_info() = std::move(v);
    prune_value_info(g);
    g.infer_shapes();
  }
  prune_value_info(g);
  drop_unused_imports(g);  // opset imports only: the maps stay right
  st.nodes_after = g.node_count();
  st.initializers_after = g.graph().initializer_size();

  if (opts.check) {
    std::string after = check_message(g.model(), g.base_dir());
    if (!after.empty()) {
      if (check_before.empty())
        fail("the simplified model fails the ONNX checker (the original passed it): {}", after);
      spdlog::warn("the model fails the ONNX checker (it did before simplification too): {}", after);
    }
  }
  spdlog::debug("simplify: {}", st.summary());
  return st;
}

}  // namespace dpl
