// The `dipoorlet` command's arguments (docs/spec.md 2) and the whole quantization run.
#pragma once
#include <map>
#include <string>
#include <vector>

#include "cli/preprocess_flags.h"
#include "cli/stage_deploy.h"
#include "cli/stage_precision.h"
#include "cli/stage_profile.h"
#include "cli/stage_qdq.h"
#include "cli/stage_qop.h"
#include "cli/stage_reconstruction.h"
#include "cli/stage_transform.h"
#include "core/tensor.h"
#include "dist/comm.h"

namespace dpl {

struct QuantizeArgs {
  std::string model, input_dir, output_dir;
  int data_num = 0;
  // Beyond the original (default mse, OCTAV): output never lost more than 0.002 output cosine
  // to minmax on the shared models, mse did (docs/calibration.md "Choosing the default").
  std::string act_quant = "output";
  std::string w_range = "minmax";  // --w_range: minmax | mse | output (docs/calibration.md)
  bool no_weight_gain = false;     // --no_weight_gain: the searches without their gain correction
  std::string deploy;
  int bins = 2048;
  double threshold = 0.99999;
  bool savefp = false;
  bool external_data = false;
  int threads = 1;
  int batch = 1;
  std::map<std::string, Shape> input_shapes;  // NAME:dims for inputs with symbolic dims
  // Image folders as calibration data (docs/spec.md 3, beyond).
  PreprocessFlags image;
  bool image_layout_given = false;  // --layout given (otherwise an NHWC-looking input switches to NHWC)
  bool image_flags_given = false;   // any image flag given
  // Each stage's own flags (cli/stage_*.h).
  TransformArgs transform;
  ReconArgs recon;
  QdqArgs qdq;
  PrecisionArgs precision;
  ProfileArgs profile;
  DeployArgs deploy_files;
  QopArgs qop;
  // The command line as given, for the log's first line.
  std::string command_line;
  // --mpirun / --slurm: a distributed run (docs/distributed.md); threads_given: --threads
  // was given (else ranks take cores / local ranks).
  bool mpirun = false, slurm = false, threads_given = false;
};

// Default output folder: <model dir>/results (docs/spec.md 2).
std::string default_output_dir(const std::string& model);
// "NAME:D0,D1,..." -> (NAME, shape). Throws on a malformed spec.
std::pair<std::string, Shape> parse_input_shape(const std::string& spec);

// Runs the pipeline: load + prepare, calibrate, build the QDQ model, write the files.
// Throws dpl::Error with one line naming the problem.
void run_quantize(const QuantizeArgs& args, dist::Comm& comm = dist::local_comm());

}  // namespace dpl
