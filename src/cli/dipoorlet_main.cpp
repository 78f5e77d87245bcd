// dipoorlet: post-training quantization of an ONNX model (docs/spec.md 2). Flags of features not
// built yet are not accepted: the parser rejects them as unknown options.
#include <CLI/CLI.hpp>

#include <cstdlib>
#include <iostream>

#include "cli/limit_flags.h"
#include "cli/quantize_args.h"
#include "dist/agree.h"
#include "dist/launch.h"
#include "quant/platform.h"
#include "util/command_main.h"
#include "util/error.h"
#include "util/version.h"

using namespace dpl;

namespace {

std::string quote_args(int argc, char** argv) {
  std::string s;
  for (int i = 0; i < argc; ++i) s += (i ? " " : "") + std::string(argv[i]);
  return s;
}

int run(int argc, char** argv) {
  CLI::App app{"dipoorlet: post-training quantization of ONNX models for edge back ends (C++ rebuild of Dipoorlet)"};
  QuantizeArgs a;
  std::vector<std::string> shapes;
  app.add_option("-M,--model", a.model, "ONNX model")->required();
  app.add_option("-I,--input_dir", a.input_dir,
                 "calibration data: <dir>/<input name>/<i>.bin (raw float32; a '/' in the name is a subfolder or "
                 "'_'), or image files (see Image input)")
      ->required();
  app.add_option("-O,--output_dir", a.output_dir, "output folder (default: <model dir>/results)");
  app.add_option("-N,--data_num", a.data_num, "number of calibration samples")->required();
  app.add_option("-A,--act_quant", a.act_quant,
                 "activation calibration: minmax, hist (percentile), mse (OCTAV), lp (Lp-2.4 clip search), kl "
                 "(TensorRT entropy), output (consumer-output error); see docs/calibration.md")
      ->check(CLI::IsMember({"minmax", "hist", "mse", "lp", "kl", "output"}))
      ->capture_default_str();
  app.add_option("--w_range", a.w_range,
                 "weight ranges: minmax, mse (Lp-2.4 clip search per channel), or output (clip search per channel "
                 "for the smallest layer output error, from the calibration inputs' statistics)")
      ->check(CLI::IsMember({"minmax", "mse", "output"}))
      ->capture_default_str();
  app.add_flag("--no_weight_gain", a.no_weight_gain,
               "with --w_range mse or output: keep each clip's own quantization step (by default the searched "
               "weights' step is rescaled so clipping does not shrink the layer's output; docs/calibration.md)");
  app.add_option("-D,--deploy", a.deploy, "deploy platform")->required()->check(CLI::IsMember(platform_names()));
  app.add_option("--bins", a.bins, "histogram bins (hist, kl, lp, output)")->capture_default_str();
  app.add_option("--threshold", a.threshold, "cumulative-histogram threshold (hist)")->capture_default_str();
  add_qdq_flags(app, a.qdq);
  add_precision_flags(app, a.precision);
  app.add_flag("--savefp", a.savefp, "save FP32 network outputs per sample to <output>/output/");
  app.add_flag("--external_data", a.external_data,
               "write every model with its weights in '<model file>.data' beside it (models over 2 GB always are; "
               "docs/external_data.md)");
  auto* threads = app.add_option("--threads", a.threads,
                                 "threads (per rank in a distributed run, where the default is the rank's share of "
                                 "its host's cores)")
                      ->check(CLI::Range(1, 1024))
                      ->capture_default_str();
  app.add_option("--batch", a.batch, "samples per runtime call during calibration")
      ->check(CLI::Range(1, 1 << 16))
      ->capture_default_str();
  app.add_option("--input_shape", shapes, "NAME:D0,D1,... for inputs with symbolic dimensions");
  add_limit_flags(app);
  CLI::App* image_group = app.add_option_group("Image input", "when -I holds JPEG/PNG/BMP files (one-input models)");
  a.image.add_to(*image_group);
  add_transform_flags(app, a.transform);
  add_reconstruction_flags(app, a.recon);
  add_profile_flags(app, a.profile);
  add_deploy_flags(app, a.deploy_files);
  add_qop_flags(app, a.qop);
  CLI::App* dist_group = app.add_option_group("Distributed", "several processes, samples split (docs/distributed.md)");
  auto* mpirun = dist_group->add_flag("--mpirun", a.mpirun, "started by `mpirun -np K` (OpenMPI)");
  dist_group->add_flag("--slurm", a.slurm, "started by Slurm's `srun -n K -K --mpi=pmix`")->excludes(mpirun);
  app.set_version_flag("--version", std::string(kVersion));
  const dist::EnvLookup env = [](const char* name) -> const char* { return std::getenv(name); };
  // Under mpirun every rank meets the same flag errors: rank 0 alone says so.
  const bool quiet = dist::launcher_rank(env) > 0;
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return quiet ? e.get_exit_code() : app.exit(e);
  }
  std::unique_ptr<dist::Comm> comm;
  try {
    a.image_layout_given = image_group->count("--layout") > 0;
    resolve_reconstruction_flags(app, a.recon);
    for (const auto* opt : image_group->get_options()) a.image_flags_given |= opt->count() > 0;
    for (const auto& s : shapes) a.input_shapes.insert(parse_input_shape(s));
    a.command_line = quote_args(argc, argv);
    a.threads_given = threads->count() > 0;
    const dist::Launcher launcher = a.mpirun  ? dist::Launcher::Mpirun
                                    : a.slurm ? dist::Launcher::Slurm
                                              : dist::Launcher::None;
    dist::check_not_forgotten(launcher, env);
    comm = dist::start(launcher, env);
  } catch (const std::exception&) {
    if (quiet) return 1;
    throw;
  }
  try {
    run_quantize(a, *comm);
  } catch (const dist::AgreedError& e) {
    // Every rank knows: rank 0 says it once, and all end normally.
    if (!comm->distributed()) throw;
    if (comm->root()) std::cerr << "error: " << e.what() << std::endl;
    return 1;
  } catch (const std::exception& e) {
    if (!comm->distributed()) throw;
    // This rank failed alone: the others may be waiting for it in a collective.
    std::cerr << "error: " << (comm->root() ? "" : "rank " + std::to_string(comm->rank()) + ": ") << e.what()
              << std::endl;
    comm->abort(1);
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) { return dpl::command_main(run, argc, argv, true); }
