#include "calib/tensor_cali.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <limits>
#include <set>

#include "calib/observer_hist.h"
#include "calib/observer_minmax.h"
#include "calib/observer_octav.h"
#include "util/error.h"

namespace dpl {

CaliAlgo parse_cali_algo(const std::string& name) {
  if (name == "minmax") return CaliAlgo::MinMax;
  if (name == "hist") return CaliAlgo::Hist;
  if (name == "mse") return CaliAlgo::Mse;
  fail("unknown activation calibration algorithm '{}' (expected minmax, hist or mse)", name);
}

void observe_pass(Session& session, SampleSource& data, Observer& observer, const CaliOptions& opts,
                  const std::string& stage) {
  const int total = data.count();
  int batch = std::max(1, opts.batch);
  std::vector<std::string> tensors = session.input_names();
  for (int i = 0; i < session.node_count(); ++i)
    for (const auto& out : session.node(i).outputs)
      if (!out.empty()) tensors.push_back(out);
  observer.reserve(tensors);
  int current = 0;  // samples in the batch being run
  session.set_hook([&](const std::string& name, const Tensor& value) {
    if (value.dtype() == DType::F32 && value.numel() > 0) observer.observe(name, value, current);
  });
  const auto t0 = std::chrono::steady_clock::now();
  try {
    for (int first = 0; first < total;) {
      current = std::min(batch, total - first);
      try {
        session.run(data.batch(first, current));
      } catch (const Error& e) {
        if (first != 0 || current == 1) throw Error(fmt::format("{}: {}", data.describe(first), e.what()));
        spdlog::warn("{}: running {} samples at once failed ({}); going on one sample at a time", stage, current,
                     e.what());
        observer.clear();
        batch = 1;
        continue;
      }
      first += current;
      if (opts.progress) opts.progress(first, total, stage);
    }
  } catch (...) {
    session.set_hook(nullptr);
    throw;
  }
  session.set_hook(nullptr);
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  spdlog::debug("{}: {} samples in {:.2f}s", stage, total, secs);
  if (opts.reduce) opts.reduce(observer, stage);
}

namespace {

void warn_missing(const Session& session, const OnnxGraph& graph, const ActRanges& r) {
  // Float tensors the hook saw but that got no range (never a finite value).
  std::vector<std::string> missing;
  for (const auto& in : session.input_names())
    if (graph.value_type(in) == DType::F32 && !r.count(in)) missing.push_back(in);
  for (int i = 0; i < graph.node_count(); ++i)
    for (const auto& out : graph.node(i).output())
      if (!out.empty() && graph.value_type(out) == DType::F32 && !r.count(out)) missing.push_back(out);
  if (missing.empty()) return;
  std::string list;
  for (size_t i = 0; i < missing.size() && i < 10; ++i) list += (i ? ", " : "") + missing[i];
  if (missing.size() > 10) list += ", ...";
  spdlog::warn("{} float tensor(s) held no finite value (or were never computed) and get no range: {}",
               missing.size(), list);
}

}  // namespace

ActRanges calibrate_activations(const OnnxGraph& graph, SampleSource& data, const CaliOptions& opts) {
  DPL_CHECK(data.count() > 0, "no calibration samples");
  SessionOptions so;
  so.threads = std::max(1, opts.threads);
  Session session(graph, so);
  ActRanges r;
  switch (opts.algo) {
    case CaliAlgo::MinMax: {
      MinMaxObserver mm;
      observe_pass(session, data, mm, opts, "Minmax update");
      r = mm.ranges();
      break;
    }
    case CaliAlgo::Hist: {
      MinMaxObserver mm;
      observe_pass(session, data, mm, opts, "Minmax update");
      HistObserver hist(mm, opts.bins, opts.threshold);
      observe_pass(session, data, hist, opts, "Hist update");
      const auto todo = hist.unresolved(opts.threshold);
      if (!todo.empty()) {
        // The threshold fell into the merely counted bulk of these tensors' histograms.
        spdlog::info("hist: {} tensor(s) need their full histogram (first: '{}'); one more pass", todo.size(),
                     todo.front());
        HistObserver full(mm, opts.bins);
        full.restrict_to(todo);
        observe_pass(session, data, full, opts, "Hist update (full)");
        hist.replace(full);
      }
      r = hist.ranges(opts.threshold);
      break;
    }
    case CaliAlgo::Mse: {
      OctavObserver oct(opts.bits, opts.dynamic_sym);
      observe_pass(session, data, oct, opts, "OCTAV update");
      r = oct.ranges();
      break;
    }
  }
  warn_missing(session, graph, r);
  return r;
}

WeightRanges weight_ranges(const OnnxGraph& graph) {
  static const std::set<std::string> kWeighted = {"Conv", "Gemm", "ConvTranspose", "PRelu", "BatchNormalization"};
  std::vector<std::string> names;  // in first-use order
  std::set<std::string> seen, transposed;
  for (int i = 0; i < graph.node_count(); ++i) {
    const auto& n = graph.node(i);
    if (!kWeighted.count(n.op_type())) continue;
    for (int k = 1; k < n.input_size(); ++k) {
      const std::string& in = n.input(k);
      if (in.empty() || !graph.is_initializer(in)) continue;
      if (seen.insert(in).second) names.push_back(in);
    }
    if (n.op_type() == "ConvTranspose" && n.input_size() > 1) transposed.insert(n.input(1));
  }
  WeightRanges r;
  for (const auto& name : names) {
    const Tensor t = graph.get_initializer(name);
    if (t.rank() < 1 || t.numel() == 0) continue;
    Shape shape = t.shape();
    const bool swap = transposed.count(name) && t.rank() >= 2;
    const int64_t c = swap ? shape[1] : shape[0];
    const int64_t outer = swap ? shape[0] : 1;  // axis 0 of the stored tensor when swapped
    const int64_t inner = t.numel() / (shape[0] * (swap ? shape[1] : 1));
    // Element (a0, a1, rest) of the stored tensor is at (a0 * shape[1] + a1) * inner + rest.
    ChannelRanges cr;
    cr.lo.assign(c, std::numeric_limits<float>::infinity());
    cr.hi.assign(c, -std::numeric_limits<float>::infinity());
    const std::vector<float> v = t.to_f32_vector();
    for (int64_t a0 = 0; a0 < (swap ? outer : c); ++a0)
      for (int64_t a1 = 0; a1 < (swap ? c : 1); ++a1) {
        const int64_t ch = swap ? a1 : a0;
        const float* p = v.data() + (swap ? (a0 * c + a1) * inner : a0 * inner);
        float lo = cr.lo[ch], hi = cr.hi[ch];
        for (int64_t j = 0; j < inner; ++j) {
          lo = std::min(lo, p[j]);
          hi = std::max(hi, p[j]);
        }
        cr.lo[ch] = lo, cr.hi[ch] = hi;
      }
    r[name] = std::move(cr);
  }
  return r;
}

}  // namespace dpl
