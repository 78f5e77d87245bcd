#include "profile/sensitivity.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <memory>

#include "profile/subgraph.h"
#include "runtime/session.h"
#include "util/error.h"

namespace dpl {

std::pair<double, double> worst_output(const std::vector<OutputProfile>& outs) {
  double cos = 1.0, sqnr = std::numeric_limits<double>::infinity();
  bool first = true;
  for (const auto& o : outs) {
    if (o.stats.samples() == 0) continue;  // not a float output
    const double c = o.avg_cos();
    if (first || c < cos) cos = c, sqnr = o.stats.sqnr_db();
    first = false;
  }
  return {cos, sqnr};
}

namespace {

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() > suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// Node k alone with the Q/DQ (or FakeQuantize) nodes of its quantized inputs, cut out of the
// profiling QDQ graph. Its inputs are FP32 tensors (or initializers); quantizes_inputs tells
// whether any input is quantized.
struct SingleNode {
  std::string node;
  int fp_index = -1;
  bool quantizes_inputs = false;
  std::unique_ptr<Session> session;
  std::vector<std::string> inputs, outputs;
};

SingleNode single_node(const OnnxGraph& fp, const QdqModel& qdq, const OnnxGraph& q_graph, const std::string& name,
                       int threads) {
  SingleNode s;
  s.node = name;
  s.fp_index = fp.node_index(name);
  const int j = q_graph.node_index(name);
  std::vector<int> sel{j};
  for (const auto& in : q_graph.node(j).input()) {
    if (!ends_with(in, "_dq") || !qdq.pair(in.substr(0, in.size() - 3))) continue;
    s.quantizes_inputs = true;
    // The pair's nodes back to its tensor: DequantizeLinear (or FakeQuantize), QuantizeLinear,
    // and below 8 bits the Clip (quant/qdq_builder.h); none for a folded weight.
    const std::string base = in.substr(0, in.size() - 3);
    for (int p = q_graph.producer(in); p >= 0;) {
      const onnx::NodeProto& pn = q_graph.node(p);
      if (pn.op_type() != "DequantizeLinear" && pn.op_type() != "QuantizeLinear" && pn.name() != base + "_Clip" &&
          pn.op_type() != "dpl.FakeQuantize")
        break;
      sel.push_back(p);
      p = pn.input(0) == base ? -1 : q_graph.producer(pn.input(0));
    }
  }
  if (!s.quantizes_inputs) return s;
  std::sort(sel.begin(), sel.end());
  sel.erase(std::unique(sel.begin(), sel.end()), sel.end());
  for (const auto& out : q_graph.node(j).output())
    if (!out.empty()) s.outputs.push_back(out);
  OnnxGraph g = extract_nodes(q_graph, sel, s.outputs);
  s.inputs = g.network_inputs();
  SessionOptions so;
  so.threads = threads;
  s.session = std::make_unique<Session>(g, so);
  return s;
}

// The network-output cosine of a QDQ model (built with `skip` added) on the cached batches.
double evaluate_skip(const OnnxGraph& fp, const QdqBuildFn& build, const std::set<std::string>& skip,
                     SampleSource& data, const std::vector<TensorMap>& fp_outputs, const SensitivityOptions& opts,
                     int samples) {
  QdqModel m = build(skip);
  SessionOptions so;
  so.threads = opts.threads;
  so.fuse = true;
  Session s(profiling_graph(m), so);
  std::vector<OutputProfile> outs = output_profiles(fp, m.outputs);
  std::vector<std::string> fetch;
  for (const auto& o : outs) fetch.push_back(o.q_name);
  for (int first = 0, b = 0; first < samples; first += opts.batch, ++b) {
    const int n = std::min(opts.batch, samples - first);
    add_output_batch(outs, fp_outputs[b], s.run(data.batch(first, n), fetch), n);
  }
  return worst_output(outs).first;
}

}  // namespace

SensitivityResult run_sensitivity(const OnnxGraph& fp, const QdqModel& qdq, const OnnxGraph& q_graph,
                                  const QdqBuildFn& build, SampleSource& data, const SensitivityOptions& opts) {
  DPL_CHECK(opts.samples >= 1, "--sensitivity_samples must be positive, got {}", opts.samples);
  DPL_CHECK(opts.batch >= 1, "sensitivity batch must be positive, got {}", opts.batch);
  auto t0 = std::chrono::steady_clock::now();
  SensitivityResult res;
  const int samples = std::min(opts.samples, data.count());
  res.samples = samples;

  std::vector<SingleNode> nodes;
  for (const auto& name : qdq.quant_nodes)
    if (fp.has_node(name) && q_graph.has_node(name)) nodes.push_back(single_node(fp, qdq, q_graph, name, opts.threads));
  std::vector<std::vector<OutputProfile>> outs(nodes.size(), output_profiles(fp, {}));
  // The nodes with pairs, dealt to the ranks in turn.
  std::vector<char> mine(nodes.size(), 0);
  for (size_t k = 0, dealt = 0; k < nodes.size(); ++k)
    if (nodes[k].quantizes_inputs) mine[k] = static_cast<int>(dealt++ % opts.comm->size()) == opts.comm->rank();

  SessionOptions so;
  so.threads = opts.threads;
  Session fp_s(fp, so);
  const std::vector<std::string> fp_outputs = fp.network_outputs();
  TensorMap cache;
  fp_s.set_hook([&](const std::string& name, const Tensor& t) { cache[name] = t; });
  std::vector<TensorMap> fp_out_batches;
  for (int first = 0; first < samples; first += opts.batch) {
    const int n = std::min(opts.batch, samples - first);
    cache.clear();
    fp_s.set_hook([&](const std::string& name, const Tensor& t) { cache[name] = t; });
    TensorMap fp_out = fp_s.run(data.batch(first, n));
    fp_s.set_hook(nullptr);
    for (size_t k = 0; k < nodes.size(); ++k) {
      SingleNode& sn = nodes[k];
      if (!mine[k]) continue;
      TensorMap feeds;
      for (const auto& in : sn.inputs) feeds[in] = cache.at(in);
      TensorMap perturbed = sn.session->run(feeds, sn.outputs);
      // Node k's outputs replaced in the cache, the rest of the network run again, restored.
      std::vector<std::pair<std::string, Tensor>> saved;
      for (auto& [name, t] : perturbed) {
        saved.emplace_back(name, cache[name]);
        cache[name] = t;
      }
      TensorMap q_out = fp_s.run_range(sn.fp_index + 1, fp_s.node_count(), cache, fp_outputs);
      for (auto& [name, t] : saved) cache[name] = std::move(t);
      add_output_batch(outs[k], fp_out, q_out, n);
    }
    fp_out_batches.push_back(std::move(fp_out));
    if (opts.progress) opts.progress("single layers", first + n, samples);
  }
  cache.clear();
  std::vector<ErrorStats*> stats;
  for (auto& o : outs)
    for (auto& p : o) stats.push_back(&p.stats);
  reduce_error_stats(*opts.comm, stats);
  for (size_t k = 0; k < nodes.size(); ++k) {
    NodeSensitivity ns;
    ns.node = nodes[k].node;
    ns.op_type = fp.node(nodes[k].fp_index).op_type();
    ns.quantizes_inputs = nodes[k].quantizes_inputs;
    if (ns.quantizes_inputs) {
      std::tie(ns.cos, ns.sqnr_db) = worst_output(outs[k]);
    } else {
      ns.cos = 1.0;
      ns.sqnr_db = std::numeric_limits<double>::infinity();
    }
    res.nodes.push_back(std::move(ns));
  }
  auto t1 = std::chrono::steady_clock::now();
  res.seconds_single = std::chrono::duration<double>(t1 - t0).count();

  // Skip list: the k most sensitive nodes, k found by bisection.
  std::vector<const NodeSensitivity*> order;
  for (const auto& ns : res.nodes)
    if (ns.quantizes_inputs) order.push_back(&ns);
  std::stable_sort(order.begin(), order.end(),
                   [](const NodeSensitivity* a, const NodeSensitivity* b) { return a->cos < b->cos; });
  SkipSuggestion& sug = res.suggestion;
  sug.target = opts.target_cos;
  const int max_evals = 3 + static_cast<int>(std::ceil(std::log2(order.size() + 1.0)));
  auto eval = [&](size_t m) {
    std::set<std::string> skip;
    for (size_t i = 0; i < m; ++i) skip.insert(order[i]->node);
    ++sug.evaluations;
    const double c = evaluate_skip(fp, build, skip, data, fp_out_batches, opts, samples);
    if (opts.progress) opts.progress("skip list", sug.evaluations, max_evals);
    return c;
  };
  size_t best = 0;
  sug.full_cos = eval(0);
  sug.cos = sug.full_cos;
  if (sug.full_cos >= sug.target) {
    sug.reached = true;
  } else if (!order.empty()) {
    const double all = eval(order.size());
    if (all < sug.target) {
      best = order.size();  // even skipping every node with pairs is not enough (output pairs)
      sug.cos = all;
    } else {
      size_t lo = 0, hi = order.size();  // eval(lo) < target <= eval(hi)
      double hi_cos = all;
      while (hi - lo > 1) {
        const size_t mid = (lo + hi) / 2;
        const double c = eval(mid);
        if (c >= sug.target) hi = mid, hi_cos = c;
        else lo = mid;
      }
      best = hi;
      sug.cos = hi_cos;
      sug.reached = true;
    }
  }
  for (size_t i = 0; i < best; ++i) sug.skip.push_back(order[i]->node);
  res.seconds_suggest = std::chrono::duration<double>(std::chrono::steady_clock::now() - t1).count();
  return res;
}

}  // namespace dpl
