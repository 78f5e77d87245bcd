#include "runtime/segment_runner.h"

#include "util/error.h"

namespace dpl {

SegmentRunner::SegmentRunner(Session& session, const OnnxGraph& graph) : s_(session) {
  DPL_CHECK(session.node_count() == graph.node_count(), "segment runs need an unfused session");
  const int n = graph.node_count();
  produced_.resize(n);
  for (int i = 0; i < n; ++i) {
    const onnx::NodeProto& node = graph.node(i);
    for (const auto& in : node.input())
      if (!in.empty() && !graph.is_initializer(in)) last_use_[in] = i;
    for (const auto& out : node.output())
      if (!out.empty()) produced_[i].push_back(out);
  }
  for (const auto& t : graph.network_inputs()) last_use_[t] = INT_MAX;
  for (const auto& t : graph.network_outputs()) last_use_[t] = INT_MAX;
}

void SegmentRunner::start(const TensorMap& feeds) {
  live_ = feeds;
  pos_ = 0;
}

void SegmentRunner::run_to(int end) {
  DPL_CHECK(end >= pos_ && end <= node_count(), "segment [{}, {}) out of order", pos_, end);
  if (end == pos_) return;
  std::vector<std::string> fetch;
  for (int i = pos_; i < end; ++i)
    for (const auto& t : produced_[i]) {
      auto it = last_use_.find(t);
      if (it != last_use_.end() && it->second >= end) fetch.push_back(t);
    }
  TensorMap got = s_.run_range(pos_, end, live_, fetch);
  for (auto& [name, t] : got) live_[name] = std::move(t);
  for (auto it = live_.begin(); it != live_.end();) {
    auto lu = last_use_.find(it->first);
    if (lu == last_use_.end() || lu->second < end) it = live_.erase(it);
    else ++it;
  }
  pos_ = end;
}

}  // namespace dpl
