// libFuzzer target: image decoding and preprocessing as `dipoorlet -I <image folder>` and
// dipoorlet-prep do it (docs/fuzzing.md): stb_image on the bytes (JPEG, PNG, BMP, GIF, PSD,
// TGA, HDR, PNM: stb goes by content, not by file name) to 1 or 3 channels, then resize,
// letterbox or center crop to a small size, channel order, normalisation and layout.
// Images whose header asks for more than 2^16 pixels are skipped: the tool accepts up to 2^26
// (kMaxImagePixels in io/image_preprocess.h, tested by ImageDecode.*), but decoding tens of megapixels under the
// sanitizers takes seconds per input and would spend the run on a few inputs; the header
// reading (read_image_header) that refuses larger ones runs on every input.
#include <string>

#include "fuzz_common.h"
#include "io/image_preprocess.h"

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  dpl::fuzz::quiet_logging();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  dpl::fuzz::ByteReader in(data, size);
  dpl::fuzz::run_guarded([&] {
    dpl::PreprocessOptions o;
    o.channels = in.pick(2) ? 3 : 1;
    o.height = 1 + in.pick(9);
    o.width = 1 + in.pick(9);
    o.resize = static_cast<dpl::ResizeMode>(in.pick(3));
    o.align = in.pick(2) ? dpl::LetterboxAlign::Center : dpl::LetterboxAlign::TopLeft;
    o.crop_ratio = (1 + in.pick(8)) / 8.f;
    o.bgr = in.pick(2);
    o.layout = in.pick(2) ? dpl::Layout::NCHW : dpl::Layout::NHWC;
    o.mean = {127.5f};
    o.std = {127.5f};
    dpl::validate(o);
    const std::string bytes = in.rest();
    const dpl::ImageHeader header = dpl::read_image_header(bytes, "fuzz input");
    if (int64_t{header.width} * header.height > (int64_t{1} << 16)) return;
    const dpl::Image img = dpl::decode_image_memory(bytes, o.channels, "fuzz input");
    // Some files the header reader rejects still decode (TGA): their size is known only now.
    if (int64_t{img.width} * img.height > (int64_t{1} << 16)) return;
    dpl::preprocess_image(img, o);
  });
  return 0;
}
