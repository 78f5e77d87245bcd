#include "io/image_preprocess.h"

#include <stb/stb_image.h>

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "io/atomic_file.h"
#include "io/calib_data.h"
#include "util/error.h"

namespace dpl {

namespace fs = std::filesystem;

void validate(const PreprocessOptions& o) {
  DPL_CHECK(o.height > 0 && o.width > 0, "image size must be set and positive, got {}x{}", o.height, o.width);
  DPL_CHECK(o.channels == 1 || o.channels == 3, "images have 1 or 3 channels, got {}", o.channels);
  auto check_list = [&](const std::vector<float>& v, const char* what) {
    DPL_CHECK(v.size() == 1 || static_cast<int>(v.size()) == o.channels,
              "--{} needs 1 or {} values, got {}", what, o.channels, v.size());
    for (float x : v) DPL_CHECK(std::isfinite(x), "--{} values must be finite", what);
  };
  check_list(o.mean, "mean");
  check_list(o.std, "std");
  for (float s : o.std) DPL_CHECK(s != 0.0f, "--std values must not be 0");
  DPL_CHECK(o.crop_ratio > 0.0f && o.crop_ratio <= 1.0f, "crop ratio must be in (0, 1], got {}", o.crop_ratio);
}

namespace {

// stb_image reads the numbers of a binary PNM header (P5/P6) into an int, digit by digit,
// without an overflow check: ten digits are undefined behaviour (found by fuzz_image,
// docs/fuzzing.md). This walks the header as stb does (whitespace, '#' comments to the end
// of the line, width, height, maximum value) and refuses a number over 2^26 before stb
// sees it: larger than any dimension this tool decodes and than PNM's maximum value.
// 16-bit PNM (maximum value over 255) is refused too: this stb_image converts its channels
// with the 8-bit routine and then reads past the buffer (found by fuzz_image).
void check_pnm_header(const std::string& b, const std::string& what) {
  if (b.size() < 2 || b[0] != 'P' || (b[1] != '5' && b[1] != '6')) return;
  size_t i = 2;
  auto eof = [&] { return i >= b.size(); };
  auto next = [&]() -> char { return i < b.size() ? b[i++] : '\0'; };
  char c = next();
  auto skip_space_and_comments = [&] {
    for (;;) {
      while (!eof() && (c == ' ' || (c >= '\t' && c <= '\r'))) c = next();
      if (eof() || c != '#') break;
      while (!eof() && c != '\n' && c != '\r') c = next();
    }
  };
  for (const char* field : {"width", "height", "maximum value"}) {
    skip_space_and_comments();
    int64_t v = 0;
    while (!eof() && c >= '0' && c <= '9') {
      v = v * 10 + (c - '0');
      DPL_CHECK(v <= kMaxImagePixels, "cannot decode {}: the {} in its PNM header is over {}", what, field,
                kMaxImagePixels);
      c = next();
    }
    DPL_CHECK(std::string(field) != "maximum value" || v <= 255,
              "cannot decode {}: 16-bit PNM images (maximum value {}) are not supported", what, v);
  }
}

// This stb_image builds a JPEG Huffman table from the 16 code counts of a DHT segment without
// checking that they add up to at most 256 symbols, and writes past its 257-entry size list
// when they do (found by fuzz_image). The markers are walked as stb reads them (a byte that
// is not 0xFF is skipped, fill bytes too; a DHT segment is read table by table for as long as
// its length says, which is where stb goes on reading, every other segment is skipped by its
// length; entropy-coded data is skipped byte by byte up to the next marker), and a table
// whose counts add up to more than 256 is refused.
void check_jpeg_huffman_tables(const std::string& b, const std::string& what) {
  auto at = [&](size_t k) -> unsigned { return k < b.size() ? static_cast<unsigned char>(b[k]) : 0u; };
  // stb takes any run of 0xFF before the start-of-image marker as fill.
  size_t i = 0;
  if (at(0) != 0xFF) return;
  while (at(i) == 0xFF && i < b.size()) ++i;
  if (at(i) != 0xD8) return;
  ++i;
  while (i + 1 < b.size()) {
    if (at(i) != 0xFF) {
      ++i;
      continue;
    }
    const unsigned m = at(i + 1);
    if (m == 0xFF) {  // fill byte
      ++i;
      continue;
    }
    i += 2;
    // No segment: stuffed zero, RST0-7, TEM, SOI; EOI ends the image.
    if (m == 0x00 || m == 0x01 || (m >= 0xD0 && m <= 0xD8)) continue;
    if (m == 0xD9) break;
    const int64_t len = (static_cast<int64_t>(at(i)) << 8) | at(i + 1);
    if (m != 0xC4) {
      i += static_cast<size_t>(std::max<int64_t>(len, 2));
      continue;
    }
    int64_t left = len - 2;
    size_t p = i + 2;
    while (left > 0 && p < b.size()) {
      unsigned n = 0;
      for (size_t k = 0; k < 16; ++k) n += at(p + 1 + k);
      DPL_CHECK(n <= 256, "cannot decode {}: a JPEG Huffman table lists {} codes, more than the 256 a table can hold",
                what, n);
      p += 17 + n;
      left -= 17 + static_cast<int64_t>(n);
    }
    i = p;
  }
}

}  // namespace

ImageHeader read_image_header(const std::string& bytes, const std::string& what) {
  // stb_image counts bytes in an int.
  DPL_CHECK(bytes.size() <= static_cast<size_t>(INT32_MAX), "cannot decode {}: {} bytes is more than 2 GB", what,
            bytes.size());
  check_pnm_header(bytes, what);
  check_jpeg_huffman_tables(bytes, what);
  // The header alone sets the buffer stb allocates: a few bytes of TGA or PNM may ask for
  // gigabytes and seconds of work before the missing pixel data shows (docs/fuzzing.md).
  int w = 0, h = 0, n = 0;
  if (stbi_info_from_memory(reinterpret_cast<const unsigned char*>(bytes.data()), static_cast<int>(bytes.size()), &w,
                            &h, &n) != 1)
    return {};
  DPL_CHECK(static_cast<int64_t>(w) * h <= kMaxImagePixels, "cannot decode {}: its header says {}x{} pixels, more "
            "than the {} this tool decodes", what, w, h, kMaxImagePixels);
  return {w, h};
}

Image decode_image_memory(const std::string& bytes, int channels, const std::string& what) {
  DPL_CHECK(channels == 1 || channels == 3, "images are decoded to 1 or 3 channels, not {}", channels);
  read_image_header(bytes, what);
  int w = 0, h = 0, n = 0;
  unsigned char* p = stbi_load_from_memory(reinterpret_cast<const unsigned char*>(bytes.data()),
                                           static_cast<int>(bytes.size()), &w, &h, &n, channels);
  if (!p) fail("cannot decode {}: {}", what, stbi_failure_reason() ? stbi_failure_reason() : "unknown format");
  // stb's header reader and its decoder disagree on some files (a TGA whose header the first
  // rejects, found by fuzz_image): the decoded size is held to the same limit.
  if (static_cast<int64_t>(w) * h > kMaxImagePixels) {
    stbi_image_free(p);
    fail("cannot decode {}: it decodes to {}x{} pixels, more than the {} this tool decodes", what, w, h,
         kMaxImagePixels);
  }
  Image img;
  img.height = h;
  img.width = w;
  img.channels = channels;
  img.pixels.assign(p, p + static_cast<size_t>(w) * h * channels);
  stbi_image_free(p);
  return img;
}

Image decode_image(const std::string& path, int channels) {
  std::ifstream f(path, std::ios::binary);
  DPL_CHECK(f.good(), "cannot open image {}", path);
  std::ostringstream ss;
  ss << f.rdbuf();
  return decode_image_memory(ss.str(), channels, "image " + path);
}

ImageF to_float(const Image& img) {
  ImageF r{img.height, img.width, img.channels, {}};
  r.pixels.assign(img.pixels.begin(), img.pixels.end());
  return r;
}

namespace {

// Source coordinate and weights of one output index along an axis (half-pixel centres,
// clamped at the borders like OpenCV).
struct Tap {
  int i0, i1;
  float w1;
};

// Taps of output indices first..first+count-1 of an axis of `out` samples over `in`.
std::vector<Tap> taps(int in, int64_t out, int64_t first, int count) {
  std::vector<Tap> t(count);
  const double scale = static_cast<double>(in) / static_cast<double>(out);
  for (int k = 0; k < count; ++k) {
    double s = (static_cast<double>(first + k) + 0.5) * scale - 0.5;
    s = std::clamp(s, 0.0, static_cast<double>(in - 1));
    int i0 = static_cast<int>(std::floor(s));
    int i1 = std::min(i0 + 1, in - 1);
    t[k] = {i0, i1, static_cast<float>(s - i0)};
  }
  return t;
}

// The window (top, left, height x width) of `src` resized to full_h x full_w, computing only
// the window: a center crop of an image with an extreme aspect ratio would otherwise resize
// it to billions of pixels first (found by fuzz_image, docs/fuzzing.md).
ImageF resize_window(const ImageF& src, int64_t full_h, int64_t full_w, int64_t top, int64_t left, int height,
                     int width) {
  const int c = src.channels;
  auto ty = taps(src.height, full_h, top, height), tx = taps(src.width, full_w, left, width);
  ImageF r{height, width, c, std::vector<float>(static_cast<size_t>(height) * width * c)};
  std::vector<float> row0(static_cast<size_t>(width) * c), row1(row0.size());
  auto hresize = [&](int y, std::vector<float>& row) {
    const float* s = &src.pixels[static_cast<size_t>(y) * src.width * c];
    for (int x = 0; x < width; ++x)
      for (int k = 0; k < c; ++k) {
        float a = s[tx[x].i0 * c + k], b = s[tx[x].i1 * c + k];
        row[static_cast<size_t>(x) * c + k] = a + (b - a) * tx[x].w1;
      }
  };
  for (int y = 0; y < height; ++y) {
    hresize(ty[y].i0, row0);
    hresize(ty[y].i1, row1);
    float w = ty[y].w1;
    float* d = &r.pixels[static_cast<size_t>(y) * width * c];
    for (size_t i = 0; i < row0.size(); ++i) d[i] = row0[i] + (row1[i] - row0[i]) * w;
  }
  return r;
}

}  // namespace

ImageF resize_bilinear(const ImageF& src, int height, int width) {
  DPL_CHECK(src.height > 0 && src.width > 0, "cannot resize an empty image");
  DPL_CHECK(height > 0 && width > 0, "cannot resize to {}x{}", height, width);
  if (height == src.height && width == src.width) return src;
  return resize_window(src, height, width, 0, 0, height, width);
}

ImageF geometry(const Image& img, const PreprocessOptions& o) {
  validate(o);
  DPL_CHECK(img.height > 0 && img.width > 0, "empty image");
  DPL_CHECK(img.channels == o.channels, "image has {} channels, the preprocessing expects {}", img.channels,
            o.channels);
  ImageF f = to_float(img);
  switch (o.resize) {
    case ResizeMode::Stretch:
      return resize_bilinear(f, o.height, o.width);
    case ResizeMode::Letterbox: {
      double r = std::min(static_cast<double>(o.height) / img.height, static_cast<double>(o.width) / img.width);
      int nh = std::clamp(static_cast<int>(std::lround(img.height * r)), 1, o.height);
      int nw = std::clamp(static_cast<int>(std::lround(img.width * r)), 1, o.width);
      ImageF s = resize_bilinear(f, nh, nw);
      ImageF out{o.height, o.width, o.channels,
                 std::vector<float>(static_cast<size_t>(o.height) * o.width * o.channels, o.pad_value)};
      int top = o.align == LetterboxAlign::Center ? (o.height - nh) / 2 : 0;
      int left = o.align == LetterboxAlign::Center ? (o.width - nw) / 2 : 0;
      for (int y = 0; y < nh; ++y)
        std::copy_n(&s.pixels[static_cast<size_t>(y) * nw * o.channels], static_cast<size_t>(nw) * o.channels,
                    &out.pixels[(static_cast<size_t>(y + top) * o.width + left) * o.channels]);
      return out;
    }
    case ResizeMode::CenterCrop: {
      // The short side resized to size / crop_ratio, then the centre window of the output size.
      double r = std::max(o.height / o.crop_ratio / img.height, o.width / o.crop_ratio / img.width);
      const int64_t nh = std::max<int64_t>(o.height, std::llround(std::min(img.height * r, 1e18)));
      const int64_t nw = std::max<int64_t>(o.width, std::llround(std::min(img.width * r, 1e18)));
      return resize_window(f, nh, nw, (nh - o.height) / 2, (nw - o.width) / 2, o.height, o.width);
    }
  }
  fail("unknown resize mode");
}

Tensor preprocess_image(const Image& img, const PreprocessOptions& o) {
  ImageF g = geometry(img, o);
  const int C = o.channels, H = o.height, W = o.width;
  Shape shape = o.layout == Layout::NCHW ? Shape{1, C, H, W} : Shape{1, H, W, C};
  Tensor t(DType::F32, shape);
  float* d = t.data<float>();
  for (int c = 0; c < C; ++c) {
    const int src_c = (o.bgr && C == 3) ? 2 - c : c;  // output channel c reads this source channel
    const float mean = o.mean.size() == 1 ? o.mean[0] : o.mean[c];
    const float inv = 1.0f / (o.std.size() == 1 ? o.std[0] : o.std[c]);
    for (int y = 0; y < H; ++y)
      for (int x = 0; x < W; ++x) {
        float v = (g.at(y, x, src_c) - mean) * inv;
        size_t i = o.layout == Layout::NCHW ? (static_cast<size_t>(c) * H + y) * W + x
                                            : (static_cast<size_t>(y) * W + x) * C + c;
        d[i] = v;
      }
  }
  return t;
}

Tensor load_image_tensor(const std::string& path, const PreprocessOptions& o) {
  return preprocess_image(decode_image(path, o.channels), o);
}

std::vector<std::string> list_images(const std::string& dir) {
  DPL_CHECK(fs::is_directory(dir), "image folder {} does not exist", dir);
  std::vector<std::string> r;
  for (const auto& e : fs::directory_iterator(dir)) {
    if (!e.is_regular_file()) continue;
    std::string ext = e.path().extension().string();
    std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char ch) { return std::tolower(ch); });
    if (ext == ".jpg" || ext == ".jpeg" || ext == ".png" || ext == ".bmp") r.push_back(e.path().string());
  }
  std::sort(r.begin(), r.end());
  return r;
}

