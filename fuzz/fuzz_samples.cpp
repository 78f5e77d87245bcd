// libFuzzer target: the calibration-sample readers on hostile files (docs/fuzzing.md). The
// first bytes choose one or two model inputs (name, declared shape with unknown, zero or huge
// dimensions, element type: what a model may declare) and how many samples; the rest become
// the <dir>/<input>/<i>.bin files, of the expected size or not, read by the folder sample
// source as `dipoorlet -I dir` does (size checks, the unknown dimension resolved from the file
// size, NaN/Inf samples skipped, batching). One input in four goes to the range-file readers
// (act_clip_val.json / weight_clip_val.json) instead.
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "calib/ranges.h"
#include "calib/sample_source.h"
#include "fuzz_common.h"
#include "io/calib_data.h"

namespace fs = std::filesystem;

namespace {

fs::path g_root;

void write_file(const fs::path& p, const std::string& bytes) {
  fs::create_directories(p.parent_path());
  std::ofstream(p, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

int64_t declared_dim(dpl::fuzz::ByteReader& in) {
  static const int64_t dims[] = {-1, 0, 1, 2, 3, 4, 7, 16, int64_t{1} << 31, int64_t{1} << 40, INT64_MAX};
  return dims[in.pick(static_cast<int>(std::size(dims)))];
}

void read_folder(dpl::fuzz::ByteReader& in, const fs::path& dir) {
  static const char* names[] = {"x", "gpu_0/data_0", "in put", "..", "a/../b"};
  static const dpl::DType types[] = {dpl::DType::F32, dpl::DType::U8, dpl::DType::I64, dpl::DType::F16,
                                     dpl::DType::Bool, dpl::DType::String, dpl::DType::Undefined};
  std::vector<dpl::InputSpec> inputs(1 + in.pick(2));
  const int count = 1 + in.pick(3);
  for (size_t k = 0; k < inputs.size(); ++k) {
    auto& spec = inputs[k];
    spec.name = names[in.pick(static_cast<int>(std::size(names)))] + std::string(k ? "2" : "");
    spec.dtype = types[in.pick(static_cast<int>(std::size(types)))];
    const int rank = in.pick(5);
    for (int d = 0; d < rank; ++d) spec.shape.push_back(declared_dim(in));
  }
  for (const auto& spec : inputs)
    for (int i = 0; i < count; ++i) {
      // The expected size when it is small and the fuzzer asks for it, else any length.
      int64_t want = 1;
      for (int64_t d : spec.shape) want = d > 0 && d < 4096 && want < 4096 ? want * d : -1;
      const size_t esz = dtype_size(spec.dtype);
      size_t len = in.byte();
      if (want > 0 && in.pick(4) != 0) len = static_cast<size_t>(want) * esz;
      std::string bytes(len, '\0');
      for (auto& b : bytes) b = static_cast<char>(in.byte());
      write_file(dir / spec.name / (std::to_string(i) + ".bin"), bytes);
    }
  dpl::FolderSampleSource source(dir.string(), inputs, count);
  const int batch = dpl::batch_for_inputs(source.inputs(), 1 + in.pick(2));
  for (int first = 0; first + batch <= source.count(); first += batch) source.batch(first, batch);
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  dpl::fuzz::quiet_logging();
  const fs::path base = fs::is_directory("/dev/shm") ? fs::path("/dev/shm") : fs::temp_directory_path();
  std::string tmpl = (base / "dpl-fuzz-samples-XXXXXX").string();
  if (mkdtemp(tmpl.data())) g_root = tmpl;
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (g_root.empty()) return 0;
  const fs::path dir = g_root / "data";
  fs::remove_all(dir);
  fs::create_directories(dir);
  dpl::fuzz::ByteReader in(data, size);
  dpl::fuzz::run_guarded([&] {
    switch (in.pick(8)) {
      case 0: write_file(dir / "act.json", in.rest()); dpl::load_act_ranges((dir / "act.json").string()); break;
      case 1: write_file(dir / "w.json", in.rest()); dpl::load_weight_ranges((dir / "w.json").string()); break;
      default: read_folder(in, dir / "samples");
    }
  });
  return 0;
}
