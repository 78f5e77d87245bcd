// Image preprocessing: bilinear resize, letterbox, center crop, normalisation, channel order
// and layout against values worked out by hand; decoding against images encoded here with
// stb_image_write; the folder conversion against the single-image path.
#include <gtest/gtest.h>
#include <stb/stb_image_write.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <vector>

#include "io/calib_data.h"
#include "io/image_preprocess.h"
#include "util/error.h"

namespace fs = std::filesystem;

namespace dpl::test {
namespace {

ImageF gray_f(int h, int w, std::vector<float> v) { return ImageF{h, w, 1, std::move(v)}; }

Image gray_u8(int h, int w, const std::vector<int>& v) {
  Image img{h, w, 1, {}};
  for (int x : v) img.pixels.push_back(static_cast<uint8_t>(x));
  return img;
}

void expect_values(const std::vector<float>& got, const std::vector<float>& want, float tol = 1e-4f) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < want.size(); ++i) EXPECT_NEAR(got[i], want[i], tol) << "index " << i;
}

class TempDir {
 public:
  TempDir() {
    path_ = fs::temp_directory_path() / ("dpl_test_img_" + std::to_string(getpid()) + "_" + std::to_string(counter_++));
    fs::remove_all(path_);
    fs::create_directories(path_);
  }
  ~TempDir() { fs::remove_all(path_); }
  const fs::path& path() const { return path_; }

 private:
  static inline int counter_ = 0;
  fs::path path_;
};

TEST(ImageResize, UpsamplesWithHalfPixelCentres) {
  // Along an axis 2 -> 4 the taps are p0, .75p0+.25p1, .25p0+.75p1, p1 (clamped borders).
  ImageF src = gray_f(2, 2, {0, 100, 200, 40});
  ImageF r = resize_bilinear(src, 4, 4);
  EXPECT_EQ(r.height, 4);
  EXPECT_EQ(r.width, 4);
  expect_values(r.pixels, {0, 25, 75, 100,                 //
                           50, 58.75f, 76.25f, 85,         //
                           150, 126.25f, 78.75f, 55,       //
                           200, 160, 80, 40});
}

TEST(ImageResize, DownsamplesByAveragingNeighbours) {
  ImageF r = resize_bilinear(gray_f(1, 4, {0, 10, 20, 30}), 1, 2);
  expect_values(r.pixels, {5, 25});
  ImageF same = resize_bilinear(gray_f(1, 3, {1, 2, 3}), 1, 3);
  expect_values(same.pixels, {1, 2, 3});
}

TEST(ImageResize, KeepsChannelsApart) {
  ImageF src{1, 2, 3, {10, 20, 30, 50, 60, 70}};
  ImageF r = resize_bilinear(src, 1, 4);
  expect_values(r.pixels, {10, 20, 30, 20, 30, 40, 40, 50, 60, 50, 60, 70});
}

PreprocessOptions gray_opts(int h, int w) {
  PreprocessOptions o;
  o.height = h;
  o.width = w;
  o.channels = 1;
  return o;
}

TEST(ImageGeometry, LetterboxPadsCentredOrTopLeft) {
  Image img = gray_u8(2, 4, {1, 2, 3, 4, 5, 6, 7, 8});
  PreprocessOptions o = gray_opts(4, 4);
  o.resize = ResizeMode::Letterbox;
  o.pad_value = 114;
  expect_values(geometry(img, o).pixels, {114, 114, 114, 114, 1, 2, 3, 4, 5, 6, 7, 8, 114, 114, 114, 114});
  o.align = LetterboxAlign::TopLeft;
  expect_values(geometry(img, o).pixels, {1, 2, 3, 4, 5, 6, 7, 8, 114, 114, 114, 114, 114, 114, 114, 114});
}

TEST(ImageGeometry, LetterboxScalesDownKeepingAspect) {
  // 2x4 into 2x2: scale 0.5 -> 1x2 (each pixel the mean of a 2x2 block), one pad row below.
  Image img = gray_u8(2, 4, {0, 10, 20, 30, 40, 50, 60, 70});
  PreprocessOptions o = gray_opts(2, 2);
  o.resize = ResizeMode::Letterbox;
  o.pad_value = 7;
  expect_values(geometry(img, o).pixels, {25, 45, 7, 7});
}

