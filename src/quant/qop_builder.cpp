#include "quant/qop_builder.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <optional>
#include <set>
#include <unordered_map>

#include "graph/tensor_proto.h"
#include "quant/qop_tensors.h"
#include "util/error.h"
#include "graph/node_attrs.h"

namespace dpl {

namespace {

constexpr DType kAnyType = DType::Undefined;

Tensor transpose_2d(const Tensor& w) {
  const int64_t r = w.dim(0), c = w.dim(1);
  Tensor t(DType::F32, {c, r});
  const float* s = w.data<float>();
  float* d = t.data<float>();
  for (int64_t i = 0; i < r; ++i)
    for (int64_t j = 0; j < c; ++j) d[j * r + i] = s[i * c + j];
  return t;
}

// One integer version of a tensor; p.zp_type is its element type.
struct QVal {
  std::string name, scale, zp;
  QuantParams p;
  std::string dq;  // its DequantizeLinear output, once made
};

// A tensor of the FP graph in the new graph.
struct Val {
  bool raw = false;        // exists as float under its own name (graph input, initializer, float op output)
  std::string float_name;  // dequantized version named after it, when not raw
  std::vector<QVal> q;     // integer versions; q[0] is what an integer producer made
};

// A quantized initializer (weight).
struct WeightQ {
  std::string name, scale, zp;
  QuantParams p;
  int axis = -1;
};

// The parameters of a QLinear op's output, and the Relu/Clip it absorbs (-1: none).
struct OutPlan {
  QuantParams p;
  int fold = -1;
};

class QopBuilder {
 public:
  QopBuilder(const OnnxGraph& fp, const QdqModel& qdq, const Platform& platform, const ActRanges& act,
             const QdqOptions& opts, QopModel& out)
      : g_(fp.copy()), qdq_(qdq), platform_(platform), act_(act), opts_(opts), out_(out) {}

  void run() {
    g_.topologize();
    index_qdq();
    reserve_names();
    for (const auto& t : g_.network_inputs()) vals_[t].raw = true;
    for (const auto& init : g_.graph().initializer()) vals_[init.name()].raw = true;

    const int n = g_.node_count();
    for (int i = 0; i < n; ++i) {
      const onnx::NodeProto& node = g_.node(i);
      const std::string& op = node.op_type();
      if (auto f = fold_into_.find(i); f != fold_into_.end()) {
        QVal q = vals_.at(f->second).q.at(0);
        q.dq.clear();
        vals_[node.output(0)].q.push_back(q);
        out_.folded_nodes.push_back(node.name());
        continue;
      }
      bool done = false;
      if (op == "Conv") done = qlinear_conv(i);
      else if (op == "Gemm") done = qlinear_gemm(i);
      else if (op == "MatMul") done = qlinear_matmul(i);
      else if (op == "MaxPool" || op == "Reshape" || op == "Transpose" || op == "Flatten") done = integer_passthrough(i);
      else if (op == "Concat") done = integer_concat(i);
      if (!done) float_node(i);
    }
    for (const auto& o : g_.graph().output()) fp_outputs_[o.name()] = o;
    finish_outputs();
    assemble();
  }

 private:
  // ---- the QDQ model's decisions ----

  void index_qdq() {
    for (const auto& p : qdq_.pairs) pair_by_tensor_[p.tensor] = &p;
    quantized_nodes_.insert(qdq_.quant_nodes.begin(), qdq_.quant_nodes.end());
    const int n = g_.node_count();
    input_pairs_.resize(n);
    for (int i = 0; i < n; ++i) {
      const onnx::NodeProto& node = g_.node(i);
      DPL_CHECK(qdq_.graph.has_node(node.name()), "the QDQ model has no node '{}': it was not built from this model",
                node.name());
      const onnx::NodeProto& qn = qdq_.graph.node(qdq_.graph.node_index(node.name()));
      DPL_CHECK(qn.input_size() == node.input_size(), "node '{}' has {} inputs in the QDQ model, {} in the model",
                node.name(), qn.input_size(), node.input_size());
      input_pairs_[i].assign(node.input_size(), nullptr);
      for (int k = 0; k < node.input_size(); ++k) {
        const std::string& s = qn.input(k);
        if (s.size() <= 3 || s.compare(s.size() - 3, 3, "_dq") != 0) continue;
        const std::string base = s.substr(0, s.size() - 3);
        auto it = pair_by_tensor_.find(base);
        if (it != pair_by_tensor_.end() && base == node.input(k)) input_pairs_[i][k] = it->second;
      }
    }
  }

