// Pattern matching over the node graph (graph/transformer_patterns.h). Each matcher starts
// from one anchor node (Sub of a LayerNorm, Erf, Tanh, Sigmoid, Softmax, MatMul) and follows
// producers and single consumers; a tensor inside a pattern must have no reader outside it,
// so that keeping the pattern's nodes in float never changes what another node reads.
#include "graph/transformer_patterns.h"

#include <algorithm>
#include <cmath>
#include <numbers>
#include <optional>

namespace dpl {

const char* pattern_name(PatternKind k) {
  switch (k) {
    case PatternKind::LayerNorm: return "LayerNorm";
    case PatternKind::GeluErf: return "GELU (Erf)";
    case PatternKind::GeluTanh: return "GELU (tanh)";
    case PatternKind::Swish: return "Swish";
    case PatternKind::HardSwish: return "HardSwish";
    case PatternKind::Softmax: return "Softmax";
    case PatternKind::LinearBias: return "linear bias Add";
    case PatternKind::AttentionScale: return "attention scaling";
    case PatternKind::ConstOperand: return "element-wise with a constant";
  }
  return "?";
}

const char* matmul_role_name(MatMulRole r) {
  switch (r) {
    case MatMulRole::None: return "none";
    case MatMulRole::Weight: return "linear (constant weight)";
    case MatMulRole::AttentionScores: return "attention Q.K^T";
    case MatMulRole::AttentionContext: return "attention probabilities.V";
    case MatMulRole::Activations: return "MatMul of two activations";
  }
  return "?";
}

int TransformerPatterns::count(PatternKind k) const {
  return static_cast<int>(std::count_if(matches.begin(), matches.end(), [&](const PatternMatch& m) { return m.kind == k; }));
}

bool TransformerPatterns::is_transformer() const {
  if (count(PatternKind::LayerNorm) || count(PatternKind::GeluErf) || count(PatternKind::GeluTanh)) return true;
  return std::any_of(matmul.begin(), matmul.end(), [](const auto& kv) {
    return kv.second == MatMulRole::AttentionScores || kv.second == MatMulRole::AttentionContext;
  });
}

namespace {

class Matcher {
 public:
  explicit Matcher(const OnnxGraph& g) : g_(g) {}

  // The value of a one-element float initializer.
  std::optional<float> scalar(const std::string& t) const {
    if (t.empty() || !g_.is_initializer(t) || g_.value_type(t) != DType::F32) return std::nullopt;
    const onnx::TensorProto* p = g_.initializer_proto(t);
    int64_t n = 1;
    for (auto d : p->dims()) n *= d;
    if (n != 1) return std::nullopt;
    return g_.get_initializer(t).data<float>()[0];
  }
  bool scalar_near(const std::string& t, double v, double tol = 1e-3) const {
    auto s = scalar(t);
    return s && std::abs(*s - v) <= tol * std::max(1.0, std::abs(v));
  }
  bool is_const(const std::string& t) const { return g_.is_initializer(t); }

  const onnx::NodeProto& node(int i) const { return g_.node(i); }
  bool is(int i, const char* op) const { return i >= 0 && g_.node(i).op_type() == op; }
  int producer(const std::string& t) const { return t.empty() ? -1 : g_.producer(t); }
  // The single node reading `t` (and `t` no graph output), else -1.
  int sole_consumer(const std::string& t) const {
    if (g_.is_network_output(t)) return -1;
    const auto& c = g_.consumers(t);
    return c.size() == 1 ? c[0] : -1;
  }
  // For a two-input node: the input that is not `t` (empty when both are `t` or arity differs).
  std::string other(int i, const std::string& t) const {
    const auto& n = g_.node(i);
    if (n.input_size() != 2) return "";
    if (n.input(0) == t && n.input(1) != t) return n.input(1);
    if (n.input(1) == t && n.input(0) != t) return n.input(0);
    return "";
  }
  const std::string& out(int i) const { return g_.node(i).output(0); }
  const std::vector<int>& consumers(const std::string& t) const { return g_.consumers(t); }
  bool output(const std::string& t) const { return g_.is_network_output(t); }

