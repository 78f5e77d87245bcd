// The quantization run, in the original's order (__main__.py): load, calibrate, weight
// transforms, build the QDQ model, profile, deploy files (stages: cli/pipeline_context.h).
#include <fmt/ranges.h>
#include <spdlog/spdlog.h>

#include <algorithm>

#include <chrono>
#include <filesystem>
#include <optional>

#include "calib/image_sample_source.h"
#include "calib/ranges.h"
#include "calib/sample_source.h"
#include "calib/tensor_cali.h"
#include "calib/weight_range_search.h"
#include "cli/pipeline_context.h"
#include "cli/quantize_args.h"
#include "cli/stage_reconstruction.h"
#include "dist/agree.h"
#include "dist/launch.h"
#include "dist/rank_log.h"
#include "dist/reduce.h"
#include "dist/same_files.h"
#include "dist/share.h"
#include "graph/onnx_graph.h"
#include "io/atomic_file.h"
#include "io/calib_data.h"
#include "io/image_preprocess.h"
#include "optimizer/prepare.h"
#include "optimizer/simplifier.h"
#include "quant/platform.h"
#include "runtime/parallel.h"
#include "runtime/session.h"
#include "util/error.h"
#include "util/log.h"
#include "util/omp_env.h"
#include "util/progress.h"

