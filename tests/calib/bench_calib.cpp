// Calibration cost on a real model, run by hand (disabled by default):
//   DPL_CALIB_BENCH_DIR=<sample folder> DPL_CALIB_BENCH_N=20 dipoorlet_tests --gtest_also_run_disabled_tests
//   --gtest_filter='CalibBench.*'
// Without DPL_CALIB_BENCH_DIR, N deterministic random inputs are written to a temporary
// folder. DPL_CALIB_BENCH_MODEL (default: the shared YOLOX-Nano), DPL_CALIB_BENCH_BATCH
// (default 1), DPL_CALIB_BENCH_THREADS (default 1), DPL_CALIB_BENCH_ALGOS (default
// "minmax,hist,mse"). CalibBench.Timing prints each algorithm's wall time over a plain FP32
// pass on the same samples (process CPU time, steadier than wall time on a shared machine;
// with threads > 1 it adds up the threads); CalibBench.PeakRss calibrates once and prints the peak RSS (run
// it in separate processes with different N).
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <map>

#include "calib/observer_hist.h"
#include "calib/observer_minmax.h"
#include "calib/observer_octav.h"
#include "calib/sample_source.h"
#include "calib/tensor_cali.h"
#include "graph/model_builder.h"
#include "optimizer/prepare.h"

namespace dpl::test {
namespace {

namespace fs = std::filesystem;

std::string env(const char* name, const std::string& dflt) {
  const char* v = std::getenv(name);
  return v && *v ? std::string(v) : dflt;
}

struct Bench {
  OnnxGraph graph;
  std::string dir;
  bool own_dir = false;
  int n = 0, batch = 1, threads = 1;

