// dipoorlet-prep: turn a folder of JPEG/PNG images into calibration / inference inputs in the
// tool's layout, <output_dir>/<input name>/<i>.bin (raw float32 of the input's full shape).
// With -M the input name, size, layout and channel count are checked against (or taken from)
// the model's input.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <iostream>

#include "cli/preprocess_flags.h"
#include "graph/onnx_graph.h"
#include "io/calib_data.h"
#include "io/image_preprocess.h"
#include "util/error.h"
#include "util/version.h"

using namespace dpl;

namespace {

// Fills size/channels from the model input's shape where the flags left them open, and
// checks the ones given against the known dims.
void match_model_input(const Shape& shape, const std::string& name, PreprocessOptions& o, bool layout_given,
                       bool gray_given) {
  DPL_CHECK(shape.size() == 4, "model input '{}' has shape {}, not an image batch (rank 4)", name, shape_str(shape));
  int64_t c, h, w;
  if (o.layout == Layout::NCHW) {
    c = shape[1], h = shape[2], w = shape[3];
    // An NHWC model (last dim 1 or 3) read without --layout: say so instead of failing on sizes.
    if (!layout_given && c != 1 && c != 3 && (shape[3] == 1 || shape[3] == 3)) {
      o.layout = Layout::NHWC;
      c = shape[3], h = shape[1], w = shape[2];
    }
  } else {
    h = shape[1], w = shape[2], c = shape[3];
  }
  if (c == 1 && !gray_given) o.channels = 1;
  DPL_CHECK(c < 0 || c == o.channels, "model input '{}' ({}) has {} channels, the preprocessing makes {}", name,
            shape_str(shape), c, o.channels);
  if (o.height == 0) {
    DPL_CHECK(h > 0 && w > 0, "model input '{}' has symbolic height/width ({}): give --image_size", name,
              shape_str(shape));
    o.height = static_cast<int>(h);
    o.width = static_cast<int>(w);
  }
  DPL_CHECK((h < 0 || h == o.height) && (w < 0 || w == o.width),
            "--image_size {}x{} does not match model input '{}' of shape {} ({})", o.height, o.width, name,
            shape_str(shape), o.layout == Layout::NCHW ? "NCHW" : "NHWC");
}

int run(int argc, char** argv) {
  CLI::App app{"dipoorlet-prep: convert an image folder into model inputs (<out>/<input name>/<i>.bin, float32)"};
  std::string images, out_dir, model, input;
  int count = 0;
  PreprocessFlags flags;
  app.add_option("-i,--images", images, "folder of JPEG/PNG/BMP images (sorted by file name)")->required();
  app.add_option("-O,--output_dir", out_dir, "output folder (the -I folder of dipoorlet-infer / the tool)")
      ->required();
  app.add_option("-M,--model", model, "ONNX model: takes the input name, size and layout from it and checks them");
  app.add_option("--input", input, "model input name (default: the model's only input)");
  app.add_option("-N,--data_num", count, "convert only the first N images (default: all)")
      ->check(CLI::NonNegativeNumber);
  flags.add_to(app);
  app.set_version_flag("--version", std::string(kVersion));
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }

  PreprocessOptions opts = flags.options();
  DPL_CHECK(!(flags.bgr && flags.gray), "--bgr and --gray exclude each other");
  if (!model.empty()) {
    OnnxGraph g = OnnxGraph::load(model);
    auto inputs = g.network_inputs();
    DPL_CHECK(!inputs.empty(), "model {} has no inputs", model);
    if (input.empty()) {
      DPL_CHECK(inputs.size() == 1, "model {} has {} inputs: choose one with --input", model, inputs.size());
      input = inputs[0];
    } else {
      DPL_CHECK(std::find(inputs.begin(), inputs.end(), input) != inputs.end(), "model {} has no input '{}'",
                model, input);
    }
    auto shape = g.tensor_shape(input);
    DPL_CHECK(shape.has_value(), "model input '{}' has no declared shape: give --image_size", input);
    match_model_input(*shape, input, opts, app.count("--layout") > 0, flags.gray);
  } else {
    DPL_CHECK(!input.empty(), "give the model input name with --input (or the model with -M)");
    DPL_CHECK(opts.height > 0, "give --image_size (or the model with -M)");
  }
  int n = convert_image_folder(images, out_dir, input, opts, count);
  std::cout << "wrote " << n << " samples of shape "
            << shape_str(opts.layout == Layout::NCHW ? Shape{1, opts.channels, opts.height, opts.width}
                                                     : Shape{1, opts.height, opts.width, opts.channels})
            << " to " << out_dir << "/" << file_safe_name(input) << "/" << std::endl;
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << std::endl;
    return 1;
  }
}
