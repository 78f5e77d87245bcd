// The output-aware observer (see observer_output.h).
#include "calib/observer_output.h"

#include <climits>
#include <cmath>
#include <set>

#include "calib/observer_state.h"

namespace dpl {

namespace {
constexpr uint32_t kOutputTag = 0x4f555431;  // "OUT1"
constexpr const char* kKind = "an output-aware observer";

double energy_of(const Tensor& t) {
  double s = 0;
  const float* p = t.data<float>();
  for (int64_t i = 0; i < t.numel(); ++i)
    if (std::isfinite(p[i])) s += static_cast<double>(p[i]) * p[i];
  return s;
}

double squared_error(const Tensor& a, const Tensor& b) {
  double s = 0;
  const float *p = a.data<float>(), *q = b.data<float>();
  for (int64_t i = 0; i < a.numel(); ++i) {
    const double d = static_cast<double>(p[i]) - q[i];
    if (std::isfinite(d)) s += d * d;
  }
  return s;
}

Tensor fake_quantized(const Tensor& t, const Range& r, const calib::LpSearch& grid) {
  Tensor y(DType::F32, t.shape());
  calib::GridQuantizer::make(r.lo, r.hi, grid.bits, grid.symmetric).apply(t.data<float>(), y.data<float>(), t.numel());
  return y;
}
}  // namespace

OutputErrorObserver::OutputErrorObserver(const OnnxGraph& graph, std::map<std::string, Target> targets, int threads)
    : graph_(graph), targets_(std::move(targets)) {
  SessionOptions so;
  so.threads = std::max(1, threads);
  session_ = std::make_unique<Session>(graph_, so);
  graph_inputs_ = session_->input_names();
  for (const auto& in : graph_inputs_) last_reader_[in] = INT_MAX;  // the runtime reads the batch size from them
  for (int k = 0; k < graph_.node_count(); ++k) {
    const auto& n = graph_.node(k);
    for (const auto& out : n.output())
      if (!out.empty()) producer_[out] = k, last_reader_.try_emplace(out, k);
    for (const auto& in : n.input())
      if (!in.empty() && !graph_.is_initializer(in) && last_reader_[in] != INT_MAX)
        last_reader_[in] = std::max(last_reader_[in], k);
  }
}

OutputErrorObserver::~OutputErrorObserver() = default;

void OutputErrorObserver::observe(const std::string& name, const Tensor& value, int) {
  auto it = producer_.find(name);
  if (it == producer_.end()) {
    if (next_ > 0 || values_.size() > graph_inputs_.size()) finish_batch();  // a new batch starts
  } else {
    evaluate_until(it->second);
  }
  values_[name] = value;
}

void OutputErrorObserver::end_pass() { finish_batch(); }

void OutputErrorObserver::finish_batch() {
  evaluate_until(graph_.node_count());
  values_.clear();
  next_ = 0;
}

void OutputErrorObserver::evaluate_until(int node) {
  for (; next_ < node; ++next_) {
    evaluate(next_);
    const auto& n = graph_.node(next_);
    for (const auto* names : {&n.input(), &n.output()})
      for (const auto& t : *names) {
        auto lr = last_reader_.find(t);
        if (lr != last_reader_.end() && lr->second <= next_) values_.erase(t);
      }
  }
}

void OutputErrorObserver::evaluate(int k) {
  const auto& node = graph_.node(k);
  std::vector<std::string> outs;
  double energy = 0;
  for (const auto& o : node.output()) {
    auto v = values_.find(o);
    if (o.empty() || v == values_.end() || v->second.dtype() != DType::F32) continue;
    outs.push_back(o);
    energy += energy_of(v->second);
    // A network output is its own consumer (the identity).
    auto t = targets_.find(o);
    if (graph_.is_network_output(o) && t != targets_.end()) {
      Term term{energy_of(v->second), {}};
      for (const auto& c : t->second.candidates)
        term.error.push_back(squared_error(fake_quantized(v->second, c, t->second.grid), v->second));
      add_term(o, -1, term);
    }
  }
  if (outs.empty()) return;
  TensorMap feeds;
  for (const auto& in : graph_inputs_) {
    auto v = values_.find(in);
    if (v != values_.end()) feeds[in] = v->second;
  }
  std::set<std::string> quantizable;
  for (const auto& in : node.input()) {
    if (in.empty() || graph_.is_initializer(in)) continue;
    auto v = values_.find(in);
    if (v == values_.end()) return;  // an input never observed (an empty tensor): nothing to compare
    feeds[in] = v->second;
    if (targets_.count(in) && v->second.dtype() == DType::F32) quantizable.insert(in);
  }
  for (const auto& in : quantizable) {
    const Target& target = targets_.at(in);
    Term term{energy, {}};
    const Tensor fp = feeds[in];
    for (const auto& c : target.candidates) {
      feeds[in] = fake_quantized(fp, c, target.grid);
      const TensorMap got = session_->run_range(k, k + 1, feeds, outs);
      double err = 0;
      for (const auto& o : outs) err += squared_error(got.at(o), values_.at(o));
      term.error.push_back(err);
    }
    feeds[in] = fp;
    add_term(in, k, term);
  }
}

void OutputErrorObserver::add_term(const std::string& tensor, int consumer, const Term& t) {
  Term& e = terms_[tensor][consumer];
  if (e.error.empty()) e.error.assign(t.error.size(), 0.0);
  DPL_CHECK(e.error.size() == t.error.size(), "cannot merge output errors of {} and {} candidates for tensor '{}'",
            e.error.size(), t.error.size(), tensor);
  e.energy += t.energy;
  for (size_t c = 0; c < t.error.size(); ++c) e.error[c] += t.error[c];
}

void OutputErrorObserver::merge(const Observer& other) {
  const auto& o = same_kind<OutputErrorObserver>(other, kKind);
  for (const auto& [tensor, terms] : o.terms_)
    for (const auto& [consumer, t] : terms) add_term(tensor, consumer, t);
}

std::string OutputErrorObserver::serialize() const {
  ByteWriter w(kOutputTag);
  w.put_entries(terms_, [&](const std::map<int, Term>& terms) {
    w.put<uint64_t>(terms.size());
    for (const auto& [consumer, t] : terms) {
      w.put<int32_t>(consumer);
      w.put(t.energy);
      w.put<uint64_t>(t.error.size());
      w.put_array(t.error);
    }
  });
  return w.take();
}

void OutputErrorObserver::merge_serialized(std::string_view bytes) {
  ByteReader r(bytes, kOutputTag, kKind);
  r.get_entries([&](const std::string& tensor) {
    const auto n = r.get<uint64_t>();
    for (uint64_t i = 0; i < n; ++i) {
      const auto consumer = r.get<int32_t>();
      Term t;
      t.energy = r.get<double>();
      const auto k = r.get<uint64_t>();
      DPL_CHECK(k < (1u << 20), "calibration state holds a bad candidate count {}", k);
      r.get_array(t.error, k);
      add_term(tensor, consumer, t);
    }
  });
}

void OutputErrorObserver::clear() {
  terms_.clear();
  values_.clear();
  next_ = 0;
}

std::vector<double> OutputErrorObserver::scores(const std::string& name) const {
  std::vector<double> s;
  auto it = terms_.find(name);
  if (it == terms_.end()) return s;
  for (const auto& [consumer, t] : it->second) {
    if (s.empty()) s.assign(t.error.size(), 0.0);
    if (t.energy > 0)
      for (size_t c = 0; c < t.error.size() && c < s.size(); ++c) s[c] += t.error[c] / t.energy;
  }
  return s;
}

int OutputErrorObserver::choice(const std::string& name) const {
  const auto s = scores(name);
  size_t best = 0;
  for (size_t c = 1; c < s.size(); ++c)
    if (s[c] < s[best]) best = c;
  return static_cast<int>(best);
}

ActRanges OutputErrorObserver::ranges() const {
  ActRanges r;
  for (const auto& [name, target] : targets_)
    if (!target.candidates.empty()) r[name] = target.candidates[choice(name)];
  return r;
}

}  // namespace dpl