  Bench() {
    const std::string model =
        env("DPL_CALIB_BENCH_MODEL", std::string(DPL_SOURCE_DIR) + "/../shared/models/yolox-nano/yolox_nano.onnx");
    if (!fs::exists(model)) return;
    graph = OnnxGraph::load(model);
    prepare_model(graph);
    n = std::stoi(env("DPL_CALIB_BENCH_N", "20"));
    batch = std::stoi(env("DPL_CALIB_BENCH_BATCH", "1"));
    threads = std::stoi(env("DPL_CALIB_BENCH_THREADS", "1"));
    dir = env("DPL_CALIB_BENCH_DIR", "");
    if (dir.empty()) {
      own_dir = true;
      dir = (fs::temp_directory_path() / ("dpl_calib_bench_" + std::to_string(getpid()))).string();
      for (const auto& in : FolderSampleSource::graph_inputs(graph)) {
        fs::create_directories(fs::path(dir) / file_safe_name(in.name));
        Shape s = in.shape;
        for (auto& d : s) d = d < 0 ? 1 : d;
        for (int i = 0; i < n; ++i) write_raw(sample_path(dir, in.name, i), random_tensor(s, 1000 + i, 0.f, 255.f));
      }
    }
  }
  ~Bench() {
    if (own_dir) fs::remove_all(dir);
  }
  bool ok() const { return graph.node_count() > 0; }
};

// CPU time of the process: with one thread, the work done, whatever else the machine runs.
// DPL_CALIB_BENCH_WALL=1 measures wall time instead (for threads > 1 on a quiet machine).
double cpu_now() {
  static const bool wall = env("DPL_CALIB_BENCH_WALL", "0") == "1";
  timespec t{};
  clock_gettime(wall ? CLOCK_MONOTONIC : CLOCK_PROCESS_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) + 1e-9 * static_cast<double>(t.tv_nsec);
}

long peak_rss_kib() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return u.ru_maxrss;
}

TEST(CalibBench, DISABLED_Timing) {
  Bench b;
  if (!b.ok()) GTEST_SKIP() << "model not found";
  FolderSampleSource src(b.dir, FolderSampleSource::graph_inputs(b.graph), b.n);
  SessionOptions so;
  so.threads = b.threads;
  auto plain_pass = [&](bool fuse) {
    SessionOptions o = so;
    o.fuse = fuse;
    Session s(b.graph, o);
    s.run(src.batch(0, 1));  // warm-up: primitive caches
    const double t0 = cpu_now();
    for (int first = 0; first < src.count(); first += b.batch)
      s.run(src.batch(first, std::min(b.batch, src.count() - first)));
    return (cpu_now() - t0);
  };
  const double plain = plain_pass(false), fused = plain_pass(true);
  std::printf("model %d nodes, %d samples, batch %d, threads %d\n", b.graph.node_count(), src.count(), b.batch,
              b.threads);
  std::printf("plain FP32 pass (unfused, as calibration runs it): %.3f s; fused inference: %.3f s\n", plain, fused);
  const std::string algos = env("DPL_CALIB_BENCH_ALGOS", "minmax,hist,mse");
  for (const std::string name : {"minmax", "hist", "mse"}) {
    if (algos.find(name) == std::string::npos) continue;
    CaliOptions o;
    o.algo = parse_cali_algo(name);
    o.batch = b.batch;
    o.threads = b.threads;
    const double t0 = cpu_now();
    const ActRanges r = calibrate_activations(b.graph, src, o);
    const double t = (cpu_now() - t0);
    std::printf("%-7s %.3f s = %.2f x plain pass (%zu ranges; includes session creation)\n", name.c_str(), t, t / plain,
                r.size());
    for (const auto& t : {b.graph.network_inputs().front(), b.graph.network_outputs().front()})
      if (r.count(t)) std::printf("        %s: [%g, %g]\n", t.c_str(), r.at(t).lo, r.at(t).hi);
  }
  {
    // The passes alone, on a warm session (what one more stage costs).
    Session s(b.graph, so);
    s.run(src.batch(0, 1));
    CaliOptions o;
    o.batch = b.batch;
    MinMaxObserver mm;
    double t0 = cpu_now();
    observe_pass(s, src, mm, o, "minmax");
    const double tmm = (cpu_now() - t0);
    HistObserver hist(mm, 2048, 0.99999);
    t0 = cpu_now();
    observe_pass(s, src, hist, o, "hist");
    const double th = (cpu_now() - t0);
    OctavObserver oct;
    t0 = cpu_now();
    observe_pass(s, src, oct, o, "mse");
    const double to = (cpu_now() - t0);
    std::printf(
        "warm passes: minmax %.3f s (%.2f x), hist stage %.3f s (%.2f x, %zu tensors need a full pass), "
        "OCTAV %.3f s (%.2f x)\n",
        tmm, tmm / plain, th, th / plain, hist.unresolved(0.99999).size(), to, to / plain);
    int64_t elems = 0;
    Session c(b.graph, so);
    c.set_hook([&](const std::string&, const Tensor& v) {
      if (v.dtype() == DType::F32) elems += v.numel();
    });
    c.run(src.batch(0, 1));
    std::printf("float activation elements per sample: %.1f M\n", elems / 1e6);
  }
  if (algos.find("steps") != std::string::npos) {
    // How many Newton steps OCTAV takes per tensor (the most over samples).
    Session s(b.graph, so);
    OctavObserver oct;
    CaliOptions o;
    o.batch = b.batch;
    observe_pass(s, src, oct, o, "steps");
    std::map<int64_t, int> hist;
    for (const auto& [name, e] : oct.entries()) ++hist[e.max_steps];
    for (const auto& [steps, count] : hist)
      std::printf("  %2lld Newton steps (max over samples): %d tensors\n", static_cast<long long>(steps), count);
  }
}

TEST(CalibBench, DISABLED_PeakRss) {
  Bench b;
  if (!b.ok()) GTEST_SKIP() << "model not found";
  const long before = peak_rss_kib();
  FolderSampleSource src(b.dir, FolderSampleSource::graph_inputs(b.graph), b.n);
  const std::string algo = env("DPL_CALIB_BENCH_ALGOS", "mse");
  ActRanges r;
  if (algo == "plain") {  // the runtime alone, for comparison
    SessionOptions so;
    so.threads = b.threads;
    Session s(b.graph, so);
    for (int first = 0; first < src.count(); first += b.batch)
      s.run(src.batch(first, std::min(b.batch, src.count() - first)));
  } else {
    CaliOptions o;
    o.algo = parse_cali_algo(algo);
    o.batch = b.batch;
    o.threads = b.threads;
    r = calibrate_activations(b.graph, src, o);
  }
  std::printf("%d samples, batch %d: %zu ranges, peak RSS %ld MiB (before calibration %ld MiB)\n", src.count(), b.batch,
              r.size(), peak_rss_kib() / 1024, before / 1024);
}

}  // namespace
}  // namespace dpl::test
