// Simulated = real (docs/spec.md 11): the QDQ model `dipoorlet` writes must run in
// ONNX Runtime as this project's runtime simulates it. For every model of ../shared/models
// (and the bundled example, which needs no shared data) and the platforms trt, snpe, rv and
// imx: `dipoorlet -A minmax` calibrates on 2 real samples and writes quant_model.onnx;
// `dipoorlet-infer` and tests/tools/ort_run.js (onnxruntime-node) then run it on 2 other real
// samples (so values also fall outside the calibrated ranges and saturate), and every output
// must reach a cosine >= 0.9999 over its samples. One gtest case per model x platform, and
// (LowBit/...) per model x sub-8-bit plan, and (Transformer/...) per transformer model x platform
// with --optim_transformer.
//
// ONNX Runtime runs the model with its graph optimizations disabled, i.e. every
// QuantizeLinear/DequantizeLinear and float operator as the ONNX operator definitions say,
// which is what the simulation claims to be. (With optimizations ORT replaces DQ -> op -> Q
// groups by its integer kernels, QLinearConv and the like, which round the bias and the
// requantization differently by design; set DPL_QDQ_ORT_ALL=1 to also print that agreement.)
//
// Deep QDQ networks are chaotic: two float implementations that sum in a different order
// differ by an ulp, an ulp now and then sends a value to the other side of a rounding
// boundary, and that quantization step spreads through the following layers. So when an
// output misses 0.9999, the test measures the network's own sensitivity: ONNX Runtime against
// itself on a copy of the model whose float biases are changed by 1 ulp. If that also misses
// 0.9999, our output must be within kChaosFactor times ORT's own distance (1 - cosine); a
// kernel that computes something else (rounding mode, zero point, axis, saturation) shows in
// the models that are not chaotic (the imx models, whose power-of-two scales keep most float
// arithmetic exact, agree to a cosine >= 0.999998, mostly bit for bit) and fails there.
// Everything is printed per output.
//
// Skipped, with the reason, when ../shared, node or onnxruntime-node is absent.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <iomanip>
#include <iostream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <system_error>
#include <vector>

#include "parity/parity_util.h"

namespace fs = std::filesystem;

