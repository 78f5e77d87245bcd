// libFuzzer target: the --quant_config parser and the precision plan it drives
// (docs/fuzzing.md). The bytes are the file itself (YAML or JSON: yaml-cpp reads both), read as
// `dipoorlet --quant_config FILE` reads it. When it parses, the plan is applied as the CLI
// applies it to a small fixed model (Conv, Relu, depthwise Conv, pooling, Gemm, a MatMul and an
// Add, with node names the glob patterns can hit): the unmatched-entry warnings, the fixed
// ranges over the calibrated ones, the resolved grids, the QDQ model. Beyond "no crash, only
// dpl::Error": every resolved grid has 2..8 bits; the QDQ model passes onnx::checker; every
// QuantizeLinear scale is finite and positive and every zero point lies on its grid.
#include <onnx/checker.h>

#include <cmath>
#include <memory>
#include <string>

#include "calib/tensor_cali.h"
#include "fuzz_common.h"
#include "graph/model_builder.h"
#include "optimizer/prepare.h"
#include "quant/platform.h"
#include "quant/precision.h"
#include "quant/qdq_builder.h"
#include "quant/quant_config.h"

namespace {

[[noreturn]] void finding(const std::string& what) {
  std::fprintf(stderr, "finding: %s\n", what.c_str());
  std::abort();
}

dpl::Tensor ramp(const dpl::Shape& s, float step) {
  dpl::Tensor t(dpl::DType::F32, s);
  for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = static_cast<float>((i * 7) % 13 - 6) * step;
  return t;
}

// x -> conv1 -> relu1 -> dw/conv2 -> pool/gap -> flatten -> fc/gemm -> head/matmul -> add/out
dpl::OnnxGraph make_model() {
  dpl::test::ModelBuilder b(13);
  b.input("x", {1, 3, 6, 6});
  b.init("conv1.weight", ramp({4, 3, 3, 3}, 0.05f)).init("conv1.bias", ramp({4}, 0.1f));
  b.node("Conv", {"x", "conv1.weight", "conv1.bias"}, {"c1"}, "conv1").attr("pads", std::vector<int64_t>{1, 1, 1, 1});
  b.node("Relu", {"c1"}, {"r1"}, "relu1");
  b.init("dw/conv2.weight", ramp({4, 1, 3, 3}, 0.2f));
  b.node("Conv", {"r1", "dw/conv2.weight"}, {"c2"}, "dw/conv2").attr("group", int64_t{4});
  b.node("GlobalAveragePool", {"c2"}, {"p"}, "pool/gap");
  b.node("Flatten", {"p"}, {"f"}, "flatten");
  b.init("fc.weight", ramp({5, 4}, 0.3f)).init("fc.bias", ramp({5}, 0.01f));
  b.node("Gemm", {"f", "fc.weight", "fc.bias"}, {"g"}, "fc/gemm").attr("transB", int64_t{1});
  b.init("head.weight", ramp({5, 5}, 0.1f));
  b.node("MatMul", {"g", "head.weight"}, {"m"}, "head/matmul");
  b.node("Add", {"m", "g"}, {"y"}, "add/out");
  b.output("y");
  dpl::OnnxGraph g = b.graph();
  dpl::prepare_model(g, 13, false);
  return g;
}

const dpl::OnnxGraph& model() {
  static const dpl::OnnxGraph g = make_model();
  return g;
}

void check_qdq(const dpl::QdqModel& qdq) {
  try {
    onnx::checker::check_model(qdq.graph.model());
  } catch (const std::exception& e) {
    finding(std::string("QDQ model fails onnx::checker: ") + e.what());
  }
  const auto check_grid = [](const dpl::QuantSpec& q, const std::string& t) {
    if (q.bits < 2 || q.bits > 8) finding(t + " resolved to " + std::to_string(q.bits) + " bits");
  };
  for (const auto& [t, q] : qdq.precision.weights) check_grid(q, t);
  for (const auto& [t, q] : qdq.precision.acts) check_grid(q, t);
  for (const auto& p : qdq.pairs) {
    const auto& s = p.params.scale;
    for (float v : s)
      if (!(std::isfinite(v) && v > 0)) finding("scale of " + p.tensor + " is not finite and positive");
    // Codes (qmin..qmax around the zero point) inside the 8-bit storage type, 2^bits of them at most.
    const int32_t lo = p.params.zp_type == dpl::DType::I8 ? -128 : 0, hi = lo + 255;
    const auto& par = p.params;
    if (par.zero_point.size() != s.size() || par.qmin.size() != s.size() || par.qmax.size() != s.size())
      finding("quantization parameters of " + p.tensor + " differ in length");
    for (size_t c = 0; c < s.size(); ++c) {
      const int32_t z = par.zero_point[c];
      if (z + par.qmin[c] < lo || z + par.qmax[c] > hi || par.qmin[c] > 0 || par.qmax[c] < 0 ||
          par.qmax[c] - par.qmin[c] > (1 << par.bits) - 1)
        finding("codes of " + p.tensor + " leave their " + std::to_string(par.bits) + "-bit grid");
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  dpl::fuzz::quiet_logging();
  model();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  dpl::fuzz::run_guarded([&] {
    dpl::PrecisionOptions po;
    po.config = dpl::parse_quant_config(text, "fuzz.yaml");
    // The flags come from the length, so the text itself stays a plain config file.
    const auto names = dpl::platform_names();
    const dpl::Platform& platform = dpl::platform_by_name(names[size % names.size()]);
    po.first_last_8bit = (size / 7) % 2;
    if ((size / 3) % 3 == 0) po.w_bits = 2 + static_cast<int>(size % 7);
    if ((size / 5) % 3 == 0) po.a_bits = 2 + static_cast<int>((size / 11) % 7);
    auto plan = std::make_shared<const dpl::PrecisionPlan>(platform, po);
    const dpl::OnnxGraph& g = model();
    (void)plan->unmatched(g);
    (void)plan->changes_anything();

    dpl::ActRanges act;
    for (const auto& v : g.graph().value_info()) act[v.name()] = {-1.f, 2.f};
    for (const auto& v : g.graph().input()) act[v.name()] = {-1.f, 1.f};
    for (const auto& v : g.graph().output()) act[v.name()] = {-3.f, 3.f};
    for (const auto& [t, r] : plan->fixed_ranges()) act[t] = r;
    dpl::QdqOptions opts;
    opts.quiet = true;
    opts.precision = plan;
    const dpl::TensorPrecisions tp = dpl::resolve_precision(g, platform, opts);
    dpl::WeightRangeOptions wro;
    for (const auto& [t, q] : tp.weights) wro.tensor_grid[t] = dpl::TensorGrid{q.bits, q.symmetric, q.per_channel};
    const dpl::WeightRanges weight = dpl::weight_ranges(g, wro);
    check_qdq(dpl::build_qdq(g, platform, act, weight, opts));
  });
  return 0;
}