int convert_image_folder(const std::string& image_dir, const std::string& out_dir, const std::string& input_name,
                         const PreprocessOptions& opts, int max_count) {
  validate(opts);
  DPL_CHECK(!input_name.empty(), "the model input name must not be empty");
  auto files = list_images(image_dir);
  DPL_CHECK(!files.empty(), "no JPEG/PNG/BMP images in {}", image_dir);
  int n = static_cast<int>(files.size());
  if (max_count > 0) {
    DPL_CHECK(max_count <= n, "{} images requested but {} has only {}", max_count, image_dir, n);
    n = max_count;
  }
  std::string sub = (fs::path(out_dir) / file_safe_name(input_name)).string();
  ensure_writable_dir(sub);
  for (int i = 0; i < n; ++i) write_raw(sample_path(out_dir, input_name, i), load_image_tensor(files[i], opts));
  return n;
}

void parse_image_size(const std::string& s, int& height, int& width) {
  auto v = parse_float_list(s, "image_size");
  DPL_CHECK(v.size() == 1 || v.size() == 2, "--image_size '{}' must be SIZE or HEIGHT,WIDTH", s);
  for (float x : v)
    DPL_CHECK(x >= 1 && x <= 65536 && x == std::floor(x), "--image_size '{}' must hold positive integers", s);
  height = static_cast<int>(v[0]);
  width = static_cast<int>(v.size() == 2 ? v[1] : v[0]);
}

