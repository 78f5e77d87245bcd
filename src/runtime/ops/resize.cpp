// Resize (opset 10, 11, 13) and Upsample (opset 7, 9): attribute parsing, the output shape
// from scales or sizes, and the choice of kernel.
//
// Every axis gets a table, built once per call (resize_tables.h): for each output position,
// the input positions it reads and their weights. The leading axes that are not resized
// (usually N and C) become independent slices run in parallel; nearest is a gather through
// the tables, linear and cubic are separable passes (resize_kernels.h). Nearest also takes
// channels-last tensors (runtime/channels_last.h) when N and C are not resized: each output
// position copies its input position's C values.
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "runtime/channels_last.h"
#include "runtime/op_registry.h"
#include "runtime/ops/fake_quant.h"
#include "runtime/ops/grad_kernels.h"
#include "runtime/ops/grad_util.h"
#include "runtime/ops/resize_kernels.h"
#include "runtime/ops/resize_tables.h"

namespace dpl {
namespace {

using resize::AxisTable;
using resize::build_axis;
using resize::Coord;
using resize::Mode;
using resize::resize_nearest;
using resize::resize_separable;
using resize::ResizeAttrs;
using resize::Round;

class ResizeOp : public Op {
 public:
  void init(const NodeDesc& node) override {
    name_ = node.name;
    op_ = node.op_type;
    const Attributes& at = node.attrs;
    const std::string mode = at.get_string("mode", "nearest");
    if (mode == "nearest") a_.mode = Mode::Nearest;
    else if (mode == "linear" || mode == "bilinear") a_.mode = Mode::Linear;
    else if (mode == "cubic" || mode == "bicubic") a_.mode = Mode::Cubic;
    else fail("{} '{}': unknown mode '{}'", op_, name_, mode);
    legacy_ = op_ == "Upsample" || node.opset < 11;
    if (legacy_) {
      DPL_CHECK(a_.mode != Mode::Cubic, "{} '{}': mode cubic needs Resize opset 11 or later", op_, name_);
      a_.coord = Coord::Asymmetric;
      a_.round = Round::Simple;
      attr_scales_ = at.get_floats("scales");
      return;
    }
    const std::string ct = at.get_string("coordinate_transformation_mode", "half_pixel");
    if (ct == "half_pixel") a_.coord = Coord::HalfPixel;
    else if (ct == "pytorch_half_pixel") a_.coord = Coord::PytorchHalfPixel;
    else if (ct == "align_corners") a_.coord = Coord::AlignCorners;
    else if (ct == "asymmetric") a_.coord = Coord::Asymmetric;
    else if (ct == "tf_half_pixel_for_nn") a_.coord = Coord::TfHalfPixelForNN;
    else if (ct == "tf_crop_and_resize") a_.coord = Coord::TfCropAndResize;
    else fail("{} '{}': unknown coordinate_transformation_mode '{}'", op_, name_, ct);
    const std::string nm = at.get_string("nearest_mode", "round_prefer_floor");
    if (nm == "round_prefer_floor") a_.round = Round::PreferFloor;
    else if (nm == "round_prefer_ceil") a_.round = Round::PreferCeil;
    else if (nm == "floor") a_.round = Round::Floor;
    else if (nm == "ceil") a_.round = Round::Ceil;
    else fail("{} '{}': unknown nearest_mode '{}'", op_, name_, nm);
    a_.cubic_a = at.get_float("cubic_coeff_a", -0.75f);
    a_.exclude_outside = at.get_int("exclude_outside", 0) != 0;
    a_.extrapolation = at.get_float("extrapolation_value", 0.f);
    fq_.init(node);
    DPL_CHECK(at.get_int("antialias", 0) == 0, "{} '{}': antialias is not supported", op_, name_);
    DPL_CHECK(!at.has("axes"), "{} '{}': the axes attribute (opset 18) is not supported", op_, name_);
  }

  // Nearest only copies values, so it absorbs its output's per-tensor fake quantization (a
  // QDQ model's pair after an upsampling) and quantizes the smaller side (CopyFakeQuant); not
  // with tf_crop_and_resize, whose extrapolated values are not copies.
  bool can_absorb(const NodeDesc& self, const NodeDesc& f, bool ready) const override {
    return self.op_type == "Resize" && self.opset >= 11 && self.attrs.get_string("mode", "nearest") == "nearest" &&
           self.attrs.get_string("coordinate_transformation_mode", "half_pixel") != "tf_crop_and_resize" &&
           CopyFakeQuant::can_absorb(self, f, ready);
  }

  // Every mode is linear in X: the backward is the transpose of the tables (grad_kernels.h).
  bool has_backward() const override { return !fq_.active(); }
  void backward(OpContext& ctx, const GradArgs& args) override {
    if (!grad::wants(args, 0)) return;
    Shape ys;
    int first = 0;
    const std::vector<AxisTable> ax = tables(ctx, args.inputs, ys, first);
    grad::resize(args, ax, op_ + " '" + name_ + "'");
  }

