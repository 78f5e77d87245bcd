// Rank-aware logging (dist/rank_log.h).
#include "dist/rank_log.h"

#include <spdlog/sinks/base_sink.h>
#include <spdlog/spdlog.h>

#include <map>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "util/progress.h"

namespace dpl::dist {

namespace {

// Keeps the text of every warning and error logged since the last take().
class WarningSink : public spdlog::sinks::base_sink<std::mutex> {
 public:
  std::vector<std::string> take() {
    std::lock_guard<std::mutex> lock(mutex_);
    return std::exchange(kept_, {});
  }

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    if (msg.level >= spdlog::level::warn) kept_.emplace_back(msg.payload.data(), msg.payload.size());
  }
  void flush_() override {}

 private:
  std::vector<std::string> kept_;
};

std::shared_ptr<WarningSink> g_sink;

std::string join(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& m : v) s += m + '\0';
  return s;
}

std::vector<std::string> split(const std::string& s) {
  std::vector<std::string> v;
  size_t at = 0;
  for (size_t z = s.find('\0'); z != std::string::npos; at = z + 1, z = s.find('\0', at)) v.push_back(s.substr(at, z - at));
  return v;
}

}  // namespace

void setup_rank_logging(const Comm& comm) {
  if (!comm.distributed()) return;
  auto logger = spdlog::default_logger();
  if (!comm.root()) {
    // Nothing on the console from the other ranks: their warnings reach rank 0.
    for (auto& s : logger->sinks()) s->set_level(spdlog::level::off);
    set_progress_shown(false);
  }
  g_sink = std::make_shared<WarningSink>();
  g_sink->set_level(spdlog::level::warn);
  logger->sinks().push_back(g_sink);
}

void forward_warnings(Comm& comm) {
  if (!comm.distributed() || !g_sink) return;
  const std::vector<std::string> all = comm.allgather(join(g_sink->take()));
  if (!comm.root()) return;
  const std::vector<std::string> own = split(all[0]);
  const std::set<std::string> seen(own.begin(), own.end());
  std::map<std::string, std::vector<int>> ranks_of;  // message -> ranks, in first-seen order below
  std::vector<std::string> order;
  for (size_t r = 1; r < all.size(); ++r)
    for (const auto& m : split(all[r])) {
      if (seen.count(m)) continue;
      auto& ranks = ranks_of[m];
      if (ranks.empty()) order.push_back(m);
      if (ranks.empty() || ranks.back() != static_cast<int>(r)) ranks.push_back(static_cast<int>(r));
    }
  for (const auto& m : order) {
    const auto& ranks = ranks_of[m];
    std::string who = ranks.size() == 1 ? fmt::format("rank {}", ranks[0]) : "ranks ";
    for (size_t i = 0; ranks.size() > 1 && i < ranks.size(); ++i) who += (i ? ", " : "") + std::to_string(ranks[i]);
    spdlog::warn("{}: {}", who, m);
  }
  g_sink->take();  // what was just logged is rank 0's own now
}

}  // namespace dpl::dist
