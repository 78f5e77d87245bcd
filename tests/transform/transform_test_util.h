// Helpers for the weight-transform tests: layers with random weights added to a
// ModelBuilder, random samples, and running a model over samples.
#pragma once
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "calib/sample_source.h"
#include "graph/model_builder.h"
#include "graph/onnx_graph.h"
#include "quant/qdq_builder.h"
#include "runtime/session.h"
#include "tensor_compare.h"

namespace dpl::test {

// Conv `name`: in -> out, weight <name>_w [cout, cin/group, k, k] uniform in [-1, 1) times
// a per-output-channel factor 4^u (u uniform in [-1, 1)) so that channel ranges differ a lot,
// bias <name>_b in [-0.5, 0.5) when `bias`. Square kernel, stride 1, `pad` on every side.
inline void add_conv(ModelBuilder& b, const std::string& name, const std::string& in, const std::string& out,
                     int64_t cin, int64_t cout, int64_t k, int64_t group, int64_t pad, uint64_t seed,
                     bool bias = true) {
  Tensor w = random_tensor({cout, cin / group, k, k}, seed, -1.f, 1.f);
  Tensor f = random_tensor({cout}, seed + 1, -1.f, 1.f);
  const int64_t per = w.numel() / cout;
  for (int64_t c = 0; c < cout; ++c)
    for (int64_t i = 0; i < per; ++i) w.data<float>()[c * per + i] *= std::pow(4.f, f.data<float>()[c]);
  b.init(name + "_w", w);
  std::vector<std::string> ins = {in, name + "_w"};
  if (bias) {
    b.init(name + "_b", random_tensor({cout}, seed + 2, -0.5f, 0.5f));
    ins.push_back(name + "_b");
  }
  b.node("Conv", ins, {out}, name)
      .attr("kernel_shape", std::vector<int64_t>{k, k})
      .attr("pads", std::vector<int64_t>{pad, pad, pad, pad})
      .attr("group", group);
}

// `count` samples of input `name` with `shape`, values uniform in [lo, hi).
inline std::vector<TensorMap> random_samples(const std::string& name, const Shape& shape, int count, uint64_t seed,
                                             float lo = -1.f, float hi = 1.f) {
  std::vector<TensorMap> r;
  for (int i = 0; i < count; ++i) r.push_back({{name, random_tensor(shape, seed + 100 * i, lo, hi)}});
  return r;
}

// Output `output` of `g` on every sample (unfused session).
inline std::vector<Tensor> run_all(const OnnxGraph& g, const std::vector<TensorMap>& samples,
                                   const std::string& output) {
  Session s(g);
  std::vector<Tensor> r;
  for (const auto& f : samples) r.push_back(s.run(f, {output}).at(output).clone());
  return r;
}

// Cosine similarity over all values of all samples.
inline double cosine(const std::vector<Tensor>& a, const std::vector<Tensor>& b) {
  double dot = 0, na = 0, nb = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].shape(), b[i].shape());
    for (int64_t k = 0; k < a[i].numel(); ++k) {
      const double x = a[i].data<float>()[k], y = b[i].data<float>()[k];
      dot += x * y;
      na += x * x;
      nb += y * y;
    }
  }
  return dot / std::sqrt(na * nb);
}

// Largest |a - b| over all values.
inline double max_abs_diff(const std::vector<Tensor>& a, const std::vector<Tensor>& b) {
  double m = 0;
  for (size_t i = 0; i < a.size(); ++i)
    for (int64_t k = 0; k < a[i].numel(); ++k)
      m = std::max(m, static_cast<double>(std::fabs(a[i].data<float>()[k] - b[i].data<float>()[k])));
  return m;
}

inline int count_ops(const OnnxGraph& g, const std::string& op) {
  int n = 0;
  for (const auto& node : g.graph().node()) n += node.op_type() == op;
  return n;
}

// Every value of weight `wname` of g is code * scale of its channel in the QDQ model q,
// exactly, with the code (minus the zero point) inside the grid's bounds: what
// QuantizeLinear -> DequantizeLinear gives back unchanged.
inline void expect_on_grid(const OnnxGraph& g, const QdqModel& q, const std::string& wname) {
  const QdqPair* p = q.pair(wname);
  ASSERT_TRUE(p && p->weight) << wname;
  const Tensor w = g.get_initializer(wname);
  const int64_t channels = static_cast<int64_t>(p->params.scale.size());
  int64_t inner = 1;
  for (int a = p->axis + 1; a < w.rank(); ++a) inner *= w.dim(a);
  for (int64_t i = 0; i < w.numel(); ++i) {
    const int64_t c = channels == 1 ? 0 : (i / inner) % channels;
    const float sc = p->params.scale[c];
    const float v = w.data<float>()[i];
    const double k = std::nearbyint(static_cast<double>(v) / sc);
    ASSERT_EQ(static_cast<float>(k) * sc, v) << wname << "[" << i << "] is off its grid";
    ASSERT_GE(k, p->params.qmin[c]) << wname << "[" << i << "]";
    ASSERT_LE(k, p->params.qmax[c]) << wname << "[" << i << "]";
  }
}

}  // namespace dpl::test
