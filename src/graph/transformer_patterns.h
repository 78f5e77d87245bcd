// The transformer building blocks of a graph written in standard operators, recognised the
// way ONNX Runtime's transformer fusion passes do (a decomposed LayerNorm, GELU in its Erf and
// tanh forms, Swish, HardSwish, Softmax, the bias Add of a linear layer, the attention
// scaling, element-wise ops with a constant operand), and the
// role of every MatMul (a constant weight, or two activations: Q.K^T, attention.V).
// The transformer QDQ placement (--optim_transformer, docs/transformers.md) reads it to keep
// the element-wise nodes inside these patterns in float and to say which pattern each
// quantized node matched.
#pragma once
#include <string>
#include <unordered_map>
#include <vector>

#include "graph/onnx_graph.h"

namespace dpl {

enum class PatternKind {
  LayerNorm,       // ReduceMean, Sub, Pow (or Mul d*d), ReduceMean, Add eps, Sqrt, Div (or Reciprocal + Mul),
                   // then optionally Mul gamma, Add beta
  GeluErf,         // x * 0.5 * (1 + Erf(x / sqrt 2)), any order of the two Muls
  GeluTanh,        // x * 0.5 * (1 + Tanh(sqrt(2/pi) * (x + 0.044715 x^3)))
  Swish,           // x * Sigmoid(x), or x * Sigmoid(beta * x)
  HardSwish,       // x * Clip(x + 3, 0, 6) / 6 (the Div or a Mul by 1/6 before or after the product), or
                   // x * HardSigmoid(x)
  Softmax,         // the Softmax node
  LinearBias,      // the Add of a constant to the output of a MatMul with a constant weight
  AttentionScale,  // a Mul or Div by a constant scalar whose result feeds a Q.K^T MatMul
  ConstOperand,    // any other Add, Sub, Mul or Div of an activation and a constant (a scale or bias the
                   // back end folds into its producer: PP-OCR's learnable affine blocks)
};
const char* pattern_name(PatternKind k);

// What a MatMul multiplies.
enum class MatMulRole {
  None,              // not a MatMul
  Weight,            // activation x constant weight (a linear layer)
  AttentionScores,   // two activations, the product feeds a Softmax (Q.K^T)
  AttentionContext,  // two activations, one of them a Softmax output (attention.V)
  Activations,       // two activations otherwise
};
const char* matmul_role_name(MatMulRole r);

struct PatternMatch {
  PatternKind kind;
  std::vector<int> nodes;  // node indices, in graph order
  std::string output;      // the tensor the pattern produces
};

struct TransformerPatterns {
  std::vector<PatternMatch> matches;
  std::unordered_map<int, int> match_of;       // node index -> index in `matches`
  std::unordered_map<int, MatMulRole> matmul;  // MatMul node index -> its role
  // Whether node `i` lies inside a pattern (kept in float by the transformer placement).
  bool inside(int i) const { return match_of.count(i) != 0; }
  int count(PatternKind k) const;
  // LayerNorm, GELU or attention (a MatMul of two activations): the graph is a transformer.
  bool is_transformer() const;
};

// `g` must be topologically sorted with its maps up to date; constants must be initializers
// (the loaded, prepared model). A node belongs to at most one pattern (the first found).
TransformerPatterns find_transformer_patterns(const OnnxGraph& g);

}  // namespace dpl