  const QdqPair* input_pair(int node, int k) const { return input_pairs_[node][k]; }

  // Parameters a tensor gets in the integer domain: the QDQ model's, else from its range.
  std::optional<QuantParams> target_params(const std::string& t) const {
    if (auto it = pair_by_tensor_.find(t); it != pair_by_tensor_.end()) return it->second->params;
    auto r = act_.find(t);
    if (r == act_.end()) return std::nullopt;
    try {
      return quant_params(platform_.act, r->second);
    } catch (const Error&) {
      return std::nullopt;
    }
  }

  // Q(clip(y)) == Q(y) for every y when clip's bounds quantize to the ends of p's type
  // (QuantizeLinear is monotone and saturates there).
  bool clamp_is_saturation(const onnx::NodeProto& r, const QuantParams& p) const {
    double lo = -std::numeric_limits<double>::infinity(), hi = std::numeric_limits<double>::infinity();
    if (r.op_type() == "Relu") {
      lo = 0;
    } else {
      for (int k = 1; k <= 2 && k < r.input_size(); ++k) {
        const std::string& b = r.input(k);
        if (b.empty()) continue;
        if (!g_.is_initializer(b)) return false;
        Tensor v = g_.get_initializer(b);
        if (v.numel() != 1) return false;
        (k == 1 ? lo : hi) = v.at_f64(0);
      }
    }
    const auto [tmin, tmax] = representable_codes(p);
    auto code = [&](double x) {
      if (std::isinf(x)) return x;
      return std::nearbyint(static_cast<double>(static_cast<float>(x) / p.scale[0])) + p.zero_point[0];
    };
    return code(lo) <= tmin && code(hi) >= tmax;
  }

  static std::pair<double, double> representable_codes(const QuantParams& p) {
    return p.zp_type == DType::I8 ? std::pair<double, double>{-128, 127} : std::pair<double, double>{0, 255};
  }

  std::optional<OutPlan> output_plan(const std::string& y) const {
    if (auto it = pair_by_tensor_.find(y); it != pair_by_tensor_.end()) return OutPlan{it->second->params, -1};
    const auto& cons = g_.consumers(y);
    if (cons.size() == 1 && !g_.is_network_output(y)) {
      const onnx::NodeProto& r = g_.node(cons[0]);
      if ((r.op_type() == "Relu" || r.op_type() == "Clip") && r.input(0) == y && r.output_size() == 1 &&
          !opts_.skip_layers.count(r.name())) {
        if (auto p = target_params(r.output(0))) {
          OutPlan plan{*p, -1};
          if (clamp_is_saturation(r, *p)) plan.fold = cons[0];
          return plan;
        }
      }
    }
    if (auto p = target_params(y)) return OutPlan{*p, -1};
    return std::nullopt;
  }

  // True when every use of y in the QDQ model sees it on p's grid: each consumer quantizes it
  // with those parameters, or is a Relu/Clip whose output is used so in turn (a clamp commutes
  // with the rounding), and it is a graph output only where the platform quantizes outputs.
  // Only then does an integer op that rounds y to p compute what the QDQ model computes;
  // elsewhere `why` names the use that needs the float value.
  bool integer_only(const std::string& y, const QuantParams& p, std::string& why) const {
    if (g_.is_network_output(y)) {
      auto it = qdq_.outputs.find(y);
      auto pr = pair_by_tensor_.find(y);
      if (it == qdq_.outputs.end() || it->second == y || pr == pair_by_tensor_.end() ||
          !same_grid(pr->second->params, p)) {
        why = "it is a graph output in float";
        return false;
      }
    }
    std::set<int> seen;
    for (int c : g_.consumers(y)) {
      if (!seen.insert(c).second) continue;
      const onnx::NodeProto& cn = g_.node(c);
      for (int k = 0; k < cn.input_size(); ++k) {
        if (cn.input(k) != y) continue;
        if (const QdqPair* q = input_pair(c, k)) {
          if (same_grid(q->params, p)) continue;
          why = fmt::format("{} '{}' quantizes it with other parameters", cn.op_type(), cn.name());
          return false;
        }
        if ((cn.op_type() == "Relu" || cn.op_type() == "Clip") && k == 0 && !opts_.skip_layers.count(cn.name())) {
          auto pr = target_params(cn.output(0));
          if (pr && same_grid(*pr, p) && integer_only(cn.output(0), p, why)) continue;
          if (!why.empty()) return false;
        }
        why = fmt::format("{} '{}' takes it unquantized", cn.op_type(), cn.name());
        return false;
      }
    }
    return true;
  }

