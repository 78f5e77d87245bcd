// Helpers for the deploy-file tests: a small graph with ranges set by hand (every number a
// test expects is derived from these by the platform's rules, written out in the test), a
// key-by-key, number-by-number JSON comparison, and YAML read through yaml-cpp into the same
// JSON form.
#pragma once
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>
#include <yaml-cpp/yaml.h>

#include "deploy/deploy.h"
#include "json_compare.h"
#include "graph/model_builder.h"
#include "quant/platform.h"


namespace dpl::test {

using nlohmann::json;

// x[1,2,4,4] -> conv0 (3x3, pad 1, bias "conv0.bias") -> c0 -> relu0 -> r0
//            -> conv1 (1x1, no bias) -> c1;  add0(r0, c1) -> a0;  cat0(a0, r0) -> k0 [1,6,4,4]
//            -> ct0 (ConvTranspose 2x2 stride 2, bias bt) -> t0 -> sig0 -> s0 -> flat0 -> f0 [1,128]
//            -> gemm0 (transB, bias bg) -> y [1,4]
// conv0's weight w0 is zero except kernel (0,0) = 0.1 * [[1,2,3],[4,5,6],[7,8,9]] and kernel
// (1,1) = -0.1 * [[1,0,0],[0,0,0],[0,0,1]] (for the Winograd ranges); the other weights are
// arbitrary: their ranges below are set by hand.
struct DeployFixture {
  OnnxGraph graph;
  ActRanges act;
  WeightRanges weight;
};

inline DeployFixture deploy_fixture() {
  Tensor w0 = Tensor::zeros(DType::F32, {3, 2, 3, 3});
  for (int i = 0; i < 9; ++i) w0.data<float>()[i] = 0.1f * static_cast<float>(i + 1);
  float* k11 = w0.data<float>() + (1 * 2 + 1) * 9;
  k11[0] = -0.1f;
  k11[8] = -0.1f;
  ModelBuilder b(13);
  b.input("x", {1, 2, 4, 4})
      .init("w0", w0)
      .init("conv0.bias", Tensor::from_vector<float>({3}, {0.1f, -0.2f, 0.3f}))
      .init("w1", random_tensor({3, 2, 1, 1}, 1, -1, 1))
      .init("wt", random_tensor({6, 2, 2, 2}, 2, -1, 1))
      .init("bt", Tensor::from_vector<float>({2}, {-0.05f, 0.02f}))
      .init("wg", random_tensor({4, 128}, 3, -1, 1))
      .init("bg", Tensor::from_vector<float>({4}, {0.5f, -1.5f, 0.25f, 0.f}))
      .node("Conv", {"x", "w0", "conv0.bias"}, {"c0"}, "conv0")
      .attr("kernel_shape", std::vector<int64_t>{3, 3})
      .attr("pads", std::vector<int64_t>{1, 1, 1, 1})
      .node("Relu", {"c0"}, {"r0"}, "relu0")
      .node("Conv", {"x", "w1"}, {"c1"}, "conv1")
      .node("Add", {"r0", "c1"}, {"a0"}, "add0")
      .node("Concat", {"a0", "r0"}, {"k0"}, "cat0")
      .attr("axis", int64_t{1})
      .node("ConvTranspose", {"k0", "wt", "bt"}, {"t0"}, "ct0")
      .attr("strides", std::vector<int64_t>{2, 2})
      .node("Sigmoid", {"t0"}, {"s0"}, "sig0")
      .node("Flatten", {"s0"}, {"f0"}, "flat0")
      .node("Gemm", {"f0", "wg", "bg"}, {"y"}, "gemm0")
      .attr("transB", int64_t{1})
      .output("y", {1, 4});
  DeployFixture f{b.graph(), {}, {}};
  f.graph.infer_shapes();
  f.act = {{"x", {-1, 2}},      {"c0", {-3, 5}},      {"r0", {0, 4.5f}},      {"c1", {-2, -0.5f}},
           {"a0", {-1.5f, 6}},  {"k0", {-1, 7}},      {"t0", {-8, 4}},        {"s0", {0.5f, 0.505f}},
           {"f0", {0.5f, 0.505f}}, {"y", {-253, 257}}};
  // Per output channel: axis 0, ConvTranspose axis 1, Gemm (transB) axis 0. A bias's channel
  // range is its value.
  f.weight = {{"w0", {{-0.5f, -0.25f, -1.0f}, {0.75f, 0.5f, 0.125f}}},
              {"conv0.bias", {{0.1f, -0.2f, 0.3f}, {0.1f, -0.2f, 0.3f}}},
              {"w1", {{-0.3f, -0.6f, -0.1f}, {0.2f, 0.4f, 0.9f}}},
              {"wt", {{-2.0f, -0.5f}, {1.0f, 1.5f}}},
              {"bt", {{-0.05f, 0.02f}, {-0.05f, 0.02f}}},
              {"wg", {{-0.1f, -0.2f, -0.3f, -0.4f}, {0.4f, 0.3f, 0.2f, 0.1f}}},
              {"bg", {{0.5f, -1.5f, 0.25f, 0.f}, {0.5f, -1.5f, 0.25f, 0.f}}}};
  return f;
}

// A whole file.
inline std::string slurp(const std::filesystem::path& p) {
  std::ifstream f(p, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

inline std::map<std::string, std::string> by_name(const std::vector<DeployFile>& files) {
  std::map<std::string, std::string> m;
  for (const auto& f : files) m[f.name] = f.content;
  return m;
}

// A YAML document as JSON: mappings, sequences; plain scalars that read as integers or
// floats become numbers, quoted scalars stay strings.
inline json yaml_to_json(const YAML::Node& n) {
  switch (n.Type()) {
    case YAML::NodeType::Map: {
      json o = json::object();
      for (const auto& kv : n) o[kv.first.as<std::string>()] = yaml_to_json(kv.second);
      return o;
    }
    case YAML::NodeType::Sequence: {
      json a = json::array();
      for (const auto& v : n) a.push_back(yaml_to_json(v));
      return a;
    }
    case YAML::NodeType::Scalar: {
      const std::string s = n.Scalar();
      if (n.Tag() != "!") {
        size_t used = 0;
        try {
          long long i = std::stoll(s, &used);
          if (used == s.size()) return json(i);
        } catch (...) {
        }
        try {
          return json(n.as<double>());
        } catch (...) {
        }
      }
      return json(s);
    }
    default:
      return json();
  }
}
inline json parse_yaml(const std::string& text) { return yaml_to_json(YAML::Load(text)); }

}  // namespace dpl::test