TEST(ImageGeometry, CenterCropCutsTheMiddle) {
  // 4x8 image, pixel = 10x + y, to 2x2 with crop ratio 1: resized to 2x4 (2x2 block means,
  // (20x + 5) + (2y + 0.5)), then columns 1..2 are kept.
  std::vector<int> v;
  for (int y = 0; y < 4; ++y)
    for (int x = 0; x < 8; ++x) v.push_back(10 * x + y);
  PreprocessOptions o = gray_opts(2, 2);
  o.resize = ResizeMode::CenterCrop;
  o.crop_ratio = 1.0f;
  expect_values(geometry(gray_u8(4, 8, v), o).pixels, {25.5f, 45.5f, 27.5f, 47.5f});
}

// Found by fuzz_image (docs/fuzzing.md): the center crop resized the whole image first, so a
// 1 x 40000 image cropped to 8 x 8 at ratio 1/8 became 64 x 2,560,000 floats (and a 1 x 65536
// one took 28 s under the sanitizers). Only the window is computed now, with the same values.
TEST(ImageGeometry, CenterCropComputesOnlyTheWindow) {
  PreprocessOptions o = gray_opts(8, 8);
  o.resize = ResizeMode::CenterCrop;
  o.crop_ratio = 0.125f;
  std::vector<int> ramp(40000);
  for (int x = 0; x < 40000; ++x) ramp[x] = x % 251;
  const ImageF thin = geometry(gray_u8(1, 40000, ramp), o);
  ASSERT_EQ(thin.pixels.size(), 64u);
  // Resized to 64 x 2,560,000 (64x wider): the window's columns 1,279,996.. sample around
  // source column 19999.5 +- 0.5, where the ramp is 170 (x = 19999) and 171 (x = 20000).
  for (int y = 0; y < 8; ++y)
    for (int x = 0; x < 8; ++x) {
      const float v = thin.pixels[y * 8 + x];
      EXPECT_GE(v, 170.f) << x;
      EXPECT_LE(v, 171.f) << x;
    }
  // On an ordinary image the window equals the full resize then the crop, value for value.
  std::vector<int> v;
  for (int i = 0; i < 7 * 13; ++i) v.push_back((i * 37) % 256);
  const Image img = gray_u8(7, 13, v);
  o.height = o.width = 5;
  o.crop_ratio = 0.75f;
  const ImageF crop = geometry(img, o);
  const double r = std::max(5 / 0.75 / 7, 5 / 0.75 / 13);
  const int nh = std::max(5, static_cast<int>(std::lround(7 * r))), nw = std::max(5, static_cast<int>(std::lround(13 * r)));
  const ImageF full = resize_bilinear(to_float(img), nh, nw);
  const int top = (nh - 5) / 2, left = (nw - 5) / 2;
  for (int y = 0; y < 5; ++y)
    for (int x = 0; x < 5; ++x)
      EXPECT_EQ(crop.pixels[y * 5 + x], full.pixels[(y + top) * nw + x + left]) << y << "," << x;
}

Image rgb_1x2() { return Image{1, 2, 3, {10, 20, 30, 40, 50, 60}}; }

PreprocessOptions norm_opts() {
  PreprocessOptions o;
  o.height = 1;
  o.width = 2;
  o.mean = {1, 2, 3};
  o.std = {2, 4, 5};
  return o;
}

TEST(ImagePreprocess, NormalisesPerChannelInNchw) {
  Tensor t = preprocess_image(rgb_1x2(), norm_opts());
  EXPECT_EQ(t.shape(), (Shape{1, 3, 1, 2}));
  expect_values(t.to_f32_vector(), {4.5f, 19.5f, 4.5f, 12.0f, 5.4f, 11.4f});
}

TEST(ImagePreprocess, NhwcInterleavesChannels) {
  PreprocessOptions o = norm_opts();
  o.layout = Layout::NHWC;
  Tensor t = preprocess_image(rgb_1x2(), o);
  EXPECT_EQ(t.shape(), (Shape{1, 1, 2, 3}));
  expect_values(t.to_f32_vector(), {4.5f, 4.5f, 5.4f, 19.5f, 12.0f, 11.4f});
}

