#include "cli/stage_profile.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>
#include <chrono>
#include <ctime>

#include "cli/pipeline_context.h"
#include "io/atomic_file.h"
#include "profile/console_report.h"
#include "profile/profile_json.h"
#include "profile/profiler.h"
#include "profile/report.h"
#include "profile/report_html.h"
#include "profile/sensitivity.h"
#include "util/error.h"
#include "util/progress.h"
#include "util/version.h"

namespace dpl {

namespace {

// Histograms of the worst layers use the first few samples (a second, short pass).
constexpr int kHistogramLayers = 5, kHistogramSamples = 4, kHistogramBins = 64;

double cpu_seconds() {
  timespec t{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) + 1e-9 * static_cast<double>(t.tv_nsec);
}

std::string now_text() {
  std::time_t t = std::time(nullptr);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S", std::localtime(&t));
  return buf;
}

RunSettings settings_of(const PipelineContext& ctx) {
  const ProfileArgs& a = ctx.args.profile;
  RunSettings s;
  s.model = ctx.args.model;
  s.platform = ctx.platform.name;
  s.act_quant = ctx.args.act_quant;
  s.output_dir = ctx.args.output_dir;
  s.command_line = ctx.args.command_line;
  s.version = kVersion;
  s.date = now_text();
  s.samples = ctx.all_data.count();
  s.batch = ctx.cali.batch;
  s.threads = ctx.cali.threads;
  s.skip_layers = ctx.args.qdq.skip_layers;
  s.per_layer = !a.skip_prof_layer;
  s.sensitivity = a.sensitivity;
  s.sensitivity_samples = std::min(a.sensitivity_samples, ctx.all_data.count());
  s.target_cos = a.target_cos;
  if (ctx.qdq) s.precision = ctx.qdq->precision.summary();
  return s;
}

}  // namespace

void add_profile_flags(CLI::App& app, ProfileArgs& args) {
  app.add_flag("--skip_prof_layer", args.skip_prof_layer,
               "profile the network outputs only, not every quantized layer");
  app.add_flag("--sensitivity", args.sensitivity,
               "single-layer sensitivity: output cosine with only one node quantized, and a suggested --skip_layers");
  app.add_option("--sensitivity_samples", args.sensitivity_samples, "samples used by --sensitivity")
      ->check(CLI::Range(1, 1 << 20))
      ->capture_default_str();
  app.add_option("--target_cos", args.target_cos, "output cosine the suggested --skip_layers list must reach")
      ->check(CLI::Range(0.0, 1.0))
      ->capture_default_str();
}

void profile_stage(PipelineContext& ctx) {
  DPL_CHECK(ctx.qdq.has_value(), "profiling needs the QDQ model");
  const auto t0 = std::chrono::steady_clock::now();
  const ProfileArgs& a = ctx.args.profile;
  spdlog::info("Profiling...");
  // The FP32 reference is the model before the weight transforms (the original's graph_ori),
  // so their effect shows; without transforms, the model the QDQ model was built from.
  const OnnxGraph& fp = ctx.fp_reference();

  ProfileReport rep;
  rep.settings = settings_of(ctx);
  ProfileOptions po;
  po.batch = ctx.cali.batch;
  po.threads = ctx.cali.threads;
  po.per_layer = !a.skip_prof_layer;
  Progress bar("profiling", ctx.data.count());
  po.progress = [&bar](int done, int) { bar.update(done); };
  Profiler prof(fp, *ctx.qdq, po);
  const double c0 = cpu_seconds();
  rep.profile = prof.run(ctx.data);
  rep.cpu_seconds = cpu_seconds() - c0;
  bar.finish();
  // Each rank profiled its own samples; the sums are merged (docs/distributed.md). The
  // histograms and the sensitivity below run few samples, on rank 0 alone.
  reduce_over_ranks(ctx.comm, rep.profile);
  rep.cpu_seconds = ctx.comm.sum(rep.cpu_seconds);
  rep.ranges = tensor_ranges(ctx.graph, ctx.act, ctx.weight, ctx.platform.weight.per_channel);
  set_precision(rep.ranges, *ctx.qdq);
  rep.weights_per_channel = ctx.platform.weight.per_channel;
  if (!rep.weights_per_channel) rep.per_tensor = per_tensor_weight_ratios(ctx.graph);

  if (po.per_layer && !rep.profile.layers.empty() && ctx.comm.root()) {
    std::vector<LayerHistogram> wanted;
    for (const LayerProfile* l : lowest_layers(rep.profile, kHistogramLayers)) {
      LayerHistogram h;
      h.node = l->node;
      h.tensor = l->tensor;
      // The calibrated range, widened on both sides by its width: values beyond it are
      // shown up to there, and the empty ends are cut afterwards.
      auto it = ctx.act.find(l->tensor);
      const float lo = it == ctx.act.end() ? -1.f : it->second.lo, hi = it == ctx.act.end() ? 1.f : it->second.hi;
      const float w = hi > lo ? hi - lo : std::max(1e-3f, std::fabs(lo));
      h.lo = lo - w;
      h.hi = hi + w;
      wanted.push_back(std::move(h));
    }
    rep.histograms = prof.histograms(ctx.all_data, wanted, kHistogramSamples, kHistogramBins);
  }

  if (a.sensitivity) {
    SensitivityOptions so;
    so.samples = std::min(a.sensitivity_samples, ctx.all_data.count());
    so.batch = ctx.cali.batch;
    so.threads = ctx.cali.threads;
    so.target_cos = a.target_cos;
    so.comm = &ctx.comm;
    StagedProgress bar("sensitivity");
    so.progress = [&bar](const std::string& stage, int done, int total) { bar.update(stage, done, total); };
    QdqBuildFn build = [&ctx, &fp](const std::set<std::string>& extra) {
      QdqOptions o = ctx.qdq_options;
      o.skip_layers.insert(extra.begin(), extra.end());
      return build_qdq(fp, ctx.platform, ctx.act, ctx.weight, o);
    };
    rep.sensitivity = run_sensitivity(fp, *ctx.qdq, prof.q_graph(), build, ctx.all_data, so);
    bar.finish();
  }
  rep.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  rep.sparsity = ctx.sparsity;
  if (!ctx.comm.root()) return;

  log_profile_report(rep);
  if (po.per_layer) write_file_atomic(ctx.out("layer_res.json"), layer_res_json(rep.profile));
  write_file_atomic(ctx.out("model_res.json"), model_res_json(rep.profile));
  write_file_atomic(ctx.out("profile.json"), profile_json(rep));
  write_file_atomic(ctx.out("report.html"), report_html(rep));
  spdlog::info("Profiling: {} samples in {:.2f} s (pass {:.2f} s, CPU {:.2f} s){}; wrote {}", rep.profile.samples,
               rep.seconds, rep.profile.seconds, rep.cpu_seconds,
               rep.sensitivity ? fmt::format(", sensitivity {:.1f} s + skip list {:.1f} s",
                                             rep.sensitivity->seconds_single, rep.sensitivity->seconds_suggest)
                               : "",
               ctx.out("report.html"));
}

}  // namespace dpl