  // ---- names and emitted pieces ----

  void reserve_names() {
    const auto& gp = g_.graph();
    for (const auto& v : gp.input()) names_.insert(v.name());
    for (const auto& v : gp.output()) names_.insert(v.name());
    for (const auto& v : gp.value_info()) names_.insert(v.name());
    for (const auto& v : gp.initializer()) names_.insert(v.name());
    for (const auto& n : gp.node()) {
      node_names_.insert(n.name());
      for (const auto& s : n.input()) names_.insert(s);
      for (const auto& s : n.output()) names_.insert(s);
    }
    for (const auto& [t, name] : qdq_.outputs) names_.insert(name);
  }

  std::string fresh(const std::string& base) {
    std::string name = base;
    for (int k = 1; names_.count(name); ++k) name = base + "_" + std::to_string(k);
    names_.insert(name);
    return name;
  }

  onnx::NodeProto& emit(const std::string& op, const std::string& name_base, const std::vector<std::string>& ins,
                        const std::vector<std::string>& outs) {
    onnx::NodeProto* n = nodes_.Add();
    n->set_op_type(op);
    std::string name = name_base;
    for (int k = 1; node_names_.count(name); ++k) name = name_base + "_" + std::to_string(k);
    node_names_.insert(name);
    n->set_name(name);
    for (const auto& s : ins) n->add_input(s);
    for (const auto& s : outs) n->add_output(s);
    return *n;
  }

  std::string add_init(const std::string& base, const Tensor& t) {
    const std::string name = fresh(base);
    inits_.push_back(tensor_to_proto(t, name));
    return name;
  }

  // A new integer version of `t` with parameters p (p.zp_type is its type).
  QVal new_qval(const std::string& t, const std::string& base, const QuantParams& p) {
    QVal q;
    q.p = p;
    q.scale = add_init(t + "_scale", scale_tensor(p));
    q.zp = add_init(t + "_zero_point", zero_point_tensor(p));
    q.name = fresh(base);
    types_[q.name] = {p.zp_type, t};
    return q;
  }

  // ---- values ----

  std::string float_of(const std::string& t) {
    Val& v = vals_[t];
    if (v.raw) return t;
    if (!v.float_name.empty()) return v.float_name;
    DPL_CHECK(!v.q.empty(), "QOP model: tensor '{}' is used before anything produces it", t);
    return dq_of(t, 0);
  }

  std::string dq_of(const std::string& t, size_t qi) {
    Val& v = vals_[t];
    if (!v.q[qi].dq.empty()) return v.q[qi].dq;
    std::string name;
    if (!v.raw && v.float_name.empty()) {
      name = t;  // the float version of an integer-produced tensor keeps the tensor's name
      v.float_name = t;
    } else {
      name = fresh(t + "_dequantized");
    }
    const QVal& q = v.q[qi];
    emit("DequantizeLinear", t + "_DequantizeLinear", {q.name, q.scale, q.zp}, {name});
    v.q[qi].dq = name;
    types_[name] = {DType::F32, t};
    return name;
  }

  // Index (in vals_[t].q) of an integer version of t on p's grid, of type `want` unless
  // kAnyType; quantizes the float version when there is none.
  size_t quant_of(const std::string& t, const QuantParams& p, DType want) {
    {
      const Val& v = vals_[t];
      for (size_t i = 0; i < v.q.size(); ++i)
        if (same_grid(v.q[i].p, p) && (want == kAnyType || v.q[i].p.zp_type == want)) return i;
    }
    const std::string src = float_of(t);
    QVal q = new_qval(t, t + "_quantized", as_type(p, want == kAnyType ? p.zp_type : want));
    emit("QuantizeLinear", t + "_QuantizeLinear", {src, q.scale, q.zp}, {q.name});
    Val& v = vals_[t];
    v.q.push_back(q);
    return v.q.size() - 1;
  }

