// Calibration on small graphs run by the real runtime (Conv, Relu, Mul, Add, MaxPool,
// Sigmoid, Shape): ranges against tensors kept and reduced here, batch invariance, merging
// of partial passes, the batch fallback, weight ranges, the sample folder and the JSON files.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "calib/observer_hist.h"
#include "calib/observer_minmax.h"
#include "calib/observer_octav.h"
#include "calib/ranges.h"
#include "calib/sample_source.h"
#include "calib/tensor_cali.h"
#include "graph/model_builder.h"

namespace dpl::test {
namespace {

namespace fs = std::filesystem;

// x[N,2,4,4] -> Conv(3x3, pad 1) -> c -> Relu -> r -> Mul 0.5 -> m -> Add c -> a
//   -> MaxPool 2x2 -> p -> Sigmoid -> y; Shape(x) -> shp (int64, never observed).
// pin_batch adds Reshape(p, [12]), which only works for one sample at a time.
OnnxGraph small_graph(bool pin_batch = false) {
  ModelBuilder b(13);
  b.input("x", {1, 2, 4, 4});
  b.init("w", random_tensor({3, 2, 3, 3}, 1, -1.f, 1.f));
  b.init("bias", random_tensor({3}, 2, -0.5f, 0.5f));
  b.init("k", Tensor::scalar<float>(0.5f));
  b.node("Conv", {"x", "w", "bias"}, {"c"}, "conv").attr("pads", std::vector<int64_t>{1, 1, 1, 1});
  b.node("Relu", {"c"}, {"r"}, "relu");
  b.node("Mul", {"r", "k"}, {"m"}, "mul");
  b.node("Add", {"m", "c"}, {"a"}, "add");
  b.node("MaxPool", {"a"}, {"p"}, "pool")
      .attr("kernel_shape", std::vector<int64_t>{2, 2})
      .attr("strides", std::vector<int64_t>{2, 2});
  std::string last = "p";
  if (pin_batch) {
    b.init("flat", Tensor::from_vector<int64_t>({1}, {12}));
    b.node("Reshape", {"p", "flat"}, {"f"}, "reshape");
    last = "f";
  }
  b.node("Sigmoid", {last}, {"y"}, "sigmoid");
  b.node("Shape", {"x"}, {"shp"}, "shape");
  b.output("y").output("shp", DType::I64);
  return b.graph();
}

std::vector<TensorMap> samples(int n) {
  std::vector<TensorMap> s;
  for (int i = 0; i < n; ++i) s.push_back({{"x", random_tensor({1, 2, 4, 4}, 50 + i, -2.f + 0.1f * i, 3.f)}});
  return s;
}

// Every float tensor of every sample, computed one sample at a time.
std::vector<TensorMap> all_tensors(const OnnxGraph& g, const std::vector<TensorMap>& data) {
  SessionOptions o;
  o.keep_all = true;
  Session s(g, o);
  std::vector<TensorMap> r;
  for (const auto& d : data) {
    TensorMap t = s.run(d);
    t.insert(d.begin(), d.end());
    for (auto it = t.begin(); it != t.end();) it = it->second.dtype() == DType::F32 ? std::next(it) : t.erase(it);
    r.push_back(std::move(t));
  }
  return r;
}

const std::vector<std::string> kTensors = {"x", "c", "r", "m", "a", "p", "y"};

ActRanges calibrate(CaliAlgo algo, int batch, bool pin = false, int n = 6) {
  MemorySampleSource src(samples(n));
  CaliOptions o;
  o.algo = algo;
  o.batch = batch;
  o.bins = 128;
  o.threshold = 0.99;
  return calibrate_activations(small_graph(pin), src, o);
}

TEST(TensorCali, ParsesAlgorithmNames) {
  EXPECT_EQ(parse_cali_algo("minmax"), CaliAlgo::MinMax);
  EXPECT_EQ(parse_cali_algo("hist"), CaliAlgo::Hist);
  EXPECT_EQ(parse_cali_algo("mse"), CaliAlgo::Mse);
  EXPECT_THROW(parse_cali_algo("percentile"), Error);
}

TEST(TensorCali, MinMaxIsTheRangeOfEveryFloatTensor) {
  const auto tensors = all_tensors(small_graph(), samples(6));
  const ActRanges r = calibrate(CaliAlgo::MinMax, 1);
  EXPECT_EQ(r.size(), kTensors.size());
  EXPECT_EQ(r.count("shp"), 0u);
  for (const auto& name : kTensors) {
    float lo = INFINITY, hi = -INFINITY;
    for (const auto& t : tensors)
      for (float v : t.at(name).to_f32_vector()) lo = std::min(lo, v), hi = std::max(hi, v);
    ASSERT_TRUE(r.count(name)) << name;
    EXPECT_EQ(r.at(name).lo, lo) << name;
    EXPECT_EQ(r.at(name).hi, hi) << name;
  }
  EXPECT_EQ(r.at("r").lo, 0.f);  // after the Relu
}

TEST(TensorCali, MseIsTheMeanOfPerSampleClipsOfTheFormula) {
  const auto tensors = all_tensors(small_graph(), samples(6));
  const ActRanges r = calibrate(CaliAlgo::Mse, 4);
  const double eps = std::pow(4.0, -8) / 3;
  for (const auto& name : kTensors) {
    double sum_s = 0, lo = INFINITY, hi = -INFINITY;
    for (const auto& t : tensors) {
      const auto v = t.at(name).to_f32_vector();
      double sum = 0, nz = 0;
      for (float x : v) sum += std::fabs(x), nz += x != 0, lo = std::min<double>(lo, x), hi = std::max<double>(hi, x);
      double s = sum / nz;
      for (int it = 0; it < 20; ++it) {
        double above = 0, na = 0, nb = 0;
        for (float x : v) {
          if (std::fabs(x) > s)
            above += std::fabs(x), na += 1;
          else
            nb += 1;
        }
        const double next = above / (eps * nb + na);
        if (std::fabs(next - s) < 1e-6) break;
        s = next;
      }
      sum_s += s;
    }
    const double mean = sum_s / tensors.size();
    ASSERT_TRUE(r.count(name)) << name;
    EXPECT_NEAR(r.at(name).lo, std::max(lo, -mean), 1e-6 * (1 + mean)) << name;
    EXPECT_NEAR(r.at(name).hi, std::min(hi, mean), 1e-6 * (1 + mean)) << name;
  }
}

TEST(TensorCali, BatchSizeDoesNotChangeTheRanges) {
  for (CaliAlgo algo : {CaliAlgo::MinMax, CaliAlgo::Hist, CaliAlgo::Mse}) {
    const ActRanges one = calibrate(algo, 1), four = calibrate(algo, 4);  // 6 samples: batches of 4 and 2
    ASSERT_EQ(one.size(), four.size());
    for (const auto& [name, r] : one) {
      EXPECT_EQ(four.at(name).lo, r.lo) << name << " algo " << static_cast<int>(algo);
      EXPECT_EQ(four.at(name).hi, r.hi) << name << " algo " << static_cast<int>(algo);
    }
  }
}

TEST(TensorCali, HistClipsInsideTheMinMaxRange) {
  const ActRanges mm = calibrate(CaliAlgo::MinMax, 2), h = calibrate(CaliAlgo::Hist, 2);
  int clipped = 0;
  for (const auto& [name, r] : mm) {
    EXPECT_GE(h.at(name).lo, r.lo) << name;
    EXPECT_LE(h.at(name).hi, r.hi) << name;
    clipped += h.at(name).hi < r.hi || h.at(name).lo > r.lo;
  }
  EXPECT_GT(clipped, 0);  // threshold 0.99 of 128 bins cuts the tails somewhere
}

TEST(TensorCali, MergedHalvesEqualOnePass) {
  MemorySampleSource src(samples(7));
  Session s(small_graph());
  CaliOptions o;
  o.batch = 2;
  SampleSlice first(src, 0, 3), second(src, 3, 4);

  MinMaxObserver all, a, b;
  observe_pass(s, src, all, o, "all");
  observe_pass(s, first, a, o, "first");
  observe_pass(s, second, b, o, "second");
  a.merge(b);
  for (const auto& [name, r] : all.ranges()) {
    EXPECT_EQ(a.ranges().at(name).lo, r.lo) << name;
    EXPECT_EQ(a.ranges().at(name).hi, r.hi) << name;
  }

  HistObserver hall(all, 64), ha(all, 64), hb(all, 64);
  observe_pass(s, src, hall, o, "all");
  observe_pass(s, first, ha, o, "first");
  observe_pass(s, second, hb, o, "second");
  ha.merge_serialized(hb.serialize());
  for (const auto& name : kTensors) EXPECT_EQ(ha.counts(name), hall.counts(name)) << name;

  OctavObserver oall, oa, ob;
  observe_pass(s, src, oall, o, "all");
  observe_pass(s, first, oa, o, "first");
  observe_pass(s, second, ob, o, "second");
  oa.merge(ob);
  for (const auto& name : kTensors) {
    EXPECT_EQ(oa.entries().at(name).samples, 7);
    EXPECT_NEAR(oa.entries().at(name).sum_s, oall.entries().at(name).sum_s, 1e-12 * oall.entries().at(name).sum_s);
  }
}

TEST(TensorCali, ReduceCallbackSeesEveryStage) {
  MemorySampleSource src(samples(3));
  CaliOptions o;
  o.algo = CaliAlgo::Hist;
  o.bins = 32;
  std::vector<std::string> stages;
  std::vector<int> done;
  o.reduce = [&](Observer&, const std::string& stage) { stages.push_back(stage); };
  o.progress = [&](int d, int total, const std::string&) {
    EXPECT_EQ(total, 3);
    done.push_back(d);
  };
  o.batch = 2;
  calibrate_activations(small_graph(), src, o);
  EXPECT_EQ(stages, (std::vector<std::string>{"Minmax update", "Hist update"}));
  EXPECT_EQ(done, (std::vector<int>{2, 3, 2, 3}));
}

TEST(TensorCali, HistWithTheCutEqualsFullHistogramsAndRedoesUnresolvedTensors) {
  // x[1,1000] -> Relu -> y. Sample 0 spreads over [-100, 100], the later ones sit near 0.5:
  // at threshold 0.99 the cut chosen on sample 0 is too high for x (one more pass), at
  // 0.9999 it is not. (y, half zeros in sample 0, keeps all its bins.)
  ModelBuilder b(13);
  b.input("x", {1, 1000}).node("Relu", {"x"}, {"y"}, "relu").output("y");
  const OnnxGraph g = b.graph();
  std::vector<TensorMap> data;
  data.push_back({{"x", random_tensor({1, 1000}, 8, -100.f, 100.f)}});
  for (int i = 1; i < 100; ++i) data.push_back({{"x", random_tensor({1, 1000}, 8 + i, 0.4f, 0.6f)}});
  for (double thr : {0.99, 0.9999}) {
    MemorySampleSource src(data);
    CaliOptions o;
    o.algo = CaliAlgo::Hist;
    o.threshold = thr;
    o.batch = 1;  // the cut is chosen on sample 0 alone
    std::vector<std::string> stages;
    o.reduce = [&](Observer&, const std::string& stage) { stages.push_back(stage); };
    const ActRanges got = calibrate_activations(g, src, o);
    EXPECT_EQ(stages.size(), thr == 0.99 ? 3u : 2u) << thr;

    Session s(g);
    MinMaxObserver mm;
    observe_pass(s, src, mm, CaliOptions{}, "mm");
    HistObserver full(mm, o.bins);
    observe_pass(s, src, full, CaliOptions{}, "full");
    const ActRanges want = full.ranges(thr);
    for (const auto& [name, r] : want) {
      EXPECT_EQ(got.at(name).lo, r.lo) << name << " " << thr;
      EXPECT_EQ(got.at(name).hi, r.hi) << name << " " << thr;
    }
  }
}

TEST(TensorCali, PinnedBatchFallsBackToOneSampleAtATime) {
  for (CaliAlgo algo : {CaliAlgo::MinMax, CaliAlgo::Mse}) {
    const ActRanges one = calibrate(algo, 1, true), four = calibrate(algo, 4, true);
    ASSERT_EQ(one.size(), 8u);  // f (the Reshape) too
    for (const auto& [name, r] : one) {
      EXPECT_EQ(four.at(name).lo, r.lo) << name;
      EXPECT_EQ(four.at(name).hi, r.hi) << name;
    }
  }
}

TEST(WeightRanges, PerOutputChannelLikeTheOriginal) {
  ModelBuilder b(13);
  b.input("x", {1, 2, 2, 2}).input("g", {3, 2});
  // Conv weight [2 out, 2 in, 1, 2]: channel 0 = {1, -2, 3, 0.5}, channel 1 = {-1, 7, 2, 2}.
  b.init("cw", Tensor::from_vector<float>({2, 2, 1, 2}, {1.f, -2.f, 3.f, 0.5f, -1.f, 7.f, 2.f, 2.f}));
  b.init("cb", Tensor::from_vector<float>({2}, {0.25f, -0.75f}));
  // ConvTranspose weight [2 in, 3 out, 1, 1] = 0..5: output channel j holds {j, 3 + j}.
  b.init("tw", Tensor::from_vector<float>({2, 3, 1, 1}, {0.f, 1.f, 2.f, 3.f, 4.f, 5.f}));
  b.init("slope", Tensor::scalar<float>(0.1f));
  b.init("bn_s", Tensor::from_vector<float>({3}, {1.f, 2.f, 3.f}));
  b.init("bn_b", Tensor::from_vector<float>({3}, {0.f, 0.f, 0.f}));
  b.init("bn_m", Tensor::from_vector<float>({3}, {0.f, 0.f, 0.f}));
  b.init("bn_v", Tensor::from_vector<float>({3}, {1.f, 1.f, 1.f}));
  b.init("gc", Tensor::from_vector<float>({3}, {-3.f, 4.f, 0.f}));
  b.node("Conv", {"x", "cw", "cb"}, {"c"}, "conv");
  b.node("ConvTranspose", {"c", "tw"}, {"t"}, "convt");
  b.node("PRelu", {"t", "slope"}, {"pr"}, "prelu");
  b.node("BatchNormalization", {"pr", "bn_s", "bn_b", "bn_m", "bn_v"}, {"bn"}, "bn");
  b.node("Gemm", {"g", "g", "gc"}, {"gm"}, "gemm").attr("transB", int64_t{1});  // B is not an initializer
  b.node("Add", {"bn", "bn"}, {"out"}, "add");
  b.output("out").output("gm");
  const WeightRanges w = weight_ranges(b.graph());

  EXPECT_EQ(w.count("slope"), 0u);  // scalar
  EXPECT_EQ(w.count("g"), 0u);      // not an initializer
  EXPECT_EQ(w.size(), 8u);
  EXPECT_EQ(w.at("cw").lo, (std::vector<float>{-2.f, -1.f}));
  EXPECT_EQ(w.at("cw").hi, (std::vector<float>{3.f, 7.f}));
  EXPECT_EQ(w.at("cb").lo, (std::vector<float>{0.25f, -0.75f}));
  EXPECT_EQ(w.at("tw").lo, (std::vector<float>{0.f, 1.f, 2.f}));
  EXPECT_EQ(w.at("tw").hi, (std::vector<float>{3.f, 4.f, 5.f}));
  EXPECT_EQ(w.at("bn_s").hi, (std::vector<float>{1.f, 2.f, 3.f}));
  EXPECT_EQ(w.at("gc").lo, (std::vector<float>{-3.f, 4.f, 0.f}));
}

class TempDir : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ =
        fs::temp_directory_path() / ("dpl_calib_test_" + std::to_string(getpid()) + "_" + std::to_string(counter_++));
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }
  void write_text(const std::string& name, const std::string& text) { std::ofstream(path(name)) << text; }
  fs::path dir_;
  static inline int counter_ = 0;
};

