// Every ONNX backend conformance case (Debian's libonnx-testdata) whose operators the
// runtime registers must pass with ONNX's tolerances (rtol 1e-3, atol 1e-7). Cases using an
// operator or element type the runtime does not claim are skipped, with the reason;
// ConformanceSummary prints the whole skip list and the counts.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <iostream>
#include <map>
#include <set>

#include "graph/onnx_graph.h"
#include "graph/tensor_proto.h"
#include "runtime/op_registry.h"
#include "runtime/session.h"
#include "tensor_compare.h"
#include "optimizer/prepare.h"

namespace fs = std::filesystem;

namespace dpl::test {
namespace {

const char* kNodeDir = "/usr/share/libonnx-testdata/data/node";

std::vector<std::string> list_cases() {
  std::vector<std::string> r;
  if (!fs::is_directory(kNodeDir)) return r;
  for (const auto& e : fs::directory_iterator(kNodeDir))
    if (fs::exists(e.path() / "model.onnx")) r.push_back(e.path().filename().string());
  std::sort(r.begin(), r.end());
  return r;
}

struct Case {
  OnnxGraph graph;
  std::string skip;  // non-empty: why the case is not run
};

// Loads a case and decides whether the runtime claims it.
Case load_case(const std::string& name) {
  Case c;
  fs::path dir = fs::path(kNodeDir) / name;
  try {
    c.graph = OnnxGraph::load((dir / "model.onnx").string());
  } catch (const std::exception& e) {
    c.skip = std::string("model does not load: ") + e.what();
    return c;
  }
  std::set<std::string> missing;
  for (const auto& n : c.graph.graph().node()) {
    bool std_domain = n.domain().empty() || n.domain() == "ai.onnx";
    if (!std_domain) missing.insert(n.domain() + "::" + n.op_type());
    else if (!OpRegistry::instance().has(n.op_type())) missing.insert(n.op_type());
  }
  if (!missing.empty()) {
    std::string s;
    for (const auto& m : missing) s += (s.empty() ? "" : ",") + m;
    c.skip = "operator not claimed: " + s;
    return c;
  }
  // Training-mode Dropout draws its mask from numpy's generator; no runtime reproduces it.
  if (name.rfind("test_training_dropout", 0) == 0 && name.find("zero_ratio") == std::string::npos) {
    c.skip = "training-mode Dropout is random (mask from numpy's generator)";
    return c;
  }
  auto check_type = [&](const onnx::ValueInfoProto& v) {
    DType t = static_cast<DType>(v.type().tensor_type().elem_type());
    if (!v.type().has_tensor_type()) {
      c.skip = "non-tensor value " + v.name();
    } else if (t == DType::F16) {
      // The runtime stores float16 (for data movement) but computes in float32 only.
      c.skip = "element type float16 not computed (" + v.name() + ")";
    } else if (!dtype_supported(t)) {
      c.skip = "element type " + dtype_name(static_cast<DType>(v.type().tensor_type().elem_type())) +
               " not supported (" + v.name() + ")";
    }
  };
  for (const auto& v : c.graph.graph().input()) check_type(v);
  for (const auto& v : c.graph.graph().output()) check_type(v);
  return c;
}

class Conformance : public ::testing::TestWithParam<std::string> {};

TEST_P(Conformance, MatchesExpectedOutputs) {
  const std::string name = GetParam();
  Case c = load_case(name);
  if (!c.skip.empty()) GTEST_SKIP() << c.skip;
  fs::path data = fs::path(kNodeDir) / name / "test_data_set_0";
  prepare_model(c.graph);
  Session session(c.graph);
  TensorMap feeds;
  const auto inputs = session.input_names();
  for (size_t i = 0; i < inputs.size(); ++i) {
    fs::path p = data / ("input_" + std::to_string(i) + ".pb");
    ASSERT_TRUE(fs::exists(p)) << p;
    feeds[inputs[i]] = tensor_from_proto(read_tensor_proto_file(p.string()));
  }
  TensorMap got = session.run(feeds);
  const auto outputs = session.output_names();
  for (size_t i = 0; i < outputs.size(); ++i) {
    Tensor want = tensor_from_proto(read_tensor_proto_file((data / ("output_" + std::to_string(i) + ".pb")).string()));
    SCOPED_TRACE("output " + outputs[i]);
    expect_tensor_near(got.at(outputs[i]), want, 1e-3, 1e-7);
  }
}

std::string case_name(const ::testing::TestParamInfo<std::string>& info) { return info.param; }

INSTANTIATE_TEST_SUITE_P(Node, Conformance, ::testing::ValuesIn(list_cases()), case_name);
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(Conformance);

// Prints every skipped case with its reason, and the claimed/total counts.
TEST(ConformanceSummary, ListsSkippedCases) {
  auto cases = list_cases();
  if (cases.empty()) GTEST_SKIP() << "libonnx-testdata is not installed (" << kNodeDir << ")";
  std::map<std::string, std::vector<std::string>> by_reason;
  int claimed = 0;
  for (const auto& name : cases) {
    Case c = load_case(name);
    if (c.skip.empty()) ++claimed;
    else by_reason[c.skip].push_back(name);
  }
  std::cout << "[conformance] " << claimed << " claimed, " << cases.size() - claimed << " skipped, " << cases.size()
            << " total\n";
  for (const auto& [reason, names] : by_reason) {
    std::cout << "[conformance skipped] " << reason << ":";
    for (const auto& n : names) std::cout << " " << n;
    std::cout << "\n";
  }
  EXPECT_GT(claimed, 0);
}

}  // namespace
}  // namespace dpl::test