  const WeightQ& weight_q(const std::string& w, const QdqPair& pw, bool transpose) {
    const std::string key = w + (transpose ? "\x01T" : "");
    if (auto it = weights_.find(key); it != weights_.end()) return it->second;
    Tensor t = g_.get_initializer(w);
    WeightQ q;
    q.p = pw.params;
    q.axis = pw.params.per_channel() ? pw.axis : -1;
    if (transpose) {
      t = transpose_2d(t);
      if (q.axis >= 0) q.axis = 1 - q.axis;
    }
    q.name = add_init(w + (transpose ? "_transposed" : "") + "_quantized", quantize_linear(t, q.p, q.axis));
    q.scale = add_init(w + "_scale", scale_tensor(q.p));
    q.zp = add_init(w + "_zero_point", zero_point_tensor(q.p));
    types_[q.name] = {q.p.zp_type, ""};
    return weights_.emplace(key, q).first->second;
  }

  // The dequantized weight for a float op (what the QDQ model's weight pair computes).
  std::string weight_dq(const std::string& w, const QdqPair& pw) {
    if (auto it = weight_dq_.find(w); it != weight_dq_.end()) return it->second;
    const WeightQ& q = weight_q(w, pw, false);
    const std::string name = fresh(w + "_dequantized");
    onnx::NodeProto& n = emit("DequantizeLinear", w + "_DequantizeLinear", {q.name, q.scale, q.zp}, {name});
    if (q.axis >= 0) {
      auto* a = n.add_attribute();
      a->set_name("axis");
      a->set_type(onnx::AttributeProto::INT);
      a->set_i(q.axis);
    }
    types_[name] = {DType::F32, w};
    return weight_dq_[w] = name;
  }

  bool not_converted(const onnx::NodeProto& n, const std::string& why) {
    out_.float_nodes.emplace_back(n.name(), why);
    return false;
  }

  // Registers y's integer version made by node `name` and the Relu/Clip it absorbs.
  void integer_output(const std::string& y, const QVal& q, const OutPlan& plan, const std::string& name) {
    vals_[y].q.push_back(q);
    if (plan.fold >= 0) fold_into_[plan.fold] = y;
    out_.qlinear_nodes.push_back(name);
  }

  // ---- operators ----

  bool qlinear_conv(int i) {
    const onnx::NodeProto& n = g_.node(i);
    if (!quantized_nodes_.count(n.name())) return false;
    const QdqPair* px = input_pair(i, 0);
    const QdqPair* pw = n.input_size() > 1 ? input_pair(i, 1) : nullptr;
    if (!px || px->weight) return not_converted(n, "its input is not quantized in the QDQ model");
    if (!pw || !pw->weight) return not_converted(n, "its weight is not quantized in the QDQ model");
    const bool has_bias = n.input_size() > 2 && !n.input(2).empty();
    if (has_bias && (!g_.is_initializer(n.input(2)) || g_.value_type(n.input(2)) != DType::F32))
      return not_converted(n, "its bias is not a float initializer");
    const QuantParams& wp = pw->params;
    if (std::adjacent_find(wp.zero_point.begin(), wp.zero_point.end(), std::not_equal_to<>()) != wp.zero_point.end())
      return not_converted(n, "its per-channel weight zero points differ (ONNX Runtime's QLinearConv takes one)");
    const std::string& y = n.output(0);
    auto plan = output_plan(y);
    if (!plan) return not_converted(n, "its output has no activation range");
    if (std::string why; !integer_only(y, plan->p, why))
      return not_converted(n, "the QDQ model uses its output in float (" + why + ")");
    const int64_t M = g_.initializer_proto(n.input(1))->dims(0);
    if (has_bias && shape_numel(*g_.tensor_shape(n.input(2))) != M)
      return not_converted(n, "its bias does not have one value per output channel");

    // ONNX Runtime: uint8 weights need uint8 input; the output type is the input's.
    const size_t xi = quant_of(n.input(0), px->params, wp.zp_type == DType::U8 ? DType::U8 : kAnyType);
    const QVal x = vals_[n.input(0)].q[xi];
    const WeightQ w = weight_q(n.input(1), *pw, false);
    QVal yq = new_qval(y, y + "_quantized", as_type(plan->p, x.p.zp_type));
    std::vector<std::string> ins{x.name, x.scale, x.zp, w.name, w.scale, w.zp, yq.scale, yq.zp};
    if (has_bias) {
      int64_t clamped = 0;
      Tensor b = quantize_bias(g_.get_initializer(n.input(2)), x.p.scale[0], w.p.scale, clamped);
      if (clamped)
        warn(fmt::format("QLinearConv '{}': {} bias values exceed int32 at scale x_scale * w_scale and were clamped",
                         n.name(), clamped));
      ins.push_back(add_init(n.input(2) + "_quantized", b));
    }
    onnx::NodeProto& q = *nodes_.Add();
    q = n;
    q.set_op_type("QLinearConv");
    q.set_domain("");
    q.clear_input();
    for (const auto& s : ins) q.add_input(s);
    q.set_output(0, yq.name);
    integer_output(y, yq, *plan, n.name());
    return true;
  }