using SampleFolder = TempDir;

TEST_F(SampleFolder, SkipsSamplesWithNaNAndReadsTheRestInOrder) {
  const std::vector<InputSpec> inputs = {{"in/x", {1, 2}, DType::F32}};
  for (int i = 0; i < 4; ++i) {
    fs::create_directories(dir_ / file_safe_name("in/x"));
    const float bad = i == 1 ? NAN : (i == 3 ? INFINITY : 0.f);
    write_raw(sample_path(dir_.string(), "in/x", i), Tensor::from_vector<float>({1, 2}, {static_cast<float>(i), bad}));
  }
  // Samples 1 (NaN) and 3 (Inf) are skipped; 0 and 2 remain.
  FolderSampleSource src(dir_.string(), inputs, 4);
  EXPECT_EQ(src.count(), 2);
  EXPECT_EQ(src.sample_indices(), (std::vector<int>{0, 2}));
  ASSERT_EQ(src.skipped_files().size(), 2u);
  EXPECT_NE(src.skipped_files()[0].find("1.bin"), std::string::npos);
  const Tensor b = src.batch(0, 2).at("in/x");
  EXPECT_EQ(b.shape(), (Shape{2, 2}));
  EXPECT_EQ(b.to_f32_vector(), (std::vector<float>{0.f, 0.f, 2.f, 0.f}));
  EXPECT_NE(src.describe(1).find("2.bin"), std::string::npos);

  // Only bad samples: a clear error.
  try {
    FolderSampleSource none(dir_.string(), inputs, 2);  // samples 0 and 1: 0 is fine
    EXPECT_EQ(none.count(), 1);
    write_raw(sample_path(dir_.string(), "in/x", 0), Tensor::from_vector<float>({1, 2}, {NAN, 1.f}));
    FolderSampleSource bad(dir_.string(), inputs, 2);
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("all 2 calibration samples"), std::string::npos) << e.what();
  }
  // A missing file is named.
  try {
    FolderSampleSource missing(dir_.string(), inputs, 5);
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("4.bin"), std::string::npos) << e.what();
  }
}

