// Small hand-built transformer graphs for the pattern and placement tests
// (graph/transformer_patterns.h, quant/qdq_sites.h with QdqOptions::transformer).
#pragma once
#include <cmath>
#include <string>

#include "graph/model_builder.h"

namespace dpl::test {

inline Tensor scalar_f(float v) { return Tensor::from_vector<float>({}, {v}); }

// A decomposed LayerNorm of `x` (hidden size `d`) into `y`; node names start with `p`.
inline void add_layer_norm(ModelBuilder& b, const std::string& x, const std::string& y, const std::string& p, int d,
                           bool reciprocal = false) {
  b.init(p + "two", scalar_f(2.f))
      .init(p + "eps", scalar_f(1e-5f))
      .init(p + "gamma", random_tensor({d}, 11, 0.5f, 1.5f))
      .init(p + "beta", random_tensor({d}, 12, -0.5f, 0.5f))
      .node("ReduceMean", {x}, {p + "mean"}, p + "ReduceMean")
      .attr("axes", std::vector<int64_t>{-1})
      .node("Sub", {x, p + "mean"}, {p + "d"}, p + "Sub")
      .node("Pow", {p + "d", p + "two"}, {p + "d2"}, p + "Pow")
      .node("ReduceMean", {p + "d2"}, {p + "var"}, p + "ReduceMean_1")
      .attr("axes", std::vector<int64_t>{-1})
      .node("Add", {p + "var", p + "eps"}, {p + "ve"}, p + "AddEps")
      .node("Sqrt", {p + "ve"}, {p + "std"}, p + "Sqrt");
  if (reciprocal)
    b.node("Reciprocal", {p + "std"}, {p + "rstd"}, p + "Reciprocal").node("Mul", {p + "d", p + "rstd"}, {p + "n"}, p + "Norm");
  else
    b.node("Div", {p + "d", p + "std"}, {p + "n"}, p + "Norm");
  b.node("Mul", {p + "n", p + "gamma"}, {p + "g"}, p + "Gamma").node("Add", {p + "g", p + "beta"}, {y}, p + "Beta");
}

// y = x * 0.5 * (1 + Erf(x / sqrt 2)), the PyTorch export's order.
inline void add_gelu_erf(ModelBuilder& b, const std::string& x, const std::string& y, const std::string& p) {
  b.init(p + "sqrt2", scalar_f(std::sqrt(2.f)))
      .init(p + "one", scalar_f(1.f))
      .init(p + "half", scalar_f(0.5f))
      .node("Div", {x, p + "sqrt2"}, {p + "u"}, p + "Div")
      .node("Erf", {p + "u"}, {p + "e"}, p + "Erf")
      .node("Add", {p + "e", p + "one"}, {p + "e1"}, p + "Add")
      .node("Mul", {x, p + "e1"}, {p + "m"}, p + "Mul")
      .node("Mul", {p + "m", p + "half"}, {y}, p + "Mul_1");
}

// y = 0.5 * x * (1 + Tanh(sqrt(2/pi) * (x + 0.044715 * x^3))); x^3 as Pow(x, 3) or x * (x * x).
inline void add_gelu_tanh(ModelBuilder& b, const std::string& x, const std::string& y, const std::string& p,
                          bool pow_cube) {
  b.init(p + "c", scalar_f(0.044715f))
      .init(p + "k", scalar_f(std::sqrt(2.f / 3.14159265f)))
      .init(p + "one", scalar_f(1.f))
      .init(p + "half", scalar_f(0.5f));
  if (pow_cube) {
    b.init(p + "three", scalar_f(3.f)).node("Pow", {x, p + "three"}, {p + "x3"}, p + "Pow");
  } else {
    b.node("Mul", {x, x}, {p + "x2"}, p + "Sq").node("Mul", {x, p + "x2"}, {p + "x3"}, p + "Cube");
  }
  b.node("Mul", {p + "x3", p + "c"}, {p + "cx3"}, p + "MulC")
      .node("Add", {x, p + "cx3"}, {p + "in"}, p + "AddIn")
      .node("Mul", {p + "k", p + "in"}, {p + "u"}, p + "MulK")
      .node("Tanh", {p + "u"}, {p + "t"}, p + "Tanh")
      .node("Add", {p + "t", p + "one"}, {p + "t1"}, p + "Add1")
      .node("Mul", {x, p + "half"}, {p + "hx"}, p + "Half")
      .node("Mul", {p + "hx", p + "t1"}, {y}, p + "Out");
}

// y = x * Sigmoid(beta * x).
inline void add_swish(ModelBuilder& b, const std::string& x, const std::string& y, const std::string& p) {
  b.init(p + "beta", scalar_f(1.f))
      .node("Mul", {x, p + "beta"}, {p + "bx"}, p + "Beta")
      .node("Sigmoid", {p + "bx"}, {p + "s"}, p + "Sigmoid")
      .node("Mul", {x, p + "s"}, {y}, p + "Mul");
}

// y = x * Clip(x + 3, 0, 6) / 6 (`div_last`) or x * (Clip(x + 3, 0, 6) * (1/6)).
inline void add_hard_swish(ModelBuilder& b, const std::string& x, const std::string& y, const std::string& p,
                           bool div_last) {
  b.init(p + "three", scalar_f(3.f))
      .init(p + "zero", scalar_f(0.f))
      .init(p + "six", scalar_f(6.f))
      .init(p + "sixth", scalar_f(1.f / 6.f))
      .node("Add", {x, p + "three"}, {p + "a"}, p + "Add")
      .node("Clip", {p + "a", p + "zero", p + "six"}, {p + "c"}, p + "Clip");
  if (div_last)
    b.node("Mul", {x, p + "c"}, {p + "m"}, p + "Mul").node("Div", {p + "m", p + "six"}, {y}, p + "Div");
  else
    b.node("Mul", {p + "c", p + "sixth"}, {p + "m"}, p + "Sixth").node("Mul", {x, p + "m"}, {y}, p + "Mul");
}

// y = MatMul(x, W) + b with W [din, dout] (the bias Add in the PyTorch export's order).
inline void add_linear(ModelBuilder& b, const std::string& x, const std::string& y, const std::string& p, int din,
                       int dout, uint64_t seed) {
  b.init(p + "W", random_tensor({din, dout}, seed, -0.5f, 0.5f))
      .init(p + "b", random_tensor({dout}, seed + 1, -0.1f, 0.1f))
      .node("MatMul", {x, p + "W"}, {p + "mm"}, p + "MatMul")
      .node("Add", {p + "b", p + "mm"}, {y}, p + "Add");
}

// x [1,2,4,4] -> Conv -> learnable affine (Mul s, Add t) -> HardSwish (Div last) -> HardSwish
// (1/6 first) -> x * HardSigmoid(x) -> + x (residual) -> y: PP-OCRv4's convolution blocks.
inline OnnxGraph conv_affine_hard_swish() {
  ModelBuilder b;
  b.input("x", {1, 2, 4, 4})
      .init("W", random_tensor({2, 2, 1, 1}, 1, -1.f, 1.f))
      .init("s", random_tensor({1, 2, 1, 1}, 2, 0.5f, 1.5f))
      .init("t", random_tensor({1, 2, 1, 1}, 3, -0.5f, 0.5f))
      .node("Conv", {"x", "W"}, {"c"}, "conv")
      .node("Mul", {"s", "c"}, {"cs"}, "lab_Mul")
      .node("Add", {"cs", "t"}, {"ct"}, "lab_Add");
  add_hard_swish(b, "ct", "h1", "hs1_", true);
  add_hard_swish(b, "h1", "h2", "hs2_", false);
  b.node("HardSigmoid", {"h2"}, {"hg"}, "hsig").attr("alpha", 1.f / 6).node("Mul", {"h2", "hg"}, {"h3"}, "hsig_Mul");
  b.node("Add", {"h3", "x"}, {"y"}, "residual").output("y", {1, 2, 4, 4});
  OnnxGraph g = b.graph();
  g.infer_shapes();
  return g;
}

// One pre-norm encoder block on x [1, 4, 8], single head:
//   ln1 = LN(x); q, k, v = linear(ln1); s = (q * 0.35) . k^T; p = Softmax(s); o = p . v;
//   r = x + linear(o); h = GELU-Erf(linear(LN(r))); y = r + linear(h).
inline OnnxGraph encoder_block() {
  ModelBuilder b;
  b.input("x", {1, 4, 8});
  add_layer_norm(b, "x", "ln1", "ln1_", 8);
  add_linear(b, "ln1", "q", "q_", 8, 8, 21);
  add_linear(b, "ln1", "k", "k_", 8, 8, 23);
  add_linear(b, "ln1", "v", "v_", 8, 8, 25);
  b.init("scale", scalar_f(0.35f))
      .node("Mul", {"q", "scale"}, {"qs"}, "attn_Scale")
      .node("Transpose", {"k"}, {"kt"}, "attn_Transpose")
      .attr("perm", std::vector<int64_t>{0, 2, 1})
      .node("MatMul", {"qs", "kt"}, {"s"}, "attn_QK")
      .node("Softmax", {"s"}, {"p"}, "attn_Softmax")
      .attr("axis", int64_t{-1})
      .node("MatMul", {"p", "v"}, {"o"}, "attn_PV");
  add_linear(b, "o", "proj", "proj_", 8, 8, 27);
  b.node("Add", {"x", "proj"}, {"r"}, "res1");
  add_layer_norm(b, "r", "ln2", "ln2_", 8);
  add_linear(b, "ln2", "h1", "fc1_", 8, 16, 29);
  add_gelu_erf(b, "h1", "g", "gelu_");
  add_linear(b, "g", "h2", "fc2_", 16, 8, 31);
  b.node("Add", {"r", "h2"}, {"y"}, "res2").output("y", {1, 4, 8});
  OnnxGraph g = b.graph();
  g.infer_shapes();
  return g;
}

}  // namespace dpl::test