  bool qlinear_gemm(int i) {
    const onnx::NodeProto& n = g_.node(i);
    if (!quantized_nodes_.count(n.name())) return false;
    const QdqPair* pa = input_pair(i, 0);
    const QdqPair* pw = n.input_size() > 1 ? input_pair(i, 1) : nullptr;
    if (attr_int(n, "transA", 0) != 0) return not_converted(n, "transA = 1");
    if (!pa || pa->weight) return not_converted(n, "its input A is not quantized in the QDQ model");
    if (!pw || !pw->weight || g_.initializer_proto(n.input(1))->dims_size() != 2)
      return not_converted(n, "its weight B is not a quantized 2-D initializer");
    const bool has_c = n.input_size() > 2 && !n.input(2).empty();
    if (has_c && (!g_.is_initializer(n.input(2)) || g_.value_type(n.input(2)) != DType::F32))
      return not_converted(n, "its bias C is not a float initializer");
    const float alpha = attr_float(n, "alpha", 1.f), beta = attr_float(n, "beta", 1.f);
    const std::string& y = n.output(0);

    // The product's parameters: with a bias, the output range moved by the bias' extremes
    // (A * B = Y - beta * C lies within [lo - max, hi - min]).
    std::optional<OutPlan> plan;
    Tensor c;
    if (has_c) {
      // The product is rounded once more than in the QDQ model: only where the QDQ model
      // rounds the Gemm's output anyway (all its uses quantized on one grid).
      auto out_plan = output_plan(y);
      auto r = act_.find(y);
      if (!out_plan || r == act_.end()) return not_converted(n, "its output has no activation range");
      if (std::string why; !integer_only(y, out_plan->p, why))
        return not_converted(n, "the QDQ model uses its output in float (" + why + ")");
      c = g_.get_initializer(n.input(2)).clone();
      float* cd = c.data<float>();
      for (int64_t k = 0; k < c.numel(); ++k) cd[k] *= beta;
      const auto [cmin, cmax] = std::minmax_element(cd, cd + c.numel());
      Range pr{r->second.lo - (c.numel() ? *cmax : 0.f), r->second.hi - (c.numel() ? *cmin : 0.f)};
      try {
        plan = OutPlan{quant_params(platform_.act, pr), -1};
      } catch (const Error&) {
        return not_converted(n, "its output range is unusable");
      }
    } else {
      plan = output_plan(y);
      if (!plan) return not_converted(n, "its output has no activation range");
      if (std::string why; !integer_only(y, plan->p, why))
        return not_converted(n, "the QDQ model uses its output in float (" + why + ")");
    }

    const size_t ai = quant_of(n.input(0), pa->params, pw->params.zp_type == DType::U8 ? DType::U8 : kAnyType);
    const QVal a = vals_[n.input(0)].q[ai];
    const WeightQ w = weight_q(n.input(1), *pw, attr_int(n, "transB", 0) != 0);
    std::string b_scale = w.scale;
    if (alpha != 1.f) {
      QuantParams sp = w.p;
      for (auto& s : sp.scale) s *= alpha;
      b_scale = add_init(n.input(1) + "_scale_alpha", scale_tensor(sp));
    }
    const std::string prod = has_c ? y + "_matmul" : y;
    QVal yq = new_qval(prod, prod + "_quantized", as_type(plan->p, a.p.zp_type));
    if (has_c) types_[yq.name].second = y;
    node_names_.erase(n.name());  // the new node takes the FP node's name
    emit("QLinearMatMul", n.name(), {a.name, a.scale, a.zp, w.name, b_scale, w.zp, yq.scale, yq.zp}, {yq.name});
    if (!has_c) {
      integer_output(y, yq, *plan, n.name());
      return true;
    }
    // The bias is added in float after the product.
    const std::string pf = fresh(prod);
    emit("DequantizeLinear", prod + "_DequantizeLinear", {yq.name, yq.scale, yq.zp}, {pf});
    types_[pf] = {DType::F32, y};
    const std::string cname = beta == 1.f ? n.input(2) : add_init(n.input(2) + "_beta", c);
    emit("Add", n.name() + "_bias", {pf, cname}, {y});
    vals_[y].raw = true;
    out_.qlinear_nodes.push_back(n.name());
    return true;
  }

