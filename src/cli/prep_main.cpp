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
#include "util/command_main.h"
#include "util/error.h"
#include "util/version.h"

using namespace dpl;

namespace {

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
    fit_to_model_input(*shape, input, opts, app.count("--layout") > 0, flags.gray);
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

int main(int argc, char** argv) { return dpl::command_main(run, argc, argv); }
