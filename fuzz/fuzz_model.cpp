// libFuzzer target: the model loader and the whole preparation on arbitrary bytes, as
// `dipoorlet -M file` does it: parse, external data against an empty folder, Constant to
// initializer, opset conversion, names, topological order, shape inference, simplification
// (constant folding runs the kernels), then creating the session. docs/fuzzing.md.
#include <filesystem>
#include <random>
#include <string>

#include "core/memory_budget.h"
#include "fuzz_common.h"
#include "graph/onnx_graph.h"
#include "model_mutator.h"
#include "optimizer/prepare.h"
#include "runtime/session.h"

namespace {

// External data is resolved against this folder: empty, so a file the fuzzer names is absent.
std::string g_model_dir;

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  dpl::fuzz::quiet_logging();
  // A 16 MB per-tensor budget (--max_tensor_mb 16): a few bytes of ConstantOfShape may ask for
  // gigabytes within the default budget (half the machine's memory), which constant folding
  // then fills, seconds per input under the sanitizers (at 64 MB, AlexNet's weights made by
  // ConstantOfShape took 14 s); the refusal path is the same.
  dpl::set_tensor_budget_bytes(size_t{16} << 20);
  std::string tmpl = (std::filesystem::temp_directory_path() / "dpl-fuzz-model-XXXXXX").string();
  if (mkdtemp(tmpl.data())) g_model_dir = tmpl;
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  dpl::fuzz::run_guarded([&] {
    onnx::ModelProto m;
    // OnnxGraph::load's checks, on bytes instead of a file.
    if (!m.ParseFromArray(data, static_cast<int>(size)) || !m.has_graph() || m.ir_version() <= 0) return;
    dpl::OnnxGraph g = dpl::OnnxGraph::from_model(std::move(m), g_model_dir);
    dpl::prepare_model(g);
    dpl::Session session(g);
  });
  return 0;
}

extern "C" size_t LLVMFuzzerCustomMutator(uint8_t* data, size_t size, size_t max_size, unsigned int seed) {
  onnx::ModelProto m;
  // One mutation in four stays a byte mutation, so the parser itself is fuzzed too.
  if (seed % 4 == 0 || !m.ParseFromArray(data, static_cast<int>(size))) return LLVMFuzzerMutate(data, size, max_size);
  dpl::fuzz::ModelMutator mutator(seed);
  if (!mutator.mutate(m)) return LLVMFuzzerMutate(data, size, max_size);
  std::string out;
  if (!m.SerializeToString(&out) || out.size() > max_size) return LLVMFuzzerMutate(data, size, max_size);
  std::memcpy(data, out.data(), out.size());
  return out.size();
}
