// The precision plan (quant/precision.h, docs/quant-config.md): the --quant_config reader's
// checks, the precedence of platform < flags < --first_last_8bit < op_types < patterns <
// nodes < tensors on small built graphs, the first/last layer selection, pattern matching and
// the warnings for entries that match nothing.
#include <gtest/gtest.h>

#include <algorithm>
#include <limits>
#include <string>

#include "graph/model_builder.h"
#include "quant/precision.h"
#include "quant/qdq_builder.h"
#include "quant/qdq_test_util.h"
#include "util/error.h"

namespace dpl::test {
namespace {

const Platform& P(const std::string& name) { return platform_by_name(name); }

// A graph from x [1, 2, 4, 4]: nodes {op, name, input, output}; a Conv's 1x1 weight is
// "W" + the node name's last character ("conv1" reads W1), filled with random values.
struct Step {
  std::string op, name, in, out;
};
OnnxGraph small_graph(const std::vector<Step>& steps, const std::vector<std::string>& outputs) {
  ModelBuilder b;
  b.input("x", {1, 2, 4, 4});
  uint64_t seed = 1;
  for (const auto& s : steps) {
    if (s.op != "Conv") {
      b.node(s.op, {s.in}, {s.out}, s.name);
      continue;
    }
    const std::string w = "W" + s.name.substr(s.name.size() - 1);
    b.init(w, random_tensor({2, 2, 1, 1}, seed++, -1.f, 1.f)).node("Conv", {s.in, w}, {s.out}, s.name);
  }
  for (const auto& o : outputs) b.output(o, {1, 2, 4, 4});
  OnnxGraph g = b.graph();
  g.infer_shapes();
  return g;
}

// x -> conv1(W1) -> c1 -> relu1 -> r1 -> conv2(W2) -> c2 -> relu2 -> r2 -> conv3(W3) -> y.
// On trt the pairs are x, W1, r1, W2, r2, W3 (a Relu after a Conv gets none).
OnnxGraph chain() {
  return small_graph({{"Conv", "conv1", "x", "c1"},
                      {"Relu", "relu1", "c1", "r1"},
                      {"Conv", "conv2", "r1", "c2"},
                      {"Relu", "relu2", "c2", "r2"},
                      {"Conv", "conv3", "r2", "y"}},
                     {"y"});
}

// x -> stemS(WS) -> s -> relu -> r; r -> headA(WA) -> a; r -> headB(WB) -> b: two last layers.
OnnxGraph two_heads() {
  return small_graph({{"Conv", "stemS", "x", "s"},
                      {"Relu", "relu", "s", "r"},
                      {"Conv", "headA", "r", "a"},
                      {"Conv", "headB", "r", "b"}},
                     {"a", "b"});
}

PrecisionOptions w4a4_first_last() {
  PrecisionOptions o;
  o.w_bits = 4;
  o.a_bits = 4;
  o.first_last_8bit = true;
  return o;
}

QdqOptions with_plan(const std::string& platform, PrecisionOptions o) {
  QdqOptions q;
  q.precision = std::make_shared<const PrecisionPlan>(P(platform), std::move(o));
  return q;
}

std::string bits_of(const OnnxGraph& g, const QdqOptions& q, const std::string& platform = "trt") {
  const TensorPrecisions tp = resolve_precision(g, P(platform), q);
  std::string s;
  for (const auto& [t, spec] : tp.weights) s += t + "=" + std::to_string(spec.bits) + " ";
  for (const auto& [t, spec] : tp.acts) s += t + "=" + std::to_string(spec.bits) + " ";
  return s;
}

std::string error_of(const std::string& yaml) {
  try {
    parse_quant_config(yaml, "cfg.yaml");
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(QuantConfig, YamlAndJsonReadTheSame) {
  const QuantConfig y = parse_quant_config(
      "op_types:\n  Conv: {w_bits: 4}\npatterns:\n  \"conv*\": {a_bits: 6, symmetric: false}\n"
      "nodes:\n  conv2: {skip: true, per_channel: false}\ntensors:\n  x: {range: [0, 1], bits: 8}\n",
      "c.yaml");
  const QuantConfig j = parse_quant_config(
      R"({"op_types": {"Conv": {"w_bits": 4}}, "patterns": {"conv*": {"a_bits": 6, "symmetric": false}},
          "nodes": {"conv2": {"skip": true, "per_channel": false}}, "tensors": {"x": {"range": [0, 1], "bits": 8}}})",
      "c.json");
  for (const QuantConfig* c : {&y, &j}) {
    ASSERT_EQ(c->op_types.size(), 1u);
    EXPECT_EQ(c->op_types[0].key, "Conv");
    EXPECT_EQ(c->op_types[0].set.w_bits, 4);
    ASSERT_EQ(c->patterns.size(), 1u);
    EXPECT_EQ(c->patterns[0].set.a_bits, 6);
    EXPECT_EQ(c->patterns[0].set.symmetric, false);
    ASSERT_EQ(c->nodes.size(), 1u);
    EXPECT_EQ(c->nodes[0].set.skip, true);
    EXPECT_EQ(c->nodes[0].set.per_channel, false);
    ASSERT_EQ(c->tensors.size(), 1u);
    ASSERT_TRUE(c->tensors[0].set.range);
    EXPECT_EQ(c->tensors[0].set.range->lo, 0.f);
    EXPECT_EQ(c->tensors[0].set.range->hi, 1.f);
    EXPECT_EQ(c->tensors[0].set.bits, 8);
  }
  EXPECT_EQ(y.nodes[0].line, 6);
  EXPECT_TRUE(parse_quant_config("", "empty.yaml").empty());
}

TEST(QuantConfig, EveryMistakeIsOneLineWithItsPlace) {
  struct Case {
    std::string yaml, needle;
  } cases[] = {
      {"nodes:\n  conv1: {w_bits: 4\n", "cfg.yaml:3:1: does not parse"},
      {"nodes:\n  conv1: {wbits: 4}\n", "cfg.yaml:2:11: nodes 'conv1': unknown key 'wbits'"},
      {"nodes:\n  conv1: {w_bits: 9}\n", "cfg.yaml:2:19: w_bits must be an integer from 2 to 8, got '9'"},
      {"nodes:\n  conv1: {a_bits: 1}\n", "a_bits must be an integer from 2 to 8, got '1'"},
      {"nodes:\n  conv1: {a_bits: 4.5}\n", "got '4.5'"},
      {"tensors:\n  x: {range: [2, 1]}\n", "cfg.yaml:2:14: range [2, 1] has lo > hi"},
      {"tensors:\n  x: {range: [0, .nan]}\n", "two finite numbers"},
      {"tensors:\n  x: {range: 3}\n", "range must be a list of two numbers"},
      {"tensors:\n  x: {a_bits: 4}\n", "tensors 'x': unknown key 'a_bits' (known: bits, symmetric, per_channel, range)"},
      {"op_types:\n  Convv: {w_bits: 4}\n", "cfg.yaml:2:3: unknown op type 'Convv'"},
      {"layers:\n  conv1: {w_bits: 4}\n", "cfg.yaml:1:1: unknown section 'layers'"},
      {"nodes:\n  conv1: {skip: maybe}\n", "skip must be true or false, got 'maybe'"},
      {"nodes:\n  conv1: {w_bits: 4}\n  conv1: {a_bits: 4}\n", "nodes 'conv1' is given twice"},
      {"[1, 2]\n", "expected a map with sections"},
  };
  for (const auto& c : cases) {
    const std::string e = error_of(c.yaml);
    EXPECT_NE(e.find("--quant_config cfg.yaml:"), std::string::npos) << c.yaml << " -> " << e;
    EXPECT_NE(e.find(c.needle), std::string::npos) << c.yaml << " -> " << e;
    EXPECT_EQ(e.find('\n'), std::string::npos) << e;
  }
  EXPECT_EQ(error_of("op_types:\n  Eltwise: {a_bits: 4}\n"), "");  // a platform's own op name
}

TEST(QuantConfig, FileThatCannotBeRead) {
  try {
    load_quant_config("/nonexistent/cfg.yaml");
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent/cfg.yaml: cannot be read"), std::string::npos) << e.what();
  }
}

TEST(QuantConfig, GlobPatterns) {
  EXPECT_TRUE(glob_match("*/head/*", "/model/head/cls/Conv"));
  EXPECT_TRUE(glob_match("conv?", "conv3"));
  EXPECT_FALSE(glob_match("conv?", "conv12"));
  EXPECT_TRUE(glob_match("conv[13]", "conv3"));
  EXPECT_FALSE(glob_match("conv[13]", "conv2"));
  EXPECT_TRUE(glob_match("*", "a.b/c"));  // '*' crosses '/' and '.'
  EXPECT_FALSE(glob_match("head*", "/head/x"));
}

TEST(PrecisionPlan, PlatformTableWithoutAPlan) {
  OnnxGraph g = chain();
  EXPECT_EQ(bits_of(g, {}), "W1=8 W2=8 W3=8 r1=8 r2=8 x=8 ");
  EXPECT_EQ(bits_of(g, with_plan("trt", {})), "W1=8 W2=8 W3=8 r1=8 r2=8 x=8 ");
}

TEST(PrecisionPlan, FlagsThenFirstLast) {
  OnnxGraph g = chain();
  PrecisionOptions o;
  o.w_bits = 4;
  o.a_bits = 2;
  EXPECT_EQ(bits_of(g, with_plan("trt", o)), "W1=4 W2=4 W3=4 r1=2 r2=2 x=2 ");
  o.first_last_8bit = true;  // conv1 (weight, input x) and conv3 (weight, input r2) at 8
  EXPECT_EQ(bits_of(g, with_plan("trt", o)), "W1=8 W2=4 W3=8 r1=2 r2=8 x=8 ");
  // snpe quantizes the graph output: its pair is kept at 8 too.
  const TensorPrecisions tp = resolve_precision(g, P("snpe"), with_plan("snpe", o));
  EXPECT_EQ(tp.act("y").bits, 8);
  EXPECT_EQ(tp.act("r1").bits, 2);
  EXPECT_THROW(PrecisionPlan(P("trt"), PrecisionOptions{9, 0, false, {}}), Error);
  EXPECT_THROW(PrecisionPlan(P("trt"), PrecisionOptions{0, 1, false, {}}), Error);
}

TEST(PrecisionPlan, FirstAndLastFollowTheGraphNotTheNodeOrder) {
  OnnxGraph g = two_heads();
  PrecisionOptions o = w4a4_first_last();
  // stemS is first; both heads are last (nothing weighted follows either); r feeds both heads.
  EXPECT_EQ(bits_of(g, with_plan("trt", o)), "WA=8 WB=8 WS=8 r=8 x=8 ");
  // A model of one weighted layer: it is first and last.
  ModelBuilder b;
  b.input("x", {1, 2}).init("W", random_tensor({3, 2}, 7)).node("Gemm", {"x", "W"}, {"y"}, "fc");
  b.attr("transB", int64_t{1}).output("y", {1, 3});
  OnnxGraph one = b.graph();
  one.infer_shapes();
  EXPECT_EQ(bits_of(one, with_plan("trt", o)), "W=8 x=8 ");
}

TEST(PrecisionPlan, MostSpecificSettingWins) {
  OnnxGraph g = chain();
  PrecisionOptions o = w4a4_first_last();
  o.config = parse_quant_config(
      "op_types:\n  Conv: {w_bits: 6}\n"                       // beats --first_last_8bit and --w_bits
      "patterns:\n  \"conv*\": {a_bits: 5}\n  \"conv[23]\": {a_bits: 3}\n"  // the later pattern wins
      "nodes:\n  conv3: {w_bits: 7, a_bits: 2}\n"              // beats op_types and patterns
      "tensors:\n  W3: {bits: 5}\n  x: {bits: 7}\n",           // beats nodes
      "cfg.yaml");
  EXPECT_EQ(bits_of(g, with_plan("trt", o)), "W1=6 W2=6 W3=5 r1=3 r2=2 x=7 ");
}

TEST(PrecisionPlan, SharedActivationTakesItsReadersHighestBits) {
  OnnxGraph g = two_heads();
  PrecisionOptions o;
  o.a_bits = 4;
  o.config = parse_quant_config("nodes:\n  headA: {a_bits: 3}\n  headB: {a_bits: 6}\n", "cfg.yaml");
  const TensorPrecisions tp = resolve_precision(g, P("trt"), with_plan("trt", o));
  EXPECT_EQ(tp.act("r").bits, 6);
  EXPECT_EQ(tp.act("x").bits, 4);
}

TEST(PrecisionPlan, SymmetryGranularityAndSkip) {
  OnnxGraph g = chain();
  PrecisionOptions o;
  o.config = parse_quant_config(
      "nodes:\n  conv1: {symmetric: false, per_channel: false}\n  conv2: {skip: true}\n", "cfg.yaml");
  const QdqOptions q = with_plan("trt", o);
  QdqModel m = build_qdq(g, P("trt"), uniform_act_ranges(g, -1.f, 2.f), all_weight_ranges(g), q);
  EXPECT_EQ(m.pair("W2"), nullptr) << "conv2 is skipped";
  EXPECT_EQ(m.pair("r1"), nullptr);
  EXPECT_EQ(std::count(m.quant_nodes.begin(), m.quant_nodes.end(), "conv2"), 0);
  ASSERT_NE(m.pair("W1"), nullptr);
  EXPECT_FALSE(m.pair("W1")->params.symmetric);
  EXPECT_EQ(m.pair("W1")->params.zp_type, DType::U8);
  EXPECT_FALSE(m.pair("W1")->params.per_channel());
  ASSERT_NE(m.pair("x"), nullptr);  // conv1's activation input: asymmetric too
  EXPECT_FALSE(m.pair("x")->params.symmetric);
  ASSERT_NE(m.pair("W3"), nullptr);  // untouched: trt's symmetric per-channel weights
  EXPECT_TRUE(m.pair("W3")->params.per_channel());
  EXPECT_TRUE(m.pair("W3")->params.symmetric);
}

TEST(PrecisionPlan, EntriesMatchingNothingAreWarnings) {
  OnnxGraph g = chain();
  PrecisionOptions o;
  o.config = parse_quant_config(
      "op_types:\n  Gemm: {w_bits: 4}\n  Conv: {w_bits: 4}\n"
      "patterns:\n  \"head*\": {a_bits: 4}\n  \"conv*\": {a_bits: 4}\n"
      "nodes:\n  nope: {skip: true}\n  conv1: {skip: true}\n"
      "tensors:\n  ghost: {bits: 4}\n  W1: {range: [0, 1]}\n  x: {range: [0, 1]}\n",
      "cfg.yaml");
  const PrecisionPlan plan(P("trt"), o);
  const auto w = plan.unmatched(g);
  ASSERT_EQ(w.size(), 5u) << ::testing::PrintToString(w);
  EXPECT_NE(w[0].find("cfg.yaml:2: op_types 'Gemm' matches no node"), std::string::npos) << w[0];
  EXPECT_NE(w[1].find("cfg.yaml:5: patterns 'head*' matches no node name"), std::string::npos) << w[1];
  EXPECT_NE(w[2].find("cfg.yaml:8: nodes 'nope' is not a node"), std::string::npos) << w[2];
  EXPECT_NE(w[3].find("cfg.yaml:11: tensors 'ghost' is not a tensor"), std::string::npos) << w[3];
  EXPECT_NE(w[4].find("'W1' is a weight"), std::string::npos) << w[4];
  EXPECT_EQ(plan.fixed_ranges().size(), 2u);
  EXPECT_EQ(plan.fixed_ranges().at("x").hi, 1.f);
}

TEST(PrecisionPlan, SummaryCountsTensorsPerBitWidth) {
  OnnxGraph g = chain();
  PrecisionOptions o = w4a4_first_last();
  const TensorPrecisions tp = resolve_precision(g, P("trt"), with_plan("trt", o));
  EXPECT_EQ(tp.summary(), "weights: 8 bits x 2, 4 bits x 1; activations: 8 bits x 2, 4 bits x 1");
  EXPECT_EQ(tp.below_8bit(), (std::vector<std::string>{"W2", "r1"}));
}

TEST(PrecisionPlan, NonFiniteWeightIsAnErrorNamingTheInitializer) {
  OnnxGraph g = chain();
  Tensor w = g.get_initializer("W2").clone();
  w.data<float>()[3] = std::numeric_limits<float>::infinity();
  g.set_initializer("W2", w);
  try {
    check_finite_weights(g, P("trt"), {});
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("initializer 'W2' (input of Conv 'conv2') holds an infinite value at "
                                         "element 3"),
              std::string::npos)
        << e.what();
  }
  QdqOptions skip;
  skip.skip_layers = {"conv2"};
  EXPECT_NO_THROW(check_finite_weights(g, P("trt"), skip)) << "a node left float is not checked";
}

}  // namespace
}  // namespace dpl::test