 private:
  const OnnxGraph& g_;
};

// x * 0.5 * t, given t = 1 + f(x) (the tail of both GELU forms). Appends the nodes, returns the output.
std::optional<std::string> gelu_tail(const Matcher& m, const std::string& x, const std::string& t,
                                     std::vector<int>& nodes) {
  const int m1 = m.sole_consumer(t);
  if (!m.is(m1, "Mul")) return std::nullopt;
  const std::string o = m.other(m1, t);
  if (o.empty()) return std::nullopt;
  if (o == x || m.scalar_near(o, 0.5)) {
    const int m2 = m.sole_consumer(m.out(m1));
    if (!m.is(m2, "Mul")) return std::nullopt;
    const std::string o2 = m.other(m2, m.out(m1));
    if (o == x ? !m.scalar_near(o2, 0.5) : o2 != x) return std::nullopt;
    nodes.insert(nodes.end(), {m1, m2});
    return m.out(m2);
  }
  const int h = m.producer(o);  // o = x * 0.5
  if (!m.is(h, "Mul") || m.other(h, x).empty() || !m.scalar_near(m.other(h, x), 0.5) || m.sole_consumer(o) != m1)
    return std::nullopt;
  nodes.insert(nodes.end(), {h, m1});
  return m.out(m1);
}


// Sub(x, ReduceMean(x)) = d; Pow(d, 2) or Mul(d, d); ReduceMean; Add eps; Sqrt; Div(d, .) or
// Mul(d, Reciprocal(.)); then optionally Mul by a constant (gamma) and Add a constant (beta).
std::optional<PatternMatch> layer_norm(const Matcher& m, int s) {
  const auto& sub = m.node(s);
  if (sub.input_size() != 2) return std::nullopt;
  const std::string& x = sub.input(0);
  const int r1 = m.producer(sub.input(1));
  if (!m.is(r1, "ReduceMean") || m.node(r1).input(0) != x || m.sole_consumer(sub.input(1)) != s) return std::nullopt;
  const std::string& d = m.out(s);
  if (m.output(d) || m.consumers(d).size() != 2) return std::nullopt;
  int sq = -1, norm = -1;
  for (int c : m.consumers(d)) {
    const auto& n = m.node(c);
    if (n.input_size() != 2) return std::nullopt;
    if ((n.op_type() == "Pow" && n.input(0) == d && m.scalar_near(n.input(1), 2.0)) ||
        (n.op_type() == "Mul" && n.input(0) == d && n.input(1) == d))
      sq = c;
    else if ((n.op_type() == "Div" && n.input(0) == d) || n.op_type() == "Mul")
      norm = c;
  }
  if (sq < 0 || norm < 0) return std::nullopt;
  const int r2 = m.sole_consumer(m.out(sq));
  if (!m.is(r2, "ReduceMean")) return std::nullopt;
  const int eps = m.sole_consumer(m.out(r2));
  if (!m.is(eps, "Add") || !m.scalar(m.other(eps, m.out(r2)))) return std::nullopt;
  const int root = m.sole_consumer(m.out(eps));
  if (!m.is(root, "Sqrt")) return std::nullopt;
  std::vector<int> nodes = {r1, s, sq, r2, eps, root};
  const int after_root = m.sole_consumer(m.out(root));
  if (m.is(norm, "Div")) {
    if (after_root != norm || m.node(norm).input(1) != m.out(root)) return std::nullopt;
  } else {
    if (!m.is(after_root, "Reciprocal") || m.sole_consumer(m.out(after_root)) != norm ||
        m.other(norm, d) != m.out(after_root))
      return std::nullopt;
    nodes.push_back(after_root);
  }
  nodes.push_back(norm);
  std::string y = m.out(norm);
  for (const char* op : {"Mul", "Add"}) {  // gamma, beta
    const int a = m.sole_consumer(y);
    if (!m.is(a, op) || m.other(a, y).empty() || !m.is_const(m.other(a, y))) continue;
    nodes.push_back(a);
    y = m.out(a);
  }
  return PatternMatch{PatternKind::LayerNorm, nodes, y};
}

// Erf(x / sqrt 2) (or x * 1/sqrt 2), + 1, then the tail.
std::optional<PatternMatch> gelu_erf(const Matcher& m, int e) {
  const std::string& u = m.node(e).input(0);
  const int scale = m.producer(u);
  if (m.sole_consumer(u) != e || scale < 0 || m.node(scale).input_size() != 2) return std::nullopt;
  const auto& sn = m.node(scale);
  std::string x;
  if (sn.op_type() == "Div" && m.scalar_near(sn.input(1), std::sqrt(2.0))) x = sn.input(0);
  if (sn.op_type() == "Mul") {
    for (int k : {0, 1})
      if (m.scalar_near(sn.input(k), 1 / std::sqrt(2.0))) x = sn.input(1 - k);
  }
  if (x.empty()) return std::nullopt;
  const int one = m.sole_consumer(m.out(e));
  if (!m.is(one, "Add") || !m.scalar_near(m.other(one, m.out(e)), 1.0)) return std::nullopt;
  std::vector<int> nodes = {scale, e, one};
  auto y = gelu_tail(m, x, m.out(one), nodes);
  if (!y) return std::nullopt;
  return PatternMatch{PatternKind::GeluErf, nodes, *y};
}

// Tanh(sqrt(2/pi) * (x + 0.044715 * x^3)), + 1, then the tail; x^3 as Pow(x, 3) or x * (x * x).
std::optional<PatternMatch> gelu_tanh(const Matcher& m, int t) {
  const std::string& u = m.node(t).input(0);
  const int k = m.producer(u);
  if (!m.is(k, "Mul") || m.sole_consumer(u) != t) return std::nullopt;
  std::string inner;
  for (int j : {0, 1})
    if (m.scalar_near(m.node(k).input(j), std::sqrt(2.0 / std::numbers::pi))) inner = m.node(k).input(1 - j);
  const int add = m.producer(inner);
  if (inner.empty() || !m.is(add, "Add") || m.sole_consumer(inner) != k || m.node(add).input_size() != 2)
    return std::nullopt;
  for (int j : {0, 1}) {
    const std::string x = m.node(add).input(j), y = m.node(add).input(1 - j);
    const int c = m.producer(y);
    if (!m.is(c, "Mul") || m.sole_consumer(y) != add) continue;
    std::string cube;
    for (int i : {0, 1})
      if (m.scalar_near(m.node(c).input(i), 0.044715)) cube = m.node(c).input(1 - i);
    const int p = m.producer(cube);
    if (cube.empty() || p < 0 || m.sole_consumer(cube) != c) continue;
    std::vector<int> nodes;
    if (m.is(p, "Pow") && m.node(p).input(0) == x && m.scalar_near(m.node(p).input(1), 3.0)) {
      nodes = {p};
    } else if (m.is(p, "Mul")) {  // x * (x * x), either order
      const std::string sqt = m.other(p, x);
      const int sq = m.producer(sqt);
      if (sqt.empty() || !m.is(sq, "Mul") || m.node(sq).input(0) != x || m.node(sq).input(1) != x ||
          m.sole_consumer(sqt) != p)
        continue;
      nodes = {sq, p};
    } else {
      continue;
    }
    const int one = m.sole_consumer(m.out(t));
    if (!m.is(one, "Add") || !m.scalar_near(m.other(one, m.out(t)), 1.0)) return std::nullopt;
    nodes.insert(nodes.end(), {c, add, k, t, one});
    auto out = gelu_tail(m, x, m.out(one), nodes);
    if (!out) return std::nullopt;
    return PatternMatch{PatternKind::GeluTanh, nodes, *out};
  }
  return std::nullopt;
}

// x * Sigmoid(x) or x * Sigmoid(beta * x).
std::optional<PatternMatch> swish(const Matcher& m, int s) {
  const std::string& u = m.node(s).input(0);
  std::vector<int> nodes;
  std::string x = u;
  const int b = m.producer(u);
  if (m.is(b, "Mul") && m.sole_consumer(u) == s) {
    for (int j : {0, 1})
      if (m.scalar(m.node(b).input(j))) x = m.node(b).input(1 - j);
    if (x != u) nodes.push_back(b);
  }
  const int mul = m.sole_consumer(m.out(s));
  if (!m.is(mul, "Mul") || m.other(mul, m.out(s)) != x) return std::nullopt;
  nodes.insert(nodes.end(), {s, mul});
  return PatternMatch{PatternKind::Swish, nodes, m.out(mul)};
}

// x * Clip(x + 3, 0, 6) / 6, the division (or a Mul by 1/6) before or after the product.
std::optional<PatternMatch> hard_swish(const Matcher& m, int c) {
  const auto& clip = m.node(c);
  if (clip.input_size() != 3 || !m.scalar_near(clip.input(1), 0.0) || !m.scalar_near(clip.input(2), 6.0))
    return std::nullopt;
  const std::string& u = clip.input(0);
  const int add = m.producer(u);
  if (!m.is(add, "Add") || m.sole_consumer(u) != c) return std::nullopt;
  std::string x;
  for (int j : {0, 1})
    if (m.scalar_near(m.node(add).input(j), 3.0)) x = m.node(add).input(1 - j);
  if (x.empty()) return std::nullopt;
  auto is_sixth = [&](int i, const std::string& in) {  // Div by 6 or Mul by 1/6 of `in`
    if (m.is(i, "Div")) return m.node(i).input(0) == in && m.scalar_near(m.node(i).input(1), 6.0);
    return m.is(i, "Mul") && m.scalar_near(m.other(i, in), 1.0 / 6.0);
  };
  const int a = m.sole_consumer(m.out(c));
  if (m.is(a, "Mul") && m.other(a, m.out(c)) == x) {  // (x * clip) / 6
    const int b = m.sole_consumer(m.out(a));
    if (!is_sixth(b, m.out(a))) return std::nullopt;
    return PatternMatch{PatternKind::HardSwish, {add, c, a, b}, m.out(b)};
  }
  if (!is_sixth(a, m.out(c))) return std::nullopt;  // x * (clip / 6)
  const int b = m.sole_consumer(m.out(a));
  if (!m.is(b, "Mul") || m.other(b, m.out(a)) != x) return std::nullopt;
  return PatternMatch{PatternKind::HardSwish, {add, c, a, b}, m.out(b)};
}

// x * HardSigmoid(x).
std::optional<PatternMatch> hard_sigmoid_swish(const Matcher& m, int h) {
  const std::string& x = m.node(h).input(0);
  const int mul = m.sole_consumer(m.out(h));
  if (!m.is(mul, "Mul") || m.other(mul, m.out(h)) != x) return std::nullopt;
  return PatternMatch{PatternKind::HardSwish, {h, mul}, m.out(mul)};
}

MatMulRole matmul_role(const Matcher& m, int i) {
  const auto& n = m.node(i);
  if (n.input_size() != 2) return MatMulRole::None;
  if (m.is_const(n.input(0)) || m.is_const(n.input(1))) return MatMulRole::Weight;
  // Q.K^T: the product goes into a Softmax, directly or through one scaling/masking node.
  for (int c : m.consumers(m.out(i))) {
    if (m.is(c, "Softmax")) return MatMulRole::AttentionScores;
    const std::string& op = m.node(c).op_type();
    if (op == "Mul" || op == "Div" || op == "Add")
      for (int cc : m.consumers(m.out(c)))
        if (m.is(cc, "Softmax")) return MatMulRole::AttentionScores;
  }
  for (const auto& in : n.input())
    if (m.is(m.producer(in), "Softmax")) return MatMulRole::AttentionContext;
  return MatMulRole::Activations;
}

}  // namespace

TransformerPatterns find_transformer_patterns(const OnnxGraph& g) {
  TransformerPatterns r;
  const Matcher m(g);
  auto add = [&](std::optional<PatternMatch> pm) {
    if (!pm) return;
    for (int i : pm->nodes)
      if (r.match_of.count(i)) return;  // already in another pattern
    std::sort(pm->nodes.begin(), pm->nodes.end());
    const int id = static_cast<int>(r.matches.size());
    for (int i : pm->nodes) r.match_of[i] = id;
    r.matches.push_back(std::move(*pm));
  };
  const int n = g.node_count();
  for (int i = 0; i < n; ++i) {
    const std::string& op = g.node(i).op_type();
    if (op == "Sub") add(layer_norm(m, i));
    else if (op == "Erf") add(gelu_erf(m, i));
    else if (op == "Tanh") add(gelu_tanh(m, i));
    else if (op == "Sigmoid") add(swish(m, i));
    else if (op == "Clip") add(hard_swish(m, i));
    else if (op == "HardSigmoid") add(hard_sigmoid_swish(m, i));
    else if (op == "Softmax") add(PatternMatch{PatternKind::Softmax, {i}, m.out(i)});
  }
  for (int i = 0; i < n; ++i)
    if (g.node(i).op_type() == "MatMul") r.matmul[i] = matmul_role(m, i);
  for (const auto& [i, role] : r.matmul) {
    const std::string& y = m.out(i);
    if (role == MatMulRole::Weight) {
      const int a = m.sole_consumer(y);
      if (m.is(a, "Add") && m.is_const(m.other(a, y))) add(PatternMatch{PatternKind::LinearBias, {a}, m.out(a)});
    }
    if (role != MatMulRole::AttentionScores) continue;
    // The 1/sqrt(d) scaling of Q or K before the product, or of the scores before the Softmax.
    for (const auto& in : g.node(i).input()) {
      const int p = m.producer(in);
      if ((m.is(p, "Mul") || m.is(p, "Div")) && m.sole_consumer(in) == i && m.node(p).input_size() == 2 &&
          m.scalar(m.node(p).input(1)))
        add(PatternMatch{PatternKind::AttentionScale, {p}, in});
      else if (m.is(p, "Mul") && m.sole_consumer(in) == i && m.node(p).input_size() == 2 &&
               m.scalar(m.node(p).input(0)))
        add(PatternMatch{PatternKind::AttentionScale, {p}, in});
    }
    const int c = m.sole_consumer(y);
    if ((m.is(c, "Mul") || m.is(c, "Div")) && m.scalar(m.node(c).input(1)) && m.is(m.sole_consumer(m.out(c)), "Softmax"))
      add(PatternMatch{PatternKind::AttentionScale, {c}, m.out(c)});
  }
  // Last, what no pattern above took: an element-wise op of an activation and a constant.
  for (int i = 0; i < n; ++i) {
    const auto& nd = g.node(i);
    const std::string& op = nd.op_type();
    if ((op != "Add" && op != "Sub" && op != "Mul" && op != "Div") || nd.input_size() != 2) continue;
    if (m.is_const(nd.input(0)) != m.is_const(nd.input(1)))
      add(PatternMatch{PatternKind::ConstOperand, {i}, m.out(i)});
  }
  return r;
}

}  // namespace dpl