  bool qlinear_matmul(int i) {
    const onnx::NodeProto& n = g_.node(i);
    if (!quantized_nodes_.count(n.name())) return false;
    const QdqPair* pa = input_pair(i, 0);
    const QdqPair* pb = input_pair(i, 1);
    if (!pa || pa->weight) return not_converted(n, "its input A is not quantized in the QDQ model");
    if (!pb) return not_converted(n, "its input B is not quantized in the QDQ model");
    const std::string& bt = n.input(1);
    const bool b_const = g_.is_initializer(bt);
    if (b_const && pb->params.per_channel() && g_.initializer_proto(bt)->dims_size() != 2)
      return not_converted(n, "per-column scales of a B that is not 2-D (ONNX Runtime takes 1-D ones for 2-D B only)");
    const std::string& y = n.output(0);
    auto plan = output_plan(y);
    if (!plan) return not_converted(n, "its output has no activation range");
    if (std::string why; !integer_only(y, plan->p, why))
      return not_converted(n, "the QDQ model uses its output in float (" + why + ")");

    const DType want_a = b_const && pb->params.zp_type == DType::U8 ? DType::U8 : kAnyType;
    const size_t ai = quant_of(n.input(0), pa->params, want_a);
    const QVal a = vals_[n.input(0)].q[ai];
    std::string b_name, b_scale, b_zp;
    if (b_const) {
      const WeightQ w = weight_q(bt, *pb, false);
      b_name = w.name, b_scale = w.scale, b_zp = w.zp;
    } else {
      // ONNX Runtime: int8 A needs int8 B.
      const size_t bi = quant_of(bt, pb->params, a.p.zp_type == DType::I8 ? DType::I8 : kAnyType);
      const QVal b = vals_[bt].q[bi];
      b_name = b.name, b_scale = b.scale, b_zp = b.zp;
    }
    QVal yq = new_qval(y, y + "_quantized", as_type(plan->p, a.p.zp_type));
    node_names_.erase(n.name());
    emit("QLinearMatMul", n.name(), {a.name, a.scale, a.zp, b_name, b_scale, b_zp, yq.scale, yq.zp}, {yq.name});
    integer_output(y, yq, *plan, n.name());
    return true;
  }

  // MaxPool/Reshape/Transpose/Flatten move or select values: on integers when the input is
  // integer already or quantized by the QDQ model; the output keeps the input's grid.
  bool integer_passthrough(int i) {
    const onnx::NodeProto& n = g_.node(i);
    if (n.output_size() != 1 || n.input_size() < 1) return false;
    const std::string& t = n.input(0);
    const QdqPair* p = input_pair(i, 0);
    size_t qi = 0;
    if (p && !p->weight) {
      qi = quant_of(t, p->params, kAnyType);
    } else {
      const Val& v = vals_[t];
      if (v.raw || v.q.empty()) return false;
    }
    QVal q = vals_[t].q[qi];
    onnx::NodeProto nn = n;
    nn.set_input(0, q.name);
    for (int k = 1; k < n.input_size(); ++k)
      if (!n.input(k).empty()) nn.set_input(k, float_input(i, k));
    emit_on_integers(nn, q);
    return true;
  }

