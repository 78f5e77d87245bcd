#include "profile/report.h"

#include <algorithm>
#include <set>

namespace dpl {

std::vector<TensorRange> tensor_ranges(const OnnxGraph& g, const ActRanges& act, const WeightRanges& weight,
                                       bool weights_per_channel) {
  std::vector<TensorRange> out;
  std::set<std::string> done;
  auto add_act = [&](const std::string& t) {
    auto it = act.find(t);
    if (it == act.end() || !done.insert(t).second) return;
    TensorRange r;
    r.name = t;
    r.shape = g.tensor_shape(t);
    r.lo = it->second.lo;
    r.hi = it->second.hi;
    out.push_back(std::move(r));
  };
  auto add_weight = [&](const std::string& t) {
    auto it = weight.find(t);
    if (it == weight.end() || it->second.lo.empty() || !done.insert(t).second) return;
    TensorRange r;
    r.name = t;
    r.shape = g.tensor_shape(t);
    r.weight = true;
    r.per_channel = weights_per_channel;
    r.lo = *std::min_element(it->second.lo.begin(), it->second.lo.end());
    r.hi = *std::max_element(it->second.hi.begin(), it->second.hi.end());
    r.channels = static_cast<int>(it->second.lo.size());
    out.push_back(std::move(r));
  };
  for (const auto& t : g.network_inputs()) add_act(t);
  for (const auto& n : g.graph().node())
    for (const auto& t : n.output()) add_act(t);
  for (const auto& [t, r] : act) add_act(t);
  for (const auto& n : g.graph().node())
    for (const auto& t : n.input()) add_weight(t);
  for (const auto& [t, r] : weight) add_weight(t);
  return out;
}

void set_precision(std::vector<TensorRange>& ranges, const QdqModel& qdq) {
  for (auto& r : ranges) {
    const QdqPair* p = qdq.pair(r.name);
    r.bits = p ? p->params.bits : 0;
    if (p && p->weight) r.per_channel = p->params.per_channel();
  }
}

std::vector<PerTensorRatio> per_tensor_weight_ratios(const OnnxGraph& g) {
  std::vector<PerTensorRatio> out;
  for (const auto& n : g.graph().node()) {
    if (n.op_type() != "Conv" || n.input_size() < 2 || !g.is_initializer(n.input(1))) continue;
    const Tensor w = g.get_initializer(n.input(1));
    if (w.dtype() != DType::F32 || w.rank() < 1 || w.numel() == 0) continue;
    const int64_t c = w.dim(0), per = w.numel() / c;
    const float* d = w.data<float>();
    double sum = 0;
    float all_lo = d[0], all_hi = d[0];
    for (int64_t k = 0; k < c; ++k) {
      float lo = d[k * per], hi = d[k * per];
      for (int64_t i = 0; i < per; ++i) {
        lo = std::min(lo, d[k * per + i]);
        hi = std::max(hi, d[k * per + i]);
      }
      sum += static_cast<double>(hi) - lo;
      all_lo = std::min(all_lo, lo);
      all_hi = std::max(all_hi, hi);
    }
    const double whole = static_cast<double>(all_hi) - all_lo;
    // A constant weight loses nothing to one range: ratio 1 (the original divides by zero).
    out.push_back({n.name(), whole > 0 ? sum / static_cast<double>(c) / whole : 1.0});
  }
  std::sort(out.begin(), out.end(), [](const PerTensorRatio& a, const PerTensorRatio& b) {
    return a.ratio != b.ratio ? a.ratio < b.ratio : a.node < b.node;
  });
  return out;
}

std::vector<const LayerProfile*> lowest_layers(const ProfileResult& r, size_t n) {
  std::vector<const LayerProfile*> v;
  for (const auto& l : r.layers) v.push_back(&l);
  auto key = [](const LayerProfile* l) { return l->node + "-" + l->tensor; };
  std::sort(v.begin(), v.end(), [&](const LayerProfile* a, const LayerProfile* b) {
    const double ca = a->stats.mean_cosine(), cb = b->stats.mean_cosine();
    return ca != cb ? ca < cb : key(a) < key(b);
  });
  if (v.size() > n) v.resize(n);
  return v;
}

}  // namespace dpl