TEST(ImagePreprocess, BgrSwapsChannelsBeforeMeanStd) {
  PreprocessOptions o = norm_opts();
  o.bgr = true;
  // Output channel 0 is blue and uses mean[0]/std[0].
  expect_values(preprocess_image(rgb_1x2(), o).to_f32_vector(), {14.5f, 29.5f, 4.5f, 12.0f, 1.4f, 7.4f});
}

TEST(ImagePreprocess, SingleMeanStdAppliesToAllChannels) {
  PreprocessOptions o = norm_opts();
  o.mean = {127.5f};
  o.std = {127.5f};
  Tensor t = preprocess_image(Image{1, 2, 3, {0, 255, 127, 0, 0, 0}}, o);
  expect_values(t.to_f32_vector(), {-1, -1, 1, -1, -0.003921569f, -1});
}

TEST(ImagePreprocess, RejectsBadOptions) {
  PreprocessOptions o = norm_opts();
  o.std = {1, 0, 1};
  EXPECT_THROW(validate(o), Error);
  o = norm_opts();
  o.mean = {1, 2};
  EXPECT_THROW(validate(o), Error);
  o = norm_opts();
  o.height = 0;
  EXPECT_THROW(preprocess_image(rgb_1x2(), o), Error);
  o = norm_opts();
  o.channels = 1;
  o.mean = {0};
  o.std = {1};
  EXPECT_THROW(preprocess_image(rgb_1x2(), o), Error);  // 3-channel image, 1-channel pipeline
}

TEST(ImageDecode, PngRoundTripIsExact) {
  TempDir dir;
  const int w = 7, h = 5;
  std::vector<uint8_t> px(w * h * 3);
  for (size_t i = 0; i < px.size(); ++i) px[i] = static_cast<uint8_t>((i * 37 + 11) % 256);
  std::string p = (dir.path() / "a.png").string();
  ASSERT_TRUE(stbi_write_png(p.c_str(), w, h, 3, px.data(), w * 3));
  Image img = decode_image(p, 3);
  EXPECT_EQ(img.height, h);
  EXPECT_EQ(img.width, w);
  EXPECT_EQ(img.channels, 3);
  EXPECT_EQ(img.pixels, px);
}

TEST(ImageDecode, GrayFromEqualChannelsKeepsTheValue) {
  TempDir dir;
  std::vector<uint8_t> px = {0, 0, 0, 90, 90, 90, 255, 255, 255};
  std::string p = (dir.path() / "g.png").string();
  ASSERT_TRUE(stbi_write_png(p.c_str(), 3, 1, 3, px.data(), 9));
  Image img = decode_image(p, 1);
  EXPECT_EQ(img.pixels, (std::vector<uint8_t>{0, 90, 255}));
}

TEST(ImageDecode, JpegIsCloseToTheSource) {
  TempDir dir;
  const int w = 16, h = 16;
  std::vector<uint8_t> px(w * h * 3);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x)
      for (int c = 0; c < 3; ++c) px[(y * w + x) * 3 + c] = static_cast<uint8_t>(8 * x + 4 * y + 20 * c);
  std::string p = (dir.path() / "a.jpg").string();
  ASSERT_TRUE(stbi_write_jpg(p.c_str(), w, h, 3, px.data(), 100));
  Image img = decode_image(p, 3);
  ASSERT_EQ(img.pixels.size(), px.size());
  int worst = 0;
  for (size_t i = 0; i < px.size(); ++i) worst = std::max(worst, std::abs(int{img.pixels[i]} - int{px[i]}));
  EXPECT_LE(worst, 8);
}

// Found by fuzz_image (docs/fuzzing.md): a JPEG Huffman table whose 16 code counts add up to
// more than 256 made stb_image write past its table (UBSan: index 257 out of bounds).
TEST(ImageDecode, JpegHuffmanTableWithTooManyCodesIsRefused) {
  const int w = 16, h = 8;
  std::vector<uint8_t> px(w * h * 3, 90);
  std::string jpg;
  ASSERT_TRUE(stbi_write_jpg_to_func(
      [](void* ctx, void* data, int size) { static_cast<std::string*>(ctx)->append(static_cast<char*>(data), size); },
      &jpg, w, h, 3, px.data(), 90));
  EXPECT_EQ(decode_image_memory(jpg, 3, "good.jpg").width, w);  // the control
  const size_t dht = jpg.find("\xff\xc4");
  ASSERT_NE(dht, std::string::npos);
  for (const std::string& prefix : {std::string(), std::string(5, '\xff')}) {  // stb skips leading fill bytes
    std::string bad = prefix + jpg;
    for (size_t k = 0; k < 16; ++k) bad[prefix.size() + dht + 5 + k] = 17;  // 16 x 17 = 272 codes
    try {
      decode_image_memory(bad, 3, "bad.jpg");
      FAIL() << "no error";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("cannot decode bad.jpg: a JPEG Huffman table lists 272 codes"),
                std::string::npos)
          << e.what();
    }
  }
}