  // Adds `nn` (inputs already integer) with its output an integer tensor on `grid`'s
  // parameters (its scale and zero point initializers shared).
  void emit_on_integers(onnx::NodeProto nn, QVal grid) {
    const std::string o = nn.output(0);
    grid.name = fresh(o + "_quantized");
    grid.dq.clear();
    types_[grid.name] = {grid.p.zp_type, o};
    nn.set_output(0, grid.name);
    *nodes_.Add() = nn;
    vals_[o].q.push_back(grid);
    out_.integer_nodes.push_back(nn.name());
  }

  // Concat on integers when every input has one grid, all the same.
  bool integer_concat(int i) {
    const onnx::NodeProto& n = g_.node(i);
    if (n.input_size() == 0 || n.output_size() != 1) return false;
    std::vector<QuantParams> ps;
    for (int k = 0; k < n.input_size(); ++k) {
      const QdqPair* p = input_pair(i, k);
      const Val& v = vals_[n.input(k)];
      if (p && !p->weight) ps.push_back(p->params);
      else if (!v.raw && !v.q.empty()) ps.push_back(v.q[0].p);
      else return false;
      if (!same_grid(ps[0], ps.back())) return false;
    }
    const size_t q0 = quant_of(n.input(0), ps[0], kAnyType);
    QVal out = vals_[n.input(0)].q[q0];
    onnx::NodeProto nn = n;
    nn.set_input(0, out.name);
    for (int k = 1; k < n.input_size(); ++k) {
      const size_t qk = quant_of(n.input(k), ps[k], out.p.zp_type);
      nn.set_input(k, vals_[n.input(k)].q[qk].name);
    }
    emit_on_integers(nn, out);
    return true;
  }

  // Input k of a float op: as the QDQ model feeds it.
  std::string float_input(int i, int k) {
    const std::string& t = g_.node(i).input(k);
    const QdqPair* p = input_pair(i, k);
    if (p && p->weight) return weight_dq(t, *p);
    if (p) return dq_of(t, quant_of(t, p->params, kAnyType));
    return float_of(t);
  }

  void float_node(int i) {
    onnx::NodeProto nn = g_.node(i);
    for (int k = 0; k < nn.input_size(); ++k)
      if (!nn.input(k).empty()) nn.set_input(k, float_input(i, k));
    for (const auto& o : nn.output())
      if (!o.empty()) vals_[o].raw = true;
    *nodes_.Add() = nn;
  }

  // Graph outputs under the QDQ model's names: dequantized (after the platform's output
  // quantization where it has one).
  void finish_outputs() {
    auto& gp = g_.graph();
    for (int j = 0; j < gp.output_size(); ++j) {
      const std::string t = gp.output(j).name();
      auto it = qdq_.outputs.find(t);
      const std::string name = it == qdq_.outputs.end() ? t : it->second;
      if (name != t) {
        const QdqPair* p = pair_by_tensor_.at(t);
        const size_t qi = quant_of(t, p->params, kAnyType);
        const QVal& q = vals_[t].q[qi];
        emit("DequantizeLinear", t + "_output_DequantizeLinear", {q.name, q.scale, q.zp}, {name});
        types_[name] = {DType::F32, t};
      } else {
        const std::string f = float_of(t);
        DPL_CHECK(f == t, "QOP model: graph output '{}' became '{}'", t, f);
      }
      gp.mutable_output(j)->set_name(name);
      gp.mutable_output(j)->mutable_type()->mutable_tensor_type()->set_elem_type(static_cast<int>(DType::F32));
      out_.outputs[t] = name;
    }
  }

