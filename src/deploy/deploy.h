// Deploy files (docs/spec.md 11; the original's deploy/): the quantization-parameter files each back
// end's toolchain reads, written from the final ranges of the FP32 model after profiling, and
// two extra formats (**beyond**): a TensorRT calibration cache and AIMET/QNN encodings.
//
// Ranges the files use: the activation ranges, plus the weight ranges on platforms that deploy
// weights (stpu, rv, imx; Platform::deploy_weight), as the original's merged clip_val.
// Every tensor a file needs must have a range: a float32 graph input or node output without
// one, or a weighted node's weight without one, is an error naming the tensor (tensors of
// other types, shape tensors and indices, are left out of the files). Keys follow graph order
// (inputs, then node outputs in node order). docs/deploy.md lists each file, its rules and
// where it differs from the original.
#pragma once
#include <string>
#include <vector>

#include "calib/ranges.h"
#include "graph/onnx_graph.h"
#include "quant/platform.h"
#include "quant/qdq_builder.h"

namespace dpl {

struct DeployInput {
  const OnnxGraph& graph;     // the FP32 model the ranges belong to (after weight transforms)
  const Platform& platform;
  const ActRanges& act;
  const WeightRanges& weight;
  // The QDQ model built from the same ranges: the AIMET encodings take their weight
  // parameters from its weight pairs (the weights the platform quantizes). Null: none.
  const QdqModel* qdq = nullptr;
  bool stpu_wg = false;           // --stpu_wg: Winograd-domain weight ranges in stpu_minmax.json
  std::string act_algo = "mse";   // -A, recorded in the AIMET encodings' quantizer_args
};

// One file: its name in the output folder and its whole content.
struct DeployFile {
  std::string name;
  std::string content;
};

// The platform's own files (trt_clip_val.json, stpu_minmax.json, ...), in memory. Throws
// dpl::Error naming the tensor when a range the platform needs is missing.
std::vector<DeployFile> platform_deploy_files(const DeployInput& in);

// Extra formats, by name: "trt_cache" (trt_calib.cache), "aimet" (aimet_encodings.json).
const std::vector<std::string>& deploy_extra_names();
std::vector<DeployFile> extra_deploy_files(const DeployInput& in, const std::string& extra);

// Builds the platform's files and each extra's, then writes them into `out_dir` (each file
// atomically: an existing file is replaced whole, never left half-written), logging one line
// per file. Nothing is written when any file cannot be built. Returns the paths written.
std::vector<std::string> write_deploy_files(const DeployInput& in, const std::vector<std::string>& extras,
                                            const std::string& out_dir);

}  // namespace dpl
