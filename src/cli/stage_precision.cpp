#include "cli/stage_precision.h"

#include <fmt/ranges.h>
#include <spdlog/spdlog.h>

#include <algorithm>

#include "cli/pipeline_context.h"
#include "cli/quantize_args.h"
#include "util/error.h"

namespace dpl {

namespace {

// "a (4 bits), b (2 bits)", at most `n` names and a count of the rest.
std::string name_list(const std::vector<std::string>& tensors, const TensorPrecisions& tp, size_t n = 8) {
  std::vector<std::string> shown;
  for (size_t i = 0; i < tensors.size() && i < n; ++i) {
    const std::string& t = tensors[i];
    const int bits = tp.weights.count(t) ? tp.weight(t).bits : tp.act(t).bits;
    shown.push_back(fmt::format("'{}' ({} bits)", t, bits));
  }
  std::string s = fmt::format("{}", fmt::join(shown, ", "));
  if (tensors.size() > n) s += fmt::format(" and {} more", tensors.size() - n);
  return s;
}

}  // namespace

void add_precision_flags(CLI::App& app, PrecisionArgs& a) {
  app.add_option("--w_bits", a.w_bits, "bits of every quantized weight, 2..8 (default: the platform's, 8)")
      ->check(CLI::Range(2, 8));
  app.add_option("--a_bits", a.a_bits, "bits of every quantized activation, 2..8 (default: the platform's, 8)")
      ->check(CLI::Range(2, 8));
  app.add_flag("--first_last_8bit", a.first_last_8bit,
               "keep the first and last weighted layers' weights and inputs (and quantized graph outputs) at 8 bits");
  app.add_option("--quant_config", a.quant_config,
                 "YAML or JSON file: per op type, node-name glob, node and tensor: w_bits, a_bits, skip, symmetric, "
                 "per_channel, fixed activation range (docs/quant-config.md)");
}

std::shared_ptr<const PrecisionPlan> precision_plan(const PrecisionArgs& a, const Platform& platform) {
  PrecisionOptions o;
  o.w_bits = a.w_bits;
  o.a_bits = a.a_bits;
  o.first_last_8bit = a.first_last_8bit;
  if (!a.quant_config.empty()) o.config = load_quant_config(a.quant_config);
  return std::make_shared<const PrecisionPlan>(platform, std::move(o));
}

void check_precision_outputs(const QuantizeArgs& args, const OnnxGraph& graph, const Platform& platform,
                             const QdqOptions& qdq) {
  check_finite_weights(graph, platform, qdq);
  const TensorPrecisions tp = resolve_precision(graph, platform, qdq);
  const std::vector<std::string> narrow = tp.below_8bit();
  if (narrow.empty()) return;
  const auto& extras = args.deploy_files.deploy_extra;
  DPL_CHECK(std::find(extras.begin(), extras.end(), "trt_cache") == extras.end(),
            "--deploy_extra trt_cache: TensorRT's calibration cache is an 8-bit format and {} tensor(s) are planned "
            "below 8 bits: {}; deploy quant_model.onnx (explicit Q/DQ) instead, or drop trt_cache",
            narrow.size(), name_list(narrow, tp));
  DPL_CHECK(args.qop.quant_format != "QOP",
            "--quant_format QOP: ONNX's integer operators saturate at the 8-bit bounds, and {} tensor(s) are planned "
            "below 8 bits: {}; use the QDQ model (quant_model.onnx) for sub-8-bit precision",
            narrow.size(), name_list(narrow, tp));
}

void log_precision(const PipelineContext& ctx) {
  const PrecisionPlan* plan = ctx.qdq_options.precision.get();
  if (!plan) return;
  for (const auto& w : plan->unmatched(ctx.graph)) spdlog::warn("{}", w);
  const TensorPrecisions tp = resolve_precision(ctx.graph, ctx.platform, ctx.qdq_options);
  spdlog::info("precision plan: {}", tp.summary());
  for (const auto& [t, r] : plan->fixed_ranges())
    spdlog::info("precision plan: activation '{}' fixed to [{}, {}]", t, r.lo, r.hi);
}

void refresh_precision(PipelineContext& ctx) {
  const TensorPrecisions tp = resolve_precision(ctx.graph, ctx.platform, ctx.qdq_options);
  auto grid = [](const QuantSpec& s) { return TensorGrid{s.bits, s.symmetric, s.per_channel}; };
  ctx.cali.bits = tp.act_default.bits;
  ctx.cali.tensor_bits.clear();
  for (const auto& [t, s] : tp.acts)
    if (s.bits != ctx.cali.bits) ctx.cali.tensor_bits[t] = s.bits;
  ctx.weight_range.grid = grid(tp.weight_default);
  ctx.weight_range.tensor_grid.clear();
  ctx.weight_range.quantized.emplace();
  for (const auto& [t, s] : tp.weights) {
    ctx.weight_range.quantized->insert(t);
    const TensorGrid g = grid(s);
    if (g.bits != ctx.weight_range.grid.bits || g.symmetric != ctx.weight_range.grid.symmetric ||
        g.per_channel != ctx.weight_range.grid.per_channel)
      ctx.weight_range.tensor_grid[t] = g;
  }
}

void apply_fixed_ranges(PipelineContext& ctx) {
  const PrecisionPlan* plan = ctx.qdq_options.precision.get();
  if (!plan) return;
  for (const auto& [t, r] : plan->fixed_ranges())
    if (ctx.graph.is_network_input(t) || ctx.graph.producer(t) >= 0) ctx.act[t] = r;
}

}  // namespace dpl