  void assemble() {
    auto& gp = g_.graph();
    // Declared types of the tensors that keep their FP meaning, before the node list changes.
    std::unordered_map<std::string, onnx::ValueInfoProto> old_vi = fp_outputs_;  // renamed outputs stay tensors
    for (const auto& v : gp.value_info()) old_vi[v.name()] = v;
    gp.mutable_node()->Swap(&nodes_);
    for (auto& init : inits_) *gp.add_initializer() = std::move(init);

    // Float initializers the integer ops replaced are dropped.
    std::set<std::string> used;
    for (const auto& n : gp.node())
      for (const auto& s : n.input()) used.insert(s);
    for (const auto& o : gp.output()) used.insert(o.name());
    auto* inits = gp.mutable_initializer();
    std::set<std::string> dropped;
    for (int k = inits->size() - 1; k >= 0; --k)
      if (!used.count(inits->Get(k).name())) {
        dropped.insert(inits->Get(k).name());
        inits->DeleteSubrange(k, 1);
      }
    // An initializer also listed as a graph input (older IR) goes from the inputs too, or
    // it would become an input to feed.
    auto* ins = gp.mutable_input();
    for (int k = ins->size() - 1; k >= 0; --k)
      if (dropped.count(ins->Get(k).name())) ins->DeleteSubrange(k, 1);

    std::set<std::string> io;
    for (const auto& v : gp.input()) io.insert(v.name());
    for (const auto& v : gp.output()) io.insert(v.name());
    gp.clear_value_info();
    for (const auto& n : gp.node())
      for (const auto& o : n.output()) {
        if (o.empty() || io.count(o)) continue;
        auto t = types_.find(o);
        if (t == types_.end()) {
          if (auto v = old_vi.find(o); v != old_vi.end()) *gp.add_value_info() = v->second;
          continue;
        }
        onnx::ValueInfoProto* v = gp.add_value_info();
        v->set_name(o);
        auto* tt = v->mutable_type()->mutable_tensor_type();
        tt->set_elem_type(static_cast<int>(t->second.first));
        if (auto it = old_vi.find(t->second.second); it != old_vi.end() && it->second.type().has_tensor_type() &&
                                                       it->second.type().tensor_type().has_shape())
          *tt->mutable_shape() = it->second.type().tensor_type().shape();
      }
    g_.update_maps();
    g_.topologize();
    out_.graph = std::move(g_);
  }

  void warn(const std::string& w) {
    out_.warnings.push_back(w);
    spdlog::warn("{}", w);
  }

  OnnxGraph g_;
  const QdqModel& qdq_;
  const Platform& platform_;
  const ActRanges& act_;
  const QdqOptions& opts_;
  QopModel& out_;

  std::unordered_map<std::string, const QdqPair*> pair_by_tensor_;
  std::set<std::string> quantized_nodes_;
  std::vector<std::vector<const QdqPair*>> input_pairs_;
  std::unordered_map<std::string, Val> vals_;
  std::unordered_map<int, std::string> fold_into_;  // Relu/Clip node -> the tensor whose integer version it passes on
  std::unordered_map<std::string, WeightQ> weights_;
  std::unordered_map<std::string, std::string> weight_dq_;
  std::set<std::string> names_, node_names_;
  google::protobuf::RepeatedPtrField<onnx::NodeProto> nodes_;
  std::vector<onnx::TensorProto> inits_;
  // New tensor -> (type, FP tensor whose shape it has; "" for none).
  std::unordered_map<std::string, std::pair<DType, std::string>> types_;
  std::unordered_map<std::string, onnx::ValueInfoProto> fp_outputs_;
};

}  // namespace

QopModel build_qop(const OnnxGraph& fp, const QdqModel& qdq, const Platform& platform, const ActRanges& act,
                   const QdqOptions& opts) {
  QopModel out;
  DPL_CHECK(fp.opset() >= 13, "the QOP model needs opset 13 or later, the model has opset {}; convert it first",
            fp.opset());
  QopBuilder b(fp, qdq, platform, act, opts, out);
  b.run();
  return out;
}

QopModel build_qop(const OnnxGraph& fp, const Platform& platform, const ActRanges& act, const WeightRanges& weight,
                   const QdqOptions& opts) {
  QdqModel qdq = build_qdq(fp, platform, act, weight, opts);
  return build_qop(fp, qdq, platform, act, opts);
}

}  // namespace dpl