namespace dpl::test {
namespace {

constexpr double kMinCosine = 0.9999;
constexpr double kChaosFactor = 4.0;
constexpr int kThreads = 2;
constexpr int kCalibSamples = 2;
constexpr int kEvalSamples = 2;
const std::vector<std::string> kPlatforms{"trt", "snpe", "rv", "imx"};

std::vector<PlatformCase> all_cases() {
  std::vector<PlatformCase> c;
  for (const auto& m : all_parity_cases())
    for (const auto& p : kPlatforms) c.push_back({m, p});
  return c;
}

// Sub-8-bit models (docs/quant-config.md "Sub-8-bit models"): symmetric per-channel weights
// (trt) and asymmetric per-tensor weights with quantized outputs (snpe), W4A4 and W2A4, with
// and without --first_last_8bit; same tolerance as at 8 bits.
std::vector<PlatformCase> low_bit_cases() {
  std::vector<PlatformCase> c;
  for (const auto& m : all_parity_cases()) {
    c.push_back({m, "trt", "W4A4", "--w_bits 4 --a_bits 4"});
    c.push_back({m, "trt", "W2A4_fl8", "--w_bits 2 --a_bits 4 --first_last_8bit"});
    c.push_back({m, "snpe", "W4A4_fl8", "--w_bits 4 --a_bits 4 --first_last_8bit"});
    c.push_back({m, "snpe", "W2A4", "--w_bits 2 --a_bits 4"});
  }
  return c;
}

// The transformer placement (--optim_transformer, docs/transformers.md): MatMuls of two
// activations and constant-weight MatMuls quantized, LayerNorm/GELU/Softmax kept float, on a
// platform with per-channel weights (trt), one with per-tensor asymmetric weights and quantized
// outputs (snpe) and one that quantizes MatMul already (magicmind).
std::vector<PlatformCase> transformer_cases() {
  std::vector<PlatformCase> c;
  for (const auto& m : transformer_parity_cases())
    for (const char* p : {"trt", "snpe", "magicmind"}) c.push_back({m, p, "optim_transformer", "--optim_transformer"});
  return c;
}

// External data end to end (docs/external_data.md): the model to quantize is first saved with
// its weights in a .data file (mapped by dipoorlet, not read in), and --external_data writes
// quant_model.onnx's weights to quant_model.onnx.data, which ONNX Runtime and dipoorlet-infer
// read back.
std::vector<PlatformCase> external_data_cases() {
  std::vector<PlatformCase> c;
  for (const auto& m : transformer_parity_cases())
    c.push_back({m, "trt", "external_data", "--optim_transformer --external_data"});
  return c;
}

// Sub-folders of `dir` (one per output written by a runner).
std::set<std::string> output_folders(const fs::path& dir) {
  std::set<std::string> names;
  if (!fs::is_directory(dir)) return names;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.is_directory()) names.insert(e.path().filename().string());
  return names;
}

// Samples [first, first + n) of `from` become samples 0..n-1 of `to`.
void copy_samples(const fs::path& from, const fs::path& to, const std::string& input, int first, int n) {
  fs::create_directories(to / file_safe_name(input));
  for (int i = 0; i < n; ++i)
    fs::copy_file(sample_path(from.string(), input, first + i), sample_path(to.string(), input, i),
                  fs::copy_options::overwrite_existing);
}

// A copy of `model` in which the lowest mantissa bit of every float Conv/ConvTranspose/Gemm
// bias value is flipped. Returns the number of biases changed (0: nothing written).
int perturb_biases(const fs::path& model, const fs::path& out) {
  OnnxGraph g = OnnxGraph::load(model.string());
  std::set<std::string> done;
  for (const auto& n : g.graph().node()) {
    const std::string& op = n.op_type();
    if ((op != "Conv" && op != "ConvTranspose" && op != "Gemm") || n.input_size() < 3) continue;
    const std::string& b = n.input(2);
    if (b.empty() || !g.is_initializer(b) || done.count(b)) continue;
    Tensor t = g.get_initializer(b).clone();
    if (t.dtype() != DType::F32) continue;
    for (int64_t i = 0; i < t.numel(); ++i) {
      uint32_t u;
      std::memcpy(&u, t.data<float>() + i, sizeof(u));
      u ^= 1u;
      std::memcpy(t.data<float>() + i, &u, sizeof(u));
    }
    g.set_initializer(b, t);
    done.insert(b);
  }
  if (!done.empty()) g.save(out.string());
  return static_cast<int>(done.size());
}

std::string fmt_cos(double c) {
  std::ostringstream s;
  s << std::setprecision(9) << c;
  return s.str();
}

std::string fmt_diff(double d) {
  std::ostringstream s;
  s << std::setprecision(4) << d;
  return s.str();
}

// The work folder (over 1 GB for an onnx-light model's QDQ copies) is removed when the case
// passes and kept for diagnosis when it fails.
class QdqAgreement : public AgreementTest {
 protected:
  QdqAgreement() : AgreementTest("qdq_agreement", kCalibSamples + kEvalSamples) {}
};

TEST_P(QdqAgreement, OnnxRuntimeRunsTheQdqModelAsSimulated) {
  const ParityCase& pc = GetParam().model;
  const std::string& platform = GetParam().platform;
  const std::string tag = "[qdq-agreement] " + pc.name + " " + platform + " " + GetParam().variant;
  const fs::path& work = work_;
  const bool external = GetParam().flags.find("--external_data") != std::string::npos;
  fs::path run_model = start_.run_model;
  if (external) {
    fs::create_directories(work / "external");
    const fs::path saved = work / "external" / "model.onnx";
    ASSERT_TRUE(OnnxGraph::load(run_model.string()).save(saved.string(), true));
    ASSERT_TRUE(fs::exists(saved.string() + ".data"));
    run_model = saved;
  }
  const int total = kCalibSamples + kEvalSamples;
  auto inputs = OnnxGraph::load(run_model.string()).network_inputs();
  ASSERT_EQ(inputs.size(), 1u) << "the agreement cases feed single-input models";

  // Real samples 0..total-1: the last kCalibSamples calibrate, the first kEvalSamples are run.
  const fs::path all = work / "samples", calib = work / "calib", eval = work / "eval";
  fs::create_directories(all / file_safe_name(inputs[0]));
  pc.make_inputs(all, inputs[0], total);
  if (HasFatalFailure()) return;
  copy_samples(all, calib, inputs[0], kEvalSamples, kCalibSamples);
  copy_samples(all, eval, inputs[0], 0, kEvalSamples);

  std::string shapes;
  for (const auto& s : pc.input_shapes) shapes += " --input_shape " + quote(s);
  const fs::path qdir = work / "quant";
  int rc = run_command(quote(kDipoorlet.string()) + " -M " + quote(run_model.string()) + " -I " +
                           quote(calib.string()) + " -N " + std::to_string(kCalibSamples) + " -O " +
                           quote(qdir.string()) + " -D " + platform + " -A minmax --threads " +
                           std::to_string(kThreads) + shapes + " " + GetParam().flags,
                       work / "dipoorlet.log");
  ASSERT_EQ(rc, 0) << "dipoorlet failed (exit " << rc << "):\n" << read_text(work / "dipoorlet.log");
  const fs::path qmodel = qdir / "quant_model.onnx";
  ASSERT_TRUE(fs::exists(qmodel)) << "dipoorlet wrote no " << qmodel;
  if (external) {
    ASSERT_TRUE(fs::exists(qmodel.string() + ".data")) << "--external_data wrote no " << qmodel << ".data";
    EXPECT_LT(fs::file_size(qmodel), fs::file_size(qmodel.string() + ".data"));
  }

  const std::string common = " -I " + quote(eval.string()) + " -N " + std::to_string(kEvalSamples) +
                             " --threads " + std::to_string(kThreads) + shapes;
  const fs::path ours = work / "ours";
  rc = run_command(quote(kInfer.string()) + " -M " + quote(qmodel.string()) + common + " -O " + quote(ours.string()),
                   work / "ours.log");
  ASSERT_EQ(rc, 0) << "dipoorlet-infer failed on the QDQ model (exit " << rc << "):\n" << read_text(work / "ours.log");
  auto run_ort = [&](const fs::path& m, const std::string& level, const fs::path& out) {
    int r = run_command("node " + quote(kOrtScript.string()) + " -M " + quote(m.string()) + common +
                            " --opt_level " + level + " -O " + quote(out.string()),
                        out.string() + ".log");
    EXPECT_EQ(r, 0) << "ONNX Runtime (ort_run.js --opt_level " << level << ") failed on " << m << " (exit " << r
                    << "):\n"
                    << read_text(out.string() + ".log");
    return r == 0;
  };
  const fs::path ort = work / "ort";
  if (!run_ort(qmodel, "disabled", ort)) return;

  // Both runners write one folder per graph output of the QDQ model.
  const auto outputs = output_folders(ort);
  ASSERT_FALSE(outputs.empty()) << "ONNX Runtime wrote no outputs into " << ort;
  ASSERT_EQ(output_folders(ours), outputs) << "dipoorlet-infer and ONNX Runtime wrote different outputs";
  std::map<std::string, OutputAgreement> got;
  bool strict_pass = true;
  for (const auto& out : outputs) {
    OutputAgreement& r = got[out];
    compare_output_files(ours, ort, out, kEvalSamples, "dipoorlet-infer", "ONNX Runtime", r);
    if (HasFatalFailure()) return;
    strict_pass &= r.cosine >= kMinCosine;
    std::cout << tag << " output '" << out << "' (" << kEvalSamples << " samples, " << r.elements
              << " values): cosine " << fmt_cos(r.cosine) << " (worst sample " << fmt_cos(r.worst_sample)
              << "), max |diff| " << fmt_diff(r.max_diff) << std::endl;
    EXPECT_FALSE(std::isnan(r.max_diff)) << "output '" << out << "': NaN where ONNX Runtime has a number or back";
  }

  const char* also_all = std::getenv("DPL_QDQ_ORT_ALL");
  if (also_all && std::string(also_all) == "1") {
    const fs::path ort_all = work / "ort_all";
    if (run_ort(qmodel, "all", ort_all)) {
      for (const auto& out : outputs) {
        OutputAgreement r;
        compare_output_files(ours, ort_all, out, kEvalSamples, "dipoorlet-infer", "ONNX Runtime (optimized)", r);
        if (HasFatalFailure()) return;
        std::cout << tag << " output '" << out << "': ORT with all optimizations (integer kernels): cosine "
                  << fmt_cos(r.cosine) << ", max |diff| " << fmt_diff(r.max_diff) << " (information only)"
                  << std::endl;
      }
    }
  }
  if (strict_pass) return;

  // The network's own sensitivity: ORT against itself with every float bias 1 ulp away.
  std::map<std::string, OutputAgreement> floor;
  const fs::path perturbed = work / "quant_model_bias_ulp.onnx", ort_p = work / "ort_bias_ulp";
  const int changed = perturb_biases(qmodel, perturbed);
  if (changed > 0 && run_ort(perturbed, "disabled", ort_p)) {
    for (const auto& out : outputs) {
      compare_output_files(ort, ort_p, out, kEvalSamples, "ONNX Runtime", "ONNX Runtime (biases 1 ulp away)",
                           floor[out]);
      if (HasFatalFailure()) return;
    }
  }
  for (const auto& [out, r] : got) {
    if (r.cosine >= kMinCosine) continue;
    std::string verdict;
    bool ok = false;
    if (!floor.count(out)) {
      verdict = changed == 0 ? "the model has no float bias to measure its sensitivity with"
                             : "the run with perturbed biases failed";
    } else {
      const OutputAgreement& f = floor.at(out);
      verdict = "ONNX Runtime against itself with " + std::to_string(changed) + " biases 1 ulp away: cosine " +
                fmt_cos(f.cosine) + ", max |diff| " + fmt_diff(f.max_diff);
      ok = f.cosine < kMinCosine && 1.0 - r.cosine <= kChaosFactor * (1.0 - f.cosine);
      verdict += ok ? " -> within the network's own sensitivity" : " -> NOT explained by the network's sensitivity";
    }
    std::cout << tag << " output '" << out << "': below " << kMinCosine << "; " << verdict << std::endl;
    EXPECT_TRUE(ok) << pc.name << " on " << platform << ": output '" << out << "' of the QDQ model: cosine "
                    << fmt_cos(r.cosine) << " with ONNX Runtime (max |diff| " << fmt_diff(r.max_diff) << "); "
                    << verdict;
  }
}

INSTANTIATE_TEST_SUITE_P(Models, QdqAgreement, ::testing::ValuesIn(all_cases()), platform_case_name);
INSTANTIATE_TEST_SUITE_P(LowBit, QdqAgreement, ::testing::ValuesIn(low_bit_cases()), platform_case_name);
INSTANTIATE_TEST_SUITE_P(Transformer, QdqAgreement, ::testing::ValuesIn(transformer_cases()), platform_case_name);
INSTANTIATE_TEST_SUITE_P(ExternalData, QdqAgreement, ::testing::ValuesIn(external_data_cases()), platform_case_name);

}  // namespace
}  // namespace dpl::test