  bool accepts_channels_last(size_t input) const override { return input == 0 && a_.mode == Mode::Nearest; }

  void forward(OpContext& ctx, const std::vector<const Tensor*>& in_all, std::vector<Tensor>& out) override {
    const std::vector<const Tensor*> in(in_all.begin(), in_all.begin() + static_cast<long>(fq_.own_inputs(in_all.size())));
    resize(ctx, in, out);
    // An absorbed fake quantization not applied to the input (the output is not larger).
    if (fq_.active() && out[0].numel() <= in[0]->numel()) fq_.apply(out[0]);
  }

 private:
  void resize(OpContext& ctx, const std::vector<const Tensor*>& in, std::vector<Tensor>& out) {
    Shape ys;
    int first = in[0]->rank();
    const std::vector<AxisTable> ax = tables(ctx, in, ys, first);
    // A channels-last X stays so when N and C are not resized; otherwise it runs plain.
    const bool last = ctx.input_channels_last(0) && first >= 2;
    // An absorbed fake quantization goes on the smaller side: here, when the output is larger
    // (in X's memory order: quantizing does not care).
    Tensor quantized;
    if (fq_.active() && shape_numel(ys) > in[0]->numel()) {
      fq_.check_float(*in[0]);
      quantized = Tensor(DType::F32, in[0]->shape());
      fq_.parallel_copy(quantized.raw(), in[0]->raw(), in[0]->bytes());
    }
    const Tensor& x_in = quantized.defined() ? quantized : *in[0];
    const Tensor converted = ctx.input_channels_last(0) && !last ? channels_last_to_plain(x_in) : Tensor();
    const Tensor& x = converted.defined() ? converted : x_in;
    const int r = x.rank();
    out[0] = Tensor(x.dtype(), ys);
    if (last) ctx.out_channels_last[0] = 1;
    if (out[0].numel() == 0) return;
    DPL_CHECK(x.numel() > 0, "{} '{}': cannot resize an empty input to a non-empty output", op_, name_);
    if (first == r) {
      std::memcpy(out[0].raw(), x.raw(), x.bytes());
      return;
    }
    int64_t slices = 1;  // the leading axes not resized
    for (int d = 0; d < first; ++d) slices *= ys[d];
    if (a_.mode == Mode::Nearest) {
      // Nearest only copies values: it runs on elements of the type's size, the
      // extrapolation value as such an element's bytes (the low bytes of `ext`: little-endian).
      uint64_t ext = 0;
      dispatch_dtype(x.dtype(), [&](auto tag) {
        const auto v = static_cast<decltype(tag)>(a_.extrapolation);
        std::memcpy(&ext, &v, sizeof(v));
      });
      if (last) {
        resize::nearest_channels_last(ax, x.raw(), out[0].raw(), x.dim(1), dtype_size(x.dtype()), &ext);
        return;
      }
      nearest_by_size(ax, first, x, out[0], slices, ext);
      return;
    }
    if (x.dtype() == DType::F32) {
      resize_separable<float>(ax, first, x.data<float>(), out[0].data<float>(), slices, a_.extrapolation);
    } else if (x.dtype() == DType::F64) {
      resize_separable<double>(ax, first, x.data<double>(), out[0].data<double>(), slices, a_.extrapolation);
    } else {
      fail("{} '{}': {} mode needs float or double input, got {}", op_, name_,
           a_.mode == Mode::Linear ? "linear" : "cubic", dtype_name(x.dtype()));
    }
  }

  // Nearest on elements of x's size; `ext` holds the extrapolation value's bytes.
  static void nearest_by_size(const std::vector<AxisTable>& ax, int first, const Tensor& x, Tensor& y, int64_t slices,
                              uint64_t ext) {
    switch (dtype_size(x.dtype())) {
      case 1: resize_nearest<uint8_t>(ax, first, x.raw(), y.raw(), slices, static_cast<uint8_t>(ext)); break;
      case 2: resize_nearest<uint16_t>(ax, first, x.raw(), y.raw(), slices, static_cast<uint16_t>(ext)); break;
      case 4: resize_nearest<uint32_t>(ax, first, x.raw(), y.raw(), slices, static_cast<uint32_t>(ext)); break;
      default: resize_nearest<uint64_t>(ax, first, x.raw(), y.raw(), slices, ext); break;
    }
  }