TEST_F(SampleFolder, CalibratesTheGraphFromFiles) {
  const OnnxGraph g = small_graph();
  const auto data = samples(5);
  fs::create_directories(dir_ / "x");
  for (int i = 0; i < 5; ++i) write_raw(sample_path(dir_.string(), "x", i), data[i].at("x"));
  FolderSampleSource files(dir_.string(), FolderSampleSource::graph_inputs(g), 5);
  MemorySampleSource mem(data);
  CaliOptions o;
  o.algo = CaliAlgo::MinMax;
  o.batch = 3;
  const ActRanges a = calibrate_activations(g, files, o), b = calibrate_activations(g, mem, o);
  for (const auto& [name, r] : b) {
    EXPECT_EQ(a.at(name).lo, r.lo) << name;
    EXPECT_EQ(a.at(name).hi, r.hi) << name;
  }
}

using RangeFiles = TempDir;

TEST_F(RangeFiles, RoundTripKeepsEveryFloatBit) {
  ActRanges act = {{"a/b", {0.1f, 1e-30f}}, {"c", {-3.4028235e38f, 7.f}}, {"d", {-0.f, 1.f / 3.f}}};
  save_act_ranges(path("act.json"), act);
  const ActRanges back = load_act_ranges(path("act.json"));
  ASSERT_EQ(back.size(), act.size());
  for (const auto& [name, r] : act) {
    EXPECT_EQ(back.at(name).lo, r.lo) << name;
    EXPECT_EQ(back.at(name).hi, r.hi) << name;
  }
  std::ifstream f(path("act.json"));
  const std::string text((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  EXPECT_NE(text.find("0.10000000149011612"), std::string::npos) << text;  // float32 0.1 as Python writes it

  WeightRanges w = {{"w", {{-1.5f, 0.1f, 2e-8f}, {2.f, 0.2f, 3e-8f}}}};
  save_weight_ranges(path("w.json"), w);
  const WeightRanges wb = load_weight_ranges(path("w.json"));
  EXPECT_EQ(wb.at("w").lo, w.at("w").lo);
  EXPECT_EQ(wb.at("w").hi, w.at("w").hi);
  EXPECT_FALSE(fs::exists(path("w.json.tmp-" + std::to_string(getpid()))));
}

TEST_F(RangeFiles, BadFilesAreNamedInTheError) {
  auto expect_error = [&](const std::string& name, const std::string& text, bool weights, const std::string& part) {
    write_text(name, text);
    try {
      if (weights)
        load_weight_ranges(path(name));
      else
        load_act_ranges(path(name));
      ADD_FAILURE() << "no error for " << text;
    } catch (const Error& e) {
      const std::string msg = e.what();
      EXPECT_NE(msg.find(name), std::string::npos) << msg;
      EXPECT_NE(msg.find(part), std::string::npos) << msg;
    }
  };
  expect_error("a1.json", "{\"t\": [1, 2", false, "not valid JSON");
  expect_error("a2.json", "[1, 2]", false, "must hold an object");
  expect_error("a3.json", "{\"t\": [1]}", false, "'t'");
  expect_error("a4.json", "{\"t\": [\"1\", 2]}", false, "'t'");
  expect_error("a5.json", "{\"t\": [1, 1e300]}", false, "'t'");
  expect_error("w1.json", "{\"w\": [[1, 2], [3]]}", true, "'w'");
  expect_error("w2.json", "{\"w\": [1, 2]}", true, "'w'");
  EXPECT_THROW(load_act_ranges(path("missing.json")), Error);
  EXPECT_THROW(save_act_ranges(path("nan.json"), {{"t", {NAN, 1.f}}}), Error);
  EXPECT_FALSE(fs::exists(path("nan.json")));
}

}  // namespace
}  // namespace dpl::test
