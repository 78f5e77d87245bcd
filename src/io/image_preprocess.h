// Image preprocessing for real calibration / inference data (docs/spec.md 3, beyond): decode JPEG or
// PNG, resize (bilinear), optionally letterbox or center-crop, pick RGB/BGR or grayscale,
// normalise with per-channel mean/std and lay the result out as a float32 NCHW or NHWC
// tensor with batch 1. dipoorlet-prep and the quantization pipeline's image flags use it.
//
// Normalisation: value = (pixel - mean[c]) / std[c], with pixel in 0..255 and mean/std in the
// same pixel units (ImageNet: mean 123.675,116.28,103.53, std 58.395,57.12,57.375; "x/255":
// mean 0, std 255; "x/127.5-1": mean 127.5, std 127.5). The channel order of mean/std is the
// order of the output channels (so with bgr, mean[0] applies to blue).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "core/tensor.h"

namespace dpl {

// 8-bit image, rows of interleaved channels (HWC), RGB or gray.
struct Image {
  int height = 0, width = 0, channels = 0;
  std::vector<uint8_t> pixels;
};

// Float image, HWC, pixel units (0..255 before normalisation).
struct ImageF {
  int height = 0, width = 0, channels = 0;
  std::vector<float> pixels;
  float at(int y, int x, int c) const { return pixels[(static_cast<size_t>(y) * width + x) * channels + c]; }
};

enum class ResizeMode {
  Stretch,    // resize to exactly height x width (aspect ratio not kept)
  Letterbox,  // scale to fit inside, keep aspect ratio, fill the rest with pad_value
  CenterCrop  // scale the short side to size / crop_ratio, then crop the center
};
enum class LetterboxAlign { Center, TopLeft };
enum class Layout { NCHW, NHWC };

struct PreprocessOptions {
  int height = 0, width = 0;  // output size; both required (> 0)
  ResizeMode resize = ResizeMode::Stretch;
  LetterboxAlign align = LetterboxAlign::Center;
  float pad_value = 0.0f;    // letterbox fill, pixel units, before normalisation
  float crop_ratio = 0.875f; // CenterCrop: output size / resized short side (224/256)
  int channels = 3;          // 3 = colour, 1 = grayscale
  bool bgr = false;          // colour order of the output channels
  std::vector<float> mean{0.0f};  // one value, or one per channel
  std::vector<float> std{1.0f};   // one value, or one per channel
  Layout layout = Layout::NCHW;
};

// Throws dpl::Error naming the problem (size not set, mean/std count, zero std...).
void validate(const PreprocessOptions& opts);

// Decodes a JPEG/PNG/BMP/... file with stb_image into `channels` (1 gray, 3 RGB) channels.
// Images over kMaxImagePixels (8192 x 8192) are refused before anything is allocated.
inline constexpr int64_t kMaxImagePixels = int64_t{1} << 26;
Image decode_image(const std::string& path, int channels = 3);
// What the header of an image file says, read as decode_image_memory reads it first: throws on
// a header stb_image cannot read safely (over 2 GB, PNM numbers over 2^26) or asking for more
// than kMaxImagePixels; width = height = 0 when stb does not recognise it.
struct ImageHeader {
  int width = 0, height = 0;
};
ImageHeader read_image_header(const std::string& bytes, const std::string& what = "image");
Image decode_image_memory(const std::string& bytes, int channels = 3, const std::string& what = "image");

// Bilinear resize with half-pixel centres (the usual align_corners=false rule of OpenCV's
// INTER_LINEAR and ONNX Resize "half_pixel"), no antialiasing. Returns float pixels.
ImageF resize_bilinear(const ImageF& src, int height, int width);
ImageF to_float(const Image& img);

// Resize/letterbox/crop per opts, without normalisation (pixel units, RGB or gray).
ImageF geometry(const Image& img, const PreprocessOptions& opts);
// The whole pipeline: [1, C, H, W] (NCHW) or [1, H, W, C] (NHWC) float32.
Tensor preprocess_image(const Image& img, const PreprocessOptions& opts);
Tensor load_image_tensor(const std::string& path, const PreprocessOptions& opts);

// Image files (jpg, jpeg, png, bmp; any case) directly in `dir`, sorted by name.
std::vector<std::string> list_images(const std::string& dir);

// Converts the first `max_count` (0 = all) images of `image_dir` into
// <out_dir>/<input name, '/' -> '_'>/<i>.bin. Returns the number written.
int convert_image_folder(const std::string& image_dir, const std::string& out_dir, const std::string& input_name,
                         const PreprocessOptions& opts, int max_count = 0);

// Fills size/channels/layout of `o` from a model input's shape where the flags left them open
// (an NHWC-looking input read without an explicit layout switches to NHWC), and checks the
// ones given against the known dims; throws naming the input and both shapes.
void fit_to_model_input(const Shape& shape, const std::string& name, PreprocessOptions& o, bool layout_given,
                        bool gray_given);
// Checks that `path` is an image stb can decode (header only; cheap); throws naming it.
void probe_image(const std::string& path);

// Flag parsing shared by the commands: "640" or "480,640" (H,W) / "123.675,116.28,103.53".
void parse_image_size(const std::string& s, int& height, int& width);
std::vector<float> parse_float_list(const std::string& s, const std::string& what);
Layout parse_layout(const std::string& s);
ResizeMode parse_resize_mode(const std::string& s);
LetterboxAlign parse_align(const std::string& s);

}  // namespace dpl
