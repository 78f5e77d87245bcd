#include "calib/tensor_cali.h"

#include "graph/node_attrs.h"
#include "graph/weight_axes.h"
#include "calib/ranges.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <limits>
#include <optional>
#include <set>

#include "calib/act_range_search.h"
#include "calib/observer_hist.h"
#include "calib/observer_minmax.h"
#include "calib/observer_octav.h"
#include "calib/observer_output.h"
#include "calib/observer_range_hist.h"
#include "calib/weight_range_search.h"
#include "runtime/parallel.h"
#include "util/error.h"

namespace dpl {

CaliAlgo parse_cali_algo(const std::string& name) {
  if (name == "minmax") return CaliAlgo::MinMax;
  if (name == "hist") return CaliAlgo::Hist;
  if (name == "mse") return CaliAlgo::Mse;
  if (name == "lp") return CaliAlgo::Lp;
  if (name == "kl") return CaliAlgo::Kl;
  if (name == "output") return CaliAlgo::Output;
  fail("unknown activation calibration algorithm '{}' (expected {})", name, cali_algo_names());
}

const char* cali_algo_names() { return "minmax, hist, mse, lp, kl, output"; }

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
  const bool all = observer.observes_all_dtypes();
  // A plain pass: channels-last values seen as computed were tried and left out (the ranges
  // move with the layout), docs/architecture.md "Channels-last tensors".
  session.set_hook([&](const std::string& name, const Tensor& value) {
    if (all || (value.dtype() == DType::F32 && value.numel() > 0)) observer.observe(name, value, current);
  });
  const auto t0 = std::chrono::steady_clock::now();
  try {
    for (int first = 0; first < total;) {
      current = std::min(batch, total - first);
      try {
        session.run(data.batch(first, current));
      } catch (const Error& e) {
        if (first != 0 || current == 1) {
          const std::string which = current == 1 ? data.describe(first)
                                                 : fmt::format("samples {}..{} (from {})", first, first + current - 1,
                                                               data.describe(first));
          throw Error(fmt::format("{}: {}", which, e.what()));
        }
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
  observer.end_pass();
  if (opts.reduce) opts.reduce(observer, stage);
}

namespace {

constexpr int kOutputCandidates = 8;  // -A output: ranges from the Lp clip to min/max

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
      OctavObserver oct(opts.bits, opts.dynamic_sym, opts.tensor_bits);
      observe_pass(session, data, oct, opts, "OCTAV update");
      r = oct.ranges();
      break;
    }
    case CaliAlgo::Lp:
    case CaliAlgo::Output: {
      MinMaxObserver mm;
      observe_pass(session, data, mm, opts, "Minmax update");
      RangeHistObserver hist(mm, opts.bins);
      observe_pass(session, data, hist, opts, "Hist update");
      r = lp_ranges(hist, opts);
      if (opts.algo == CaliAlgo::Lp) break;
      std::map<std::string, OutputErrorObserver::Target> targets;
      for (auto& [name, cands] : output_candidates(r, mm, kOutputCandidates))
        targets[name] = {std::move(cands), act_grid(opts, name, r.at(name).lo)};
      OutputErrorObserver out(graph, std::move(targets), opts.threads);
      observe_pass(session, data, out, opts, "Output error update");
      r = out.ranges();
      // How far from the Lp clip the consumers moved each range (0: the clip, last: min/max).
      std::vector<int> chosen(kOutputCandidates, 0);
      for (const auto& [name, range] : r) ++chosen[out.choice(name)];
      spdlog::info("output-aware ranges: {} tensor(s) keep the Lp clip, {} their min/max, {} in between",
                   chosen.front(), chosen.back(), r.size() - chosen.front() - chosen.back());
      break;
    }
    case CaliAlgo::Kl: {
      MinMaxObserver mm;
      observe_pass(session, data, mm, opts, "Minmax update");
      HistObserver hist(mm, opts.bins);  // full histograms: the divergence reads every bin
      observe_pass(session, data, hist, opts, "Hist update");
      r = kl_ranges(hist, mm, opts);
      break;
    }
  }
  warn_missing(session, graph, r);
  return r;
}

namespace {

// The tap lattice of a 2-D convolution's windows (kernel up to 15 x 15, more than one tap),
// whose autocorrelation --w_range output scores clips with; none for other layers.
std::optional<ChannelMoments::Lattice> window_lattice(const onnx::NodeProto& n, const Shape& w) {
  if (n.op_type() != "Conv" || w.size() != 4 || w[2] * w[3] <= 1 || w[2] > 15 || w[3] > 15) return std::nullopt;
  const auto dil = attr_ints(n, "dilations");
  const int64_t dh = dil.size() == 2 ? dil[0] : 1, dw = dil.size() == 2 ? dil[1] : 1;
  if (dh < 1 || dw < 1) return std::nullopt;
  return ChannelMoments::Lattice{w[2], w[3], dh, dw};
}

}  // namespace

WeightRanges weight_ranges(const OnnxGraph& graph, const WeightRangeOptions& opts, WeightGains* gains) {
  // Every initializer input after the first of a weighted op, per output channel, along the
  // axis the QDQ builder quantizes it on (graph/weight_axes.h: ConvTranspose weights axis 1,
  // Gemm weights their output axis, constant MatMul B its last axis), so both always agree.
  static const std::set<std::string> kWeighted = {"Conv", "Gemm", "ConvTranspose", "PRelu", "BatchNormalization"};
  WeightRanges r;
  int output_aware = 0, lp_instead = 0;
  const bool gain = gains && opts.gain && opts.algo != WeightRangeAlgo::MinMax;
  if (gains) gains->clear();
  ThreadCountScope threads(opts.threads);
  auto quantized = [&opts](const std::string& w) { return !opts.quantized || opts.quantized->count(w) > 0; };
  for (int i = 0; i < graph.node_count(); ++i) {
    const auto& n = graph.node(i);
    const bool matmul = n.op_type() == "MatMul";
    if (!kWeighted.count(n.op_type()) && !matmul) continue;
    for (int k = 1; k < n.input_size(); ++k) {
      const std::string& in = n.input(k);
      if (in.empty() || !graph.is_initializer(in) || r.count(in)) continue;
      const Tensor t = graph.get_initializer(in);
      if (t.rank() < 1 || t.numel() == 0 || t.dtype() != DType::F32) continue;
      if (matmul && t.rank() < 2) continue;
      const int axis = weight_channel_axis(n, k, t.rank());
      check_finite_weight(in, t);
      // Only the weight input is quantized on a grid (biases and BN parameters stay float).
      if (k == 1 && opts.algo == WeightRangeAlgo::Output) {
        const ChannelMoments* m = nullptr;
        if (opts.input_moments && layer_input_channel_axis(n)) {
          auto it = opts.input_moments->find(n.input(0));
          if (it != opts.input_moments->end()) m = &it->second;
        }
        const auto ic = m ? weight_input_channels(n, t, static_cast<int64_t>(m->mean.size())) : std::vector<int32_t>{};
        if (!ic.empty()) {
          // The statistics this layer can use: a batched MatMul weight repeats input channels
          // (no matrix), a convolution of another kernel or dilation has other windows.
          const bool matrix_ok = m->second.empty() || t.rank() == 2;
          const auto own = window_lattice(n, t.shape());
          const bool windows_ok = m->autocorr.empty() || (own && m->lattice == *own);
          ChannelMoments reduced;
          if (!matrix_ok || !windows_ok)
            reduced = {m->mean, m->var, matrix_ok ? m->second : std::vector<double>{}, m->lattice,
                       windows_ok ? m->autocorr : std::vector<double>{}};
          r[in] = output_aware_weight_ranges(in, t, axis, opts.grid_of(in), ic, matrix_ok && windows_ok ? *m : reduced,
                                             {}, gain && quantized(in) ? &(*gains)[in] : nullptr);
          ++output_aware;
          continue;
        }
        ++lp_instead;
      }
      if (k == 1 && opts.algo != WeightRangeAlgo::MinMax)
        r[in] = searched_weight_ranges(in, t, axis, opts.grid_of(in), {}, gain && quantized(in) ? &(*gains)[in] : nullptr);
      else
        r[in] = channel_ranges(t, axis);
    }
  }
  if (opts.algo == WeightRangeAlgo::Output)
    spdlog::info("output-aware weight ranges: {} weight(s){}", output_aware,
                 lp_instead ? fmt::format(", {} by the Lp search (not a Conv, Gemm or MatMul weight, or no statistics of its input)", lp_instead)
                            : "");
  return r;
}

InputMoments layer_input_moments(const OnnxGraph& graph, SampleSource& data, const CaliOptions& opts) {
  // Linear layers (Gemm without transA, MatMul, with a 2-D weight) get the whole matrix of
  // second moments of their input: their output error e^T E[x x^T] e, correlations included.
  // 2-D convolutions get how the taps of a window co-vary (the first such consumer's lattice).
  std::map<std::string, int> axes;
  std::set<std::string> full;
  std::map<std::string, ChannelMoments::Lattice> lattices;
  for (int i = 0; i < graph.node_count(); ++i) {
    const auto& n = graph.node(i);
    const auto axis = layer_input_channel_axis(n);
    if (!axis || n.input_size() < 2 || n.input(0).empty() || !graph.is_initializer(n.input(1))) continue;
    const Shape w = graph.tensor_shape(n.input(1)).value_or(Shape{});
    const std::string& x = n.input(0);
    axes[x] = *axis;
    if (const auto l = window_lattice(n, w); l && !lattices.count(x)) lattices[x] = *l;
    if (w.size() == 2 && (*axis == -1 || (n.op_type() == "Gemm" && *axis == 1))) {
      // Each candidate clip of each output channel costs K^2: up to 2^26 per candidate for
      // the layer (a second at most), the diagonal form beyond.
      const int64_t K = n.op_type() == "Gemm" && attr_int(n, "transB", 0) != 0 ? w[1] : w[0];
      if (K > 0 && K <= ChannelMomentsObserver::kMaxFullChannels && K * shape_numel(w) <= (int64_t{1} << 26)) {
        full.insert(x);
        axes[x] = -1;  // a 2-D Gemm input: its last axis
      }
    }
  }
  SessionOptions so;
  so.threads = std::max(1, opts.threads);
  Session session(graph, so);
  ChannelMomentsObserver obs(std::move(axes), std::move(full), std::move(lattices));
  observe_pass(session, data, obs, opts, "Input moments update");
  return obs.moments();
}

}  // namespace dpl