TEST(ImageDecode, ErrorsNameTheFile) {
  TempDir dir;
  std::string missing = (dir.path() / "none.jpg").string();
  try {
    decode_image(missing);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(missing), std::string::npos) << e.what();
  }
  std::string bad = (dir.path() / "bad.png").string();
  std::ofstream(bad) << "not an image";
  try {
    decode_image(bad);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(bad), std::string::npos) << e.what();
  }
}

// Found by fuzz_image (docs/fuzzing.md): an 18-byte TGA header saying 20000 x 20000 pixels
// made stb allocate 1.2 GB and fill it from the missing data (14 s under the sanitizers).
TEST(ImageDecode, HeaderAskingForAHugeImageIsRefusedBeforeDecoding) {
  std::string tga(18, '\0');
  tga[2] = 2;  // uncompressed true colour
  tga[12] = static_cast<char>(20000 & 255);
  tga[13] = static_cast<char>(20000 >> 8);
  tga[14] = tga[12];
  tga[15] = tga[13];
  tga[16] = 24;  // bits per pixel
  try {
    decode_image_memory(tga, 3, "big.tga");
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("big.tga: its header says 20000x20000 pixels"), std::string::npos) << e.what();
  }
  // The control: the same header at 2 x 2 with its 12 bytes of pixels decodes.
  tga[12] = tga[14] = 2;
  tga[13] = tga[15] = 0;
  tga += std::string(12, '\x40');
  const Image img = decode_image_memory(tga, 3, "small.tga");
  EXPECT_EQ(img.width, 2);
  EXPECT_EQ(img.pixels, std::vector<uint8_t>(12, 0x40));
}

// Found by fuzz_image (docs/fuzzing.md): stb_image reads PNM header numbers into an int with
// no overflow check (ten digits: undefined behaviour, a UBSan report), and converts 16-bit
// PNM channels with its 8-bit routine (a heap overflow). Both are refused first.
TEST(ImageDecode, PnmHeadersStbCannotReadSafelyAreRefused) {
  const std::string pixels(4, '\x20');
  for (const std::string& header : {std::string("P5 11111111111 2 255\n"), std::string("P6\n# c\n2\n#\n99999999999 255\n"),
                                    std::string("P5 2 2 4294967296\n")}) {
    try {
      decode_image_memory(header + pixels, 1, "big.pgm");
      FAIL() << "no error for " << header;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("cannot decode big.pgm: the "), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find(" in its PNM header is over 67108864"), std::string::npos) << e.what();
    }
  }
  // 16-bit PNM: this stb_image overflows its buffer converting the channels (fuzz_image).
  for (int channels : {1, 3}) {
    try {
      decode_image_memory("P6 2 2 65535\n" + std::string(24, '\x01'), channels, "deep.ppm");
      FAIL() << "no error";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("deep.ppm: 16-bit PNM images (maximum value 65535) are not supported"),
                std::string::npos)
          << e.what();
    }
  }
  // The control: a 2 x 2 PGM with a comment decodes.
  const Image img = decode_image_memory("P5\n# made by hand\n2 2\n255\n" + pixels, 1, "small.pgm");
  EXPECT_EQ(img.width, 2);
  EXPECT_EQ(img.height, 2);
  EXPECT_EQ(img.pixels, std::vector<uint8_t>(4, 0x20));
}

