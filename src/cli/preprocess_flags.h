// The image preprocessing flags (docs/spec.md 3, beyond), shared by dipoorlet-prep and the
// quantization command so both read image folders the same way. Header-only: the commands
// link CLI11, the core library does not.
#pragma once
#include <CLI/CLI.hpp>
#include <string>

#include "io/image_preprocess.h"

namespace dpl {

struct PreprocessFlags {
  std::string image_size, mean = "0", std = "1", layout = "NCHW", resize = "stretch", align = "center";
  float pad_value = 0.0f, crop_ratio = 0.875f;
  bool bgr = false, gray = false;

  void add_to(CLI::App& app) {
    app.add_option("--image_size", image_size, "model input size: SIZE or HEIGHT,WIDTH (default: from the model)");
    app.add_option("--mean", mean, "per-channel mean in pixel units 0..255, e.g. 123.675,116.28,103.53")
        ->capture_default_str();
    app.add_option("--std", std, "per-channel std in pixel units, e.g. 58.395,57.12,57.375 (255 = x/255)")
        ->capture_default_str();
    app.add_flag("--bgr", bgr, "channel order BGR instead of RGB");
    app.add_flag("--gray", gray, "one grayscale channel");
    app.add_option("--layout", layout, "NCHW or NHWC")->capture_default_str();
    app.add_option("--resize", resize, "stretch, letterbox (keep aspect, pad) or crop (resize short side, center crop)")
        ->capture_default_str();
    app.add_option("--pad_value", pad_value, "letterbox fill in pixel units (before normalisation)")
        ->capture_default_str();
    app.add_option("--letterbox_align", align, "center or topleft")->capture_default_str();
    app.add_option("--crop_ratio", crop_ratio, "crop: output size / resized short side")->capture_default_str();
  }

  // Size may stay 0x0 when --image_size was not given (the caller fills it from the model).
  PreprocessOptions options() const {
    PreprocessOptions o;
    if (!image_size.empty()) parse_image_size(image_size, o.height, o.width);
    o.mean = parse_float_list(mean, "mean");
    o.std = parse_float_list(std, "std");
    o.bgr = bgr;
    o.channels = gray ? 1 : 3;
    o.layout = parse_layout(layout);
    o.resize = parse_resize_mode(resize);
    o.align = parse_align(align);
    o.pad_value = pad_value;
    o.crop_ratio = crop_ratio;
    return o;
  }
};

}  // namespace dpl