std::vector<float> parse_float_list(const std::string& s, const std::string& what) {
  std::vector<float> r;
  size_t pos = 0;
  while (true) {
    size_t comma = s.find(',', pos);
    std::string item = s.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
    size_t used = 0;
    float v = 0;
    try {
      v = std::stof(item, &used);
    } catch (...) {
      used = 0;
    }
    // Allow surrounding blanks only.
    bool ok = used > 0;
    for (size_t k = used; ok && k < item.size(); ++k) ok = std::isspace(static_cast<unsigned char>(item[k]));
    DPL_CHECK(ok, "--{} '{}': '{}' is not a number", what, s, item);
    r.push_back(v);
    if (comma == std::string::npos) break;
    pos = comma + 1;
  }
  return r;
}

Layout parse_layout(const std::string& s) {
  if (s == "NCHW" || s == "nchw") return Layout::NCHW;
  if (s == "NHWC" || s == "nhwc") return Layout::NHWC;
  fail("--layout must be NCHW or NHWC, got '{}'", s);
}

ResizeMode parse_resize_mode(const std::string& s) {
  if (s == "stretch") return ResizeMode::Stretch;
  if (s == "letterbox") return ResizeMode::Letterbox;
  if (s == "crop") return ResizeMode::CenterCrop;
  fail("--resize must be stretch, letterbox or crop, got '{}'", s);
}

LetterboxAlign parse_align(const std::string& s) {
  if (s == "center") return LetterboxAlign::Center;
  if (s == "topleft") return LetterboxAlign::TopLeft;
  fail("--letterbox_align must be center or topleft, got '{}'", s);
}

// Fills size/channels from the model input's shape where the flags left them open, and
// checks the ones given against the known dims.
void fit_to_model_input(const Shape& shape, const std::string& name, PreprocessOptions& o, bool layout_given,
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

void probe_image(const std::string& path) {
  int w = 0, h = 0, n = 0;
  DPL_CHECK(stbi_info(path.c_str(), &w, &h, &n) == 1, "cannot decode {}: {}", path,
            stbi_failure_reason() ? stbi_failure_reason() : "unreadable or not an image");
}

}  // namespace dpl