  // The output shape and the table of every axis; `first` is the first axis resized (rank
  // when none is).
  std::vector<AxisTable> tables(const OpContext& ctx, const std::vector<const Tensor*>& in, Shape& ys,
                                int& first) const {
    const Tensor& x = *in[0];
    const int r = x.rank();
    const Targets tg = targets(ctx, in);
    const std::vector<double>& scales = tg.scales;
    const std::vector<int64_t>& sizes = tg.sizes;
    const std::vector<double>& roi = tg.roi;
    ys.assign(r, 0);
    std::vector<AxisTable> ax(r);
    first = r;
    for (int d = 0; d < r; ++d) {
      const int64_t n = x.shape()[d];
      double scale, len_out;
      if (!scales.empty()) {
        scale = scales[d];
        len_out = static_cast<double>(n) * scale;
        ys[d] = static_cast<int64_t>(std::floor(len_out));
      } else {
        ys[d] = sizes[d];
        scale = n > 0 ? static_cast<double>(sizes[d]) / static_cast<double>(n) : 1.0;
        len_out = static_cast<double>(sizes[d]);
      }
      const double r0 = roi.empty() ? 0.0 : roi[d], r1 = roi.empty() ? 1.0 : roi[r + d];
      ax[d] = build_axis(a_, n, ys[d], scale, len_out, r0, r1);
      if (!ax[d].identity && first == r) first = d;
    }
    return ax;
  }

  // What the inputs ask for: scales or sizes (one per axis), and the roi for
  // tf_crop_and_resize (2 * rank values; empty otherwise).
  struct Targets {
    std::vector<double> scales;
    std::vector<int64_t> sizes;
    std::vector<double> roi;
  };

  Targets targets(const OpContext& ctx, const std::vector<const Tensor*>& in) const {
    const Tensor& x = *in[0];
    const int r = x.rank();
    Targets tg;
    std::vector<double>& scales = tg.scales;
    std::vector<int64_t>& sizes = tg.sizes;
    std::vector<double>& roi = tg.roi;
    auto input = [&](size_t i) -> const Tensor* { return i < in.size() && in[i] && in[i]->numel() > 0 ? in[i] : nullptr; };
    if (legacy_) {
      if (const Tensor* s = input(1)) {
        for (int64_t i = 0; i < s->numel(); ++i) scales.push_back(static_cast<double>(static_cast<float>(s->at_f64(i))));
      } else {
        for (float f : attr_scales_) scales.push_back(f);
      }
      DPL_CHECK(!scales.empty(), "{} '{}': scales are required", op_, name_);
    } else {
      if (const Tensor* t = input(1)) roi = std::vector<double>(t->numel()), [&] {
          for (int64_t i = 0; i < t->numel(); ++i) roi[i] = t->at_f64(i);
        }();
      if (const Tensor* s = input(2)) {
        for (int64_t i = 0; i < s->numel(); ++i) scales.push_back(static_cast<double>(static_cast<float>(s->at_f64(i))));
      } else if (const Tensor* z = input(3)) {
        sizes = z->to_i64_vector();
        // Batch rule (as Reshape's): sizes folded at export time carry the exported batch
        // in dim 0. When the data's dim 0 is the batch actually fed, follow it.
        if (!sizes.empty() && r > 0 && ctx.actual_batch != ctx.declared_batch && sizes[0] == ctx.declared_batch &&
            x.shape()[0] == ctx.actual_batch)
          sizes[0] = ctx.actual_batch;
      } else {
        fail("{} '{}': one of scales or sizes must be given", op_, name_);
      }
    }
    if (!scales.empty()) {
      DPL_CHECK(static_cast<int>(scales.size()) == r, "{} '{}': {} scales for an input of rank {}", op_, name_,
                scales.size(), r);
      for (double s : scales) DPL_CHECK(s > 0, "{} '{}': scales must be positive", op_, name_);
    } else {
      DPL_CHECK(static_cast<int>(sizes.size()) == r, "{} '{}': {} sizes for an input of rank {}", op_, name_,
                sizes.size(), r);
      for (int64_t s : sizes) DPL_CHECK(s >= 0, "{} '{}': sizes must be non-negative", op_, name_);
    }
    // ONNX: roi only takes effect with tf_crop_and_resize; any other mode ignores it, whatever
    // its size (a roi of 1 value read as 2 * rank: fuzz_model).
    if (a_.coord != Coord::TfCropAndResize) roi.clear();
    if (a_.coord == Coord::TfCropAndResize) {
      if (roi.empty()) {
        roi.assign(2 * r, 0.0);
        for (int d = 0; d < r; ++d) roi[r + d] = 1.0;
      }
      DPL_CHECK(static_cast<int>(roi.size()) == 2 * r, "{} '{}': roi needs {} values, got {}", op_, name_, 2 * r,
                roi.size());
    }
    return tg;
  }

  std::string name_, op_;
  ResizeAttrs a_;
  CopyFakeQuant fq_;  // inactive unless the node absorbed its output's pair
  bool legacy_ = false;
  std::vector<float> attr_scales_;
};

}  // namespace

DPL_REGISTER_OP("Resize", ResizeOp);
DPL_REGISTER_OP("Upsample", ResizeOp);

}  // namespace dpl