TEST(ImageFolder, ConvertsSortedImagesIntoTheCalibrationLayout) {
  TempDir dir;
  fs::path images = dir.path() / "images", out = dir.path() / "out";
  fs::create_directories(images);
  std::vector<std::vector<uint8_t>> pix;
  for (int i = 0; i < 3; ++i) {
    std::vector<uint8_t> px(6 * 4 * 3);
    for (size_t k = 0; k < px.size(); ++k) px[k] = static_cast<uint8_t>(k * (i + 3));
    // Written in reverse name order: the conversion must sort by name.
    std::string name = std::string(1, static_cast<char>('c' - i)) + ".PNG";
    ASSERT_TRUE(stbi_write_png((images / name).string().c_str(), 4, 6, 3, px.data(), 12));
    pix.push_back(px);
  }
  std::ofstream(images / "notes.txt") << "ignored";
  PreprocessOptions o;
  o.height = o.width = 4;
  o.mean = {100};
  o.std = {50};
  EXPECT_EQ(convert_image_folder(images.string(), out.string(), "data/0", o), 3);
  ASSERT_TRUE(fs::is_directory(out / "data_0"));
  EXPECT_FALSE(fs::exists(out / "data_0" / "3.bin"));
  std::vector<InputSpec> specs{{"data/0", {1, 3, 4, 4}, DType::F32}};
  validate_samples(out.string(), specs, 3);
  // Sample 0 is "a.PNG", the image written last.
  Tensor want = preprocess_image(Image{6, 4, 3, pix[2]}, o);
  Tensor got = read_sample(out.string(), specs[0], 0);
  expect_values(got.to_f32_vector(), want.to_f32_vector(), 0.0f);

  fs::path out2 = dir.path() / "out2";
  EXPECT_EQ(convert_image_folder(images.string(), out2.string(), "x", o, 2), 2);
  EXPECT_FALSE(fs::exists(out2 / "x" / "2.bin"));
  EXPECT_THROW(convert_image_folder(images.string(), out2.string(), "x", o, 4), Error);
  EXPECT_THROW(convert_image_folder((dir.path() / "missing").string(), out2.string(), "x", o), Error);
}

TEST(ImageFlags, ParseSizesAndLists) {
  int h = 0, w = 0;
  parse_image_size("640", h, w);
  EXPECT_EQ(h, 640);
  EXPECT_EQ(w, 640);
  parse_image_size("48,320", h, w);
  EXPECT_EQ(h, 48);
  EXPECT_EQ(w, 320);
  EXPECT_THROW(parse_image_size("abc", h, w), Error);
  EXPECT_THROW(parse_image_size("1,2,3", h, w), Error);
  EXPECT_THROW(parse_image_size("0", h, w), Error);
  EXPECT_THROW(parse_image_size("2.5", h, w), Error);
  EXPECT_EQ(parse_float_list("123.675, 116.28,103.53", "mean"), (std::vector<float>{123.675f, 116.28f, 103.53f}));
  EXPECT_THROW(parse_float_list("1,,2", "mean"), Error);
  EXPECT_THROW(parse_float_list("1x", "mean"), Error);
  EXPECT_EQ(parse_layout("NHWC"), Layout::NHWC);
  EXPECT_THROW(parse_layout("CHW"), Error);
  EXPECT_EQ(parse_resize_mode("letterbox"), ResizeMode::Letterbox);
  EXPECT_THROW(parse_resize_mode("fit"), Error);
  EXPECT_EQ(parse_align("topleft"), LetterboxAlign::TopLeft);
}

TEST(ImageReal, DecodesAPhotographWhenTheSharedDataIsThere) {
  fs::path p = fs::path(DPL_SOURCE_DIR) / ".." / "shared" / "data" / "imagenet-samples-200" / "n01440764_tench.JPEG";
  if (!fs::exists(p)) GTEST_SKIP() << "shared data not present: " << p;
  Image img = decode_image(p.string());
  EXPECT_GT(img.height, 32);
  EXPECT_GT(img.width, 32);
  PreprocessOptions o;
  o.height = o.width = 416;
  o.resize = ResizeMode::Letterbox;
  o.pad_value = 114;
  Tensor t = preprocess_image(img, o);
  EXPECT_EQ(t.shape(), (Shape{1, 3, 416, 416}));
  auto v = t.to_f32_vector();
  EXPECT_GE(*std::min_element(v.begin(), v.end()), 0.0f);
  EXPECT_LE(*std::max_element(v.begin(), v.end()), 255.0f);
}

}  // namespace
}  // namespace dpl::test