namespace dpl {

namespace fs = std::filesystem;

std::string default_output_dir(const std::string& model) {
  fs::path dir = fs::absolute(fs::path(model)).parent_path();
  return (dir / "results").string();
}

std::pair<std::string, Shape> parse_input_shape(const std::string& spec) {
  auto colon = spec.rfind(':');
  DPL_CHECK(colon != std::string::npos && colon > 0 && colon + 1 < spec.size(),
            "--input_shape '{}' is not NAME:D0,D1,...", spec);
  Shape shape;
  std::string dims = spec.substr(colon + 1);
  size_t pos = 0;
  while (true) {
    size_t comma = dims.find(',', pos);
    std::string d = dims.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
    size_t used = 0;
    long long v = 0;
    try {
      v = std::stoll(d, &used);
    } catch (...) {
      used = 0;
    }
    DPL_CHECK(used == d.size() && !d.empty() && v > 0, "--input_shape '{}': '{}' is not a positive number", spec, d);
    shape.push_back(v);
    if (comma == std::string::npos) break;
    pos = comma + 1;
  }
  return {spec.substr(0, colon), shape};
}

std::string PipelineContext::out(const std::string& file) const {
  return (fs::path(args.output_dir) / file).string();
}

void PipelineContext::save_model(const OnnxGraph& g, const std::string& file) const {
  const bool external = g.save(out(file), args.external_data);
  spdlog::info("wrote {}{}", out(file), external ? fmt::format(" and its weights in {}.data", file) : "");
}

namespace {

// Writes FP32 network outputs per sample: output/<name>/onnx-output-<i>.bin (docs/spec.md 9).
void save_fp_outputs(const OnnxGraph& graph, SampleSource& data, const QuantizeArgs& args, int first_index) {
  SessionOptions so;
  so.threads = args.threads;
  so.fuse = true;
  Session session(graph, so);
  Progress bar("save FP32 outputs", data.count());
  for (int i = 0; i < data.count(); ++i) {
    TensorMap out = session.run(data.batch(i, 1));
    for (const auto& name : session.output_names()) {
      fs::path dir = fs::path(args.output_dir) / "output" / file_safe_name(name);
      fs::create_directories(dir);
      write_raw((dir / ("onnx-output-" + std::to_string(first_index + i) + ".bin")).string(), out.at(name));
    }
    bar.update(i + 1);
  }
  bar.finish();
}

// The calibration samples: the original's <dir>/<input>/<i>.bin layout, or (beyond) image
// files directly in the folder, preprocessed by the image flags, for a one-input model.
std::unique_ptr<SampleSource> open_samples(const QuantizeArgs& args, const std::vector<InputSpec>& inputs) {
  bool bin_layout = false;
  for (const auto& in : inputs) bin_layout |= fs::is_directory(input_folder(args.input_dir, in.name));
  const bool images = !bin_layout && fs::is_directory(args.input_dir) && !list_images(args.input_dir).empty();
  if (!images) {
    if (args.image_flags_given)
      spdlog::warn("{} holds the <input>/<i>.bin layout: the image preprocessing flags are ignored", args.input_dir);
    return std::make_unique<FolderSampleSource>(args.input_dir, inputs, args.data_num);
  }
  DPL_CHECK(inputs.size() == 1,
            "{} holds images, which feed models with one input; this model has {}: use the <dir>/<input name>/<i>.bin "
            "layout (dipoorlet-prep converts images into it)",
            args.input_dir, inputs.size());
  const InputSpec& in = inputs[0];
  DPL_CHECK(in.dtype == DType::F32, "model input '{}' is {}, images make float32", in.name, dtype_name(in.dtype));
  DPL_CHECK(!(args.image.bgr && args.image.gray), "--bgr and --gray exclude each other");
  PreprocessOptions opts = args.image.options();
  fit_to_model_input(in.shape, in.name, opts, args.image_layout_given, args.image.gray);
  auto src = std::make_unique<ImageSampleSource>(args.input_dir, in.name, opts, args.data_num);
  spdlog::info("calibration data: {} images of {} for input '{}', {}x{} {} {}, mean {} std {}", src->count(),
               args.input_dir, in.name, opts.height, opts.width, opts.channels == 1 ? "gray" : opts.bgr ? "BGR" : "RGB",
               opts.layout == Layout::NCHW ? "NCHW" : "NHWC", args.image.mean, args.image.std);
  return src;
}

// The model's inputs as the sample files hold them: --input_shape applied, a symbolic
// batch dimension read as one sample per file.
std::vector<InputSpec> sample_inputs(const OnnxGraph& graph, const QuantizeArgs& args) {
  std::vector<InputSpec> inputs = FolderSampleSource::graph_inputs(graph);
  for (auto& spec : inputs) {
    auto it = args.input_shapes.find(spec.name);
    if (it != args.input_shapes.end()) spec.shape = it->second;
    if (!spec.shape.empty() && spec.shape[0] < 0) spec.shape[0] = 1;
  }
  for (const auto& [name, shape] : args.input_shapes) {
    bool found = false;
    for (const auto& spec : inputs) found |= spec.name == name;
    DPL_CHECK(found, "--input_shape names '{}', which is not an input of the model", name);
  }
  return inputs;
}

CaliOptions cali_options(const QuantizeArgs& args, const Platform& platform, CaliAlgo algo) {
  CaliOptions c;
  c.algo = algo;
  c.bins = args.bins;
  c.threshold = args.threshold;
  c.bits = platform.act.bits;
  c.dynamic_sym = platform.act.dynamic_sym;
  c.symmetric = platform.act.symmetric;
  c.batch = args.batch;
  c.threads = args.threads;
  return c;
}

// The files of `dir` written since `since`, sorted (the folder may hold older ones).
std::vector<std::string> files_written_since(const std::string& dir, fs::file_time_type since) {
  std::vector<std::string> written;
  for (const auto& e : fs::directory_iterator(dir)) {
    std::error_code ec;
    if (e.last_write_time(ec) >= since && !ec) written.push_back(e.path().filename().string());
  }
  std::sort(written.begin(), written.end());
  return written;
}

void run_quantize_logged(const QuantizeArgs& in, dist::Comm& comm) {
  QuantizeArgs args = in;
  const auto t0 = std::chrono::steady_clock::now();
  setup_console_logging();
  dist::setup_rank_logging(comm);
  if (comm.distributed()) {
    if (!args.threads_given) args.threads = dist::default_threads(comm);
    const std::string w = dist::threads_warning(args.threads, usable_cpus());
    if (!w.empty()) spdlog::warn("{}", w);
  }
  // Work outside the sessions (profiling's statistics, weight transforms) runs at the
  // user's thread count too; sessions set their own while they run.
  const ThreadCountScope threads(std::max(1, args.threads));
  // Everything the user can get wrong is checked before any file is written, by all ranks
  // together (one line from rank 0 when any of them fails).
  std::optional<Platform> platform_checked;
  CaliAlgo algo{};
  WeightRangeAlgo w_range{};
  QdqOptions qdq;
  OnnxGraph graph;
  std::unique_ptr<SampleSource> source;
  dist::agree(comm, [&] {
    platform_checked.emplace(run_platform(args.qdq, platform_by_name(args.deploy)));
    algo = parse_cali_algo(args.act_quant);
    w_range = parse_weight_range_algo(args.w_range);
    DPL_CHECK(args.data_num > 0, "-N must be positive, got {}", args.data_num);
    DPL_CHECK(args.data_num >= comm.size(), "-N {} is fewer samples than the {} ranks: each rank needs at least one",
              args.data_num, comm.size());
    DPL_CHECK(args.bins > 0, "--bins must be positive, got {}", args.bins);
    DPL_CHECK(args.threshold > 0 && args.threshold <= 1, "--threshold must be in (0, 1], got {}", args.threshold);
    if (args.output_dir.empty()) args.output_dir = default_output_dir(args.model);
    qdq = qdq_options(args.qdq);
    qdq.precision = precision_plan(args.precision, *platform_checked);

    graph = OnnxGraph::load(args.model);
    SimplifyOptions simp;
    simp.input_shapes = args.input_shapes;
    prepare_model(graph, simp);
    const std::vector<InputSpec> inputs = sample_inputs(graph, args);
    args.batch = batch_for_inputs(inputs, args.batch);
    source = open_samples(args, inputs);
    DPL_CHECK(source->count() >= comm.size(), "{} usable samples for {} ranks: each rank needs at least one",
              source->count(), comm.size());
    check_precision_outputs(args, graph, *platform_checked, qdq);
    note_transformer_patterns(args.qdq, graph, *platform_checked);
  });
  const Platform& platform = *platform_checked;
  // On a cluster every host may hold its own copy of the model and the samples.
  std::vector<std::string> files = source->files();
  files.insert(files.begin(), args.model);
  dist::check_same_files(comm, files);
  // Rank 0 writes the files; the other ranks spill their training caches there too.
  std::string log_path;
  dist::agree(comm, [&] {
    if (!comm.root()) return;
    ensure_writable_dir(args.output_dir);
    log_path = add_log_file(args.output_dir, args.command_line);
  });
  if (!comm.root()) {
    std::error_code ec;
    fs::create_directories(args.output_dir, ec);
  }
  const auto start_file_time = comm.root() ? fs::last_write_time(log_path) : fs::file_time_type{};
  SampleSource& all = *source;
  const dist::Share share = dist::share_of(all.count(), comm.rank(), comm.size());
  SampleSlice slice(all, static_cast<int>(share.first), static_cast<int>(share.count));
  SampleSource& data = comm.distributed() ? static_cast<SampleSource&>(slice) : all;
  spdlog::info("model {} (opset 13 after preparation, {} nodes), platform {}, algorithm {}, {} samples{}", args.model,
               graph.node_count(), platform.name, args.act_quant, all.count(),
               comm.distributed() ? fmt::format(" over {} ranks ({} to {} each), {} thread(s) per rank", comm.size(),
                                                all.count() / comm.size(), (all.count() + comm.size() - 1) / comm.size(),
                                                args.threads)
                                  : "");

  PipelineContext ctx{args, platform, graph, all, data, comm};
  ctx.cali = cali_options(args, platform, algo);
  ctx.cali.reduce = [&comm](Observer& o, const std::string&) { dist::reduce_in_rank_order(comm, o); };
  ctx.qdq_options = std::move(qdq);
  ctx.weight_range.algo = w_range;
  // A reconstruction fits the weights itself, from the FP32 ones and the searched clips.
  ctx.weight_range.gain = !args.no_weight_gain && !args.recon.any();
  ctx.weight_range.threads = args.threads;
  // Clipped weights shift their layers' output means, which bias correction removes; the
  // reconstructions train against the layer outputs themselves (docs/calibration.md).
  if (w_range == WeightRangeAlgo::Mse && !args.transform.bc && !args.recon.any())
    spdlog::warn("--w_range mse clips weights, which shifts the layers' output means; add --bc to correct it "
                 "(docs/calibration.md)");
  // Each search starts from the FP32 weights and puts its gains into the model
  // (transform/weight_gain.h).
  auto search_weights = [&ctx] {
    transform::restore_weights(ctx.graph, ctx.fp_weights);
    ctx.weight = weight_ranges(ctx.graph, ctx.weight_range, &ctx.weight_gain);
    ctx.fp_weights = transform::apply_weight_gains(ctx.graph, ctx.weight, ctx.weight_gain, ctx.weight_range);
  };
  ctx.recompute_weight_ranges = [&ctx, search_weights] {
    refresh_precision(ctx);
    search_weights();
  };
  ctx.recalibrate = [&ctx, search_weights] {
    transform::restore_weights(ctx.graph, ctx.fp_weights);
    refresh_precision(ctx);
    StagedProgress bar("calibration");
    CaliOptions co = ctx.cali;
    co.progress = [&bar](int done, int total, const std::string& stage) { bar.update(stage, done, total); };
    if (ctx.weight_range.algo == WeightRangeAlgo::Output) {
      // Taken again after each transform that recalibrates; after bias correction (which
      // only recomputes the weight ranges) the inputs have moved too little to matter.
      ctx.input_moments = layer_input_moments(ctx.graph, ctx.data, co);
      ctx.weight_range.input_moments = &ctx.input_moments;
    }
    // Activations on the FP32 weights (as with min/max weight ranges), then the weight
    // search puts its gains into the model (measured: calibrating on the gained weights
    // instead cost the fmnist-dev ViT 1.3 dB at W4A8 trt, docs/benchmarks.md).
    ctx.act = calibrate_activations(ctx.graph, ctx.data, co);
    search_weights();
    apply_fixed_ranges(ctx);
    bar.finish();
    release_free_heap();
  };

  transform_before_calibration(ctx);
  log_precision(ctx);
  // The FP32 model to compare against: taken before calibration, which puts the searched
  // weights' gains into `graph` (profiling then compares against the FP32 weights).
  const bool gains = ctx.weight_range.gain && w_range != WeightRangeAlgo::MinMax;
  if (args.transform.bc || args.transform.we || args.transform.update_bn || args.recon.any() || gains)
    ctx.reference = graph.copy();
  ctx.recalibrate();
  ctx.first_act = ctx.act;
  dist::forward_warnings(comm);
  transform_after_calibration(ctx);
  release_free_heap();
  dist::forward_warnings(comm);
  reconstruction_stage(ctx);
  release_free_heap();
  dist::forward_warnings(comm);
  if (comm.root()) {
    save_act_ranges(ctx.out("act_clip_val.json"), ctx.act);
    save_weight_ranges(ctx.out("weight_clip_val.json"), ctx.weight);
  }

  qdq_stage(ctx);
  release_free_heap();
  profile_stage(ctx);
  release_free_heap();
  dist::forward_warnings(comm);
  if (comm.root()) {
    deploy_stage(ctx);
    qop_stage(ctx);
  }

  // Each rank writes the outputs of its own samples (numbered as in one process), of the
  // FP32 weights (not the searched weights' quantized values).
  transform::restore_weights(graph, ctx.fp_weights);
  if (args.savefp) save_fp_outputs(graph, data, args, static_cast<int>(share.first));
  dist::forward_warnings(comm);
  comm.barrier();

  if (comm.root()) {
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    spdlog::info("results in {}: {}", args.output_dir,
                 fmt::join(files_written_since(args.output_dir, start_file_time), ", "));
    spdlog::info("Total time cost: {:.1f} seconds.", secs);
  }
  stop_file_logging();
}

}  // namespace

void run_quantize(const QuantizeArgs& args, dist::Comm& comm) {
  try {
    run_quantize_logged(args, comm);
  } catch (const std::exception& e) {
    // The command prints the error on stderr; the log file (when it is open) gets it too.
    log_error_to_file(std::string("error: ") + e.what());
    stop_file_logging();
    throw;
  }
}

}  // namespace dpl
