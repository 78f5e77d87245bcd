// dipoorlet-infer: run an ONNX model on inputs in the calibration layout and write every
// graph output, optionally timing it. The runtime's public face and what the parity
// tests and benchmarks drive.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <filesystem>
#include <iostream>

#include "cli/limit_flags.h"
#include "graph/onnx_graph.h"
#include "io/atomic_file.h"
#include "io/calib_data.h"
#include "runtime/session.h"
#include "util/command_main.h"
#include "util/error.h"
#include "util/version.h"
#include "optimizer/prepare.h"

namespace fs = std::filesystem;
using namespace dpl;

namespace {

// "--input_shape x:1,3,640,640" fixes the shape of an input with symbolic dims.
std::map<std::string, Shape> parse_input_shapes(const std::vector<std::string>& specs) {
  std::map<std::string, Shape> r;
  for (const auto& s : specs) {
    auto colon = s.rfind(':');
    DPL_CHECK(colon != std::string::npos && colon > 0, "--input_shape '{}' is not NAME:D0,D1,...", s);
    Shape shape;
    std::string dims = s.substr(colon + 1);
    size_t pos = 0;
    while (pos <= dims.size()) {
      size_t comma = dims.find(',', pos);
      std::string d = dims.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
      try {
        shape.push_back(std::stoll(d));
      } catch (...) {
        fail("--input_shape '{}': '{}' is not a number", s, d);
      }
      if (comma == std::string::npos) break;
      pos = comma + 1;
    }
    r[s.substr(0, colon)] = shape;
  }
  return r;
}

int run(int argc, char** argv) {
  CLI::App app{"dipoorlet-infer: run an ONNX model with the Dipoorlet-C++ runtime"};
  std::string model, input_dir, out_dir;
  int count = 0, threads = 1, batch = 1, repeat = 0;
  std::vector<std::string> shapes;
  bool no_fuse = false;
  app.add_flag("--no_fuse", no_fuse, "run every node on its own (no Conv+BN/activation/Add fusion)");
  bool plain_layout = false;
  app.add_flag("--plain_layout", plain_layout,
               "keep every tensor in plain NCHW order (no channels-last tensors between convolutions)");
  app.add_option("-M,--model", model, "ONNX model")->required();
  app.add_option("-I,--input_dir", input_dir,
                 "inputs: <dir>/<input name>/<i>.bin (raw float32, batch included; a '/' in the name is a subfolder "
                 "or '_')")
      ->required();
  app.add_option("-N,--data_num", count, "number of samples")->required()->check(CLI::PositiveNumber);
  app.add_option("-O,--output_dir", out_dir, "writes <dir>/<output name>/<i>.bin ('/' in names becomes '_')")
      ->required();
  app.add_option("--threads", threads, "threads")->check(CLI::Range(1, 1024));
  app.add_option("--batch", batch, "samples per run")->check(CLI::Range(1, 1 << 20));
  app.add_option("--repeat", repeat, "time R runs over all samples after a warm-up; prints median_ms_per_sample")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--input_shape", shapes, "NAME:D0,D1,... for inputs with symbolic dimensions");
  add_limit_flags(app);
  app.set_version_flag("--version", std::string(kVersion));
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }

  OnnxGraph graph = OnnxGraph::load(model);
  prepare_model(graph);
  SessionOptions so;
  so.threads = threads;
  so.fuse = !no_fuse;  // plain inference: let kernels absorb their followers
  so.channels_last = !plain_layout;
  Session session(graph, so);

  auto fixed = parse_input_shapes(shapes);
  std::vector<InputSpec> specs;
  for (const auto& name : session.input_names()) {
    InputSpec s{name, session.input_shape(name), session.input_type(name)};
    if (s.dtype == DType::Undefined) s.dtype = DType::F32;
    if (fixed.count(name)) s.shape = fixed[name];
    // A symbolic batch dimension reads one sample per file.
    if (!s.shape.empty() && s.shape[0] < 0) s.shape[0] = 1;
    specs.push_back(s);
  }
  validate_samples(input_dir, specs, count);
  batch = batch_for_inputs(specs, batch);
  ensure_writable_dir(out_dir);

  auto run_all = [&](bool write) {
    for (int first = 0; first < count; first += batch) {
      int n = std::min(batch, count - first);
      TensorMap feeds;
      for (const auto& s : specs) feeds[s.name] = read_batch(input_dir, s, first, n);
      TensorMap outs = session.run(feeds);
      if (!write) continue;
      for (const auto& name : session.output_names()) {
        const Tensor& t = outs.at(name);
        std::string dir = (fs::path(out_dir) / file_safe_name(name)).string();
        fs::create_directories(dir);
        if (n == 1) {
          write_raw((fs::path(dir) / (std::to_string(first) + ".bin")).string(), t);
          continue;
        }
        DPL_CHECK(t.rank() > 0 && t.dim(0) % n == 0,
                  "output '{}' of shape {} does not have the batch as its first dimension; use --batch 1", name,
                  shape_str(t.shape()));
        int64_t rows = t.dim(0) / n;
        for (int k = 0; k < n; ++k)
          write_raw((fs::path(dir) / (std::to_string(first + k) + ".bin")).string(), t.slice_rows(k * rows, rows));
      }
    }
  };
  run_all(true);  // also the warm-up for timing
  if (repeat > 0) {
    std::vector<double> ms;
    for (int r = 0; r < repeat; ++r) {
      auto t0 = std::chrono::steady_clock::now();
      run_all(false);
      auto t1 = std::chrono::steady_clock::now();
      ms.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count() / count);
    }
    std::sort(ms.begin(), ms.end());
    std::cout << "median_ms_per_sample " << ms[ms.size() / 2] << std::endl;
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) { return dpl::command_main(run, argc, argv, true); }
