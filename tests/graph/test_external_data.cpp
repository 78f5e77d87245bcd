// External data is untrusted input (docs/reliability.md): a location outside the model's
// folder (a '..' path, an absolute path, a symbolic link pointing out) is refused, naming the
// tensor and the location, and so are offsets or lengths beyond the file and a missing file;
// locations inside the folder (subfolders and links that stay inside included) still load.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>

#include "cli_fixture.h"
#include "graph/model_builder.h"
#include "graph/onnx_graph.h"
#include "runtime/session.h"
#include "util/error.h"

namespace dpl::test {
namespace {

namespace fs = std::filesystem;

class ExternalData : public CliTest {
 protected:
  ExternalData() : CliTest("graph_tests/external_data", 0) {}
  void SetUp() override {
    CliTest::SetUp();
    fs::create_directories(model_dir());
    write_floats(work_ / "secret.bin");  // outside the model's folder
    write_floats(model_dir() / "w.bin");
  }
  fs::path model_dir() const { return work_ / "model"; }

  static void write_floats(const fs::path& p) {
    const float v[4] = {1.f, -2.f, 3.5f, 4.f};
    std::ofstream f(p, std::ios::binary);
    f.write(reinterpret_cast<const char*>(v), sizeof v);
  }

  // y = x * w with w [4] float read from `location` (offset/length as given, "" = absent);
  // `in_attribute`: the same tensor as ConstantOfShape's value instead (one element).
  fs::path write_model(const std::string& location, const std::string& offset = "", const std::string& length = "",
                       bool in_attribute = false) {
    ModelBuilder b;
    onnx::TensorProto t;
    t.set_name("w");
    t.set_data_type(onnx::TensorProto::FLOAT);
    t.add_dims(in_attribute ? 1 : 4);
    t.set_data_location(onnx::TensorProto::EXTERNAL);
    for (auto [k, v] : {std::pair<std::string, std::string>{"location", location}, {"offset", offset},
                        {"length", length}}) {
      if (v.empty()) continue;
      auto* e = t.add_external_data();
      e->set_key(k);
      e->set_value(v);
    }
    if (in_attribute) {
      b.input("x", {4}).init("shape", Tensor::from_vector<int64_t>({1}, {4}));
      b.node("ConstantOfShape", {"shape"}, {"c"}, "fill").attr("value", Tensor::from_vector<float>({1}, {0.f}));
      *b.model().mutable_graph()->mutable_node(0)->mutable_attribute(0)->mutable_t() = t;
      b.node("Mul", {"x", "c"}, {"y"}).output("y");
    } else {
      b.input("x", {4}).node("Mul", {"x", "w"}, {"y"}).output("y");
      *b.model().mutable_graph()->add_initializer() = t;
    }
    const fs::path path = model_dir() / "m.onnx";
    std::ofstream f(path, std::ios::binary);
    EXPECT_TRUE(b.model().SerializeToOstream(&f));
    return path;
  }

  // Loading fails with one line holding every part of `parts`.
  static void expect_refused(const fs::path& model, const std::vector<std::string>& parts) {
    try {
      OnnxGraph::load(model.string());
      ADD_FAILURE() << "loaded " << model;
    } catch (const Error& e) {
      const std::string what = e.what();
      for (const auto& p : parts) EXPECT_NE(what.find(p), std::string::npos) << "'" << p << "' not in: " << what;
      EXPECT_EQ(what.find('\n'), std::string::npos) << what;
    }
  }
};

TEST_F(ExternalData, LocationsInsideTheFolderLoad) {
  const std::vector<float> want{1.f, -2.f, 3.5f, 4.f};
  fs::create_directories(model_dir() / "sub");
  write_floats(model_dir() / "sub" / "w.bin");
  fs::create_symlink("sub/w.bin", model_dir() / "inside_link.bin");
  for (const char* loc : {"w.bin", "sub/w.bin", "sub/../w.bin", "./w.bin", "inside_link.bin"})
    EXPECT_EQ(OnnxGraph::load(write_model(loc).string()).get_initializer("w").to_f32_vector(), want) << loc;
  EXPECT_EQ(OnnxGraph::load(write_model("w.bin", "0", "16").string()).get_initializer("w").to_f32_vector(), want);
}

TEST_F(ExternalData, LocationsOutsideTheFolderAreRefused) {
  expect_refused(write_model("../secret.bin"), {"tensor 'w'", "'../secret.bin'", "outside the model's folder"});
  expect_refused(write_model("sub/../../secret.bin"), {"tensor 'w'", "outside the model's folder"});
  expect_refused(write_model("../../../../../../../../etc/passwd"), {"tensor 'w'", "outside the model's folder"});
  // Absolute paths, even of a file inside the folder.
  expect_refused(write_model((model_dir() / "w.bin").string()), {"tensor 'w'", "absolute path"});
  expect_refused(write_model("/etc/passwd"), {"tensor 'w'", "'/etc/passwd'", "absolute path"});
  // A link inside the folder pointing out of it, and a linked subfolder.
  fs::create_symlink("../secret.bin", model_dir() / "out_link.bin");
  expect_refused(write_model("out_link.bin"), {"tensor 'w'", "'out_link.bin'", "outside the model's folder"});
  fs::create_directories(work_ / "elsewhere");
  write_floats(work_ / "elsewhere" / "w.bin");
  fs::create_directory_symlink("../elsewhere", model_dir() / "linked_dir");
  expect_refused(write_model("linked_dir/w.bin"), {"tensor 'w'", "outside the model's folder"});
  // The folder itself is not a data file.
  expect_refused(write_model("."), {"tensor 'w'", "outside the model's folder"});
}

TEST_F(ExternalData, AttributeTensorsAreConfinedToo) {
  expect_refused(write_model("../secret.bin", "", "4", true), {"tensor 'w'", "outside the model's folder"});
  OnnxGraph g = OnnxGraph::load(write_model("w.bin", "4", "4", true).string());
  const auto& value = g.node(0).attribute(0).t();
  ASSERT_TRUE(value.has_raw_data());  // read at load, no longer a reference
  float v = 0;
  std::memcpy(&v, value.raw_data().data(), 4);
  EXPECT_EQ(v, -2.f);
}

TEST_F(ExternalData, RangesBeyondTheFileAndMissingFilesAreRefused) {
  expect_refused(write_model("w.bin", "17"), {"tensor 'w'", "beyond the end", "'w.bin'", "16 bytes"});
  expect_refused(write_model("w.bin", "8", "16"), {"tensor 'w'", "beyond the end"});
  expect_refused(write_model("w.bin", "0", "9223372036854775807"), {"tensor 'w'", "beyond the end"});
  expect_refused(write_model("w.bin", "-4"), {"tensor 'w'", "offset '-4'", "not a non-negative integer"});
  expect_refused(write_model("w.bin", "", "ten"), {"tensor 'w'", "length 'ten'", "not a non-negative integer"});
  expect_refused(write_model("absent.bin"), {"tensor 'w'", "'absent.bin'", "does not exist"});
  expect_refused(write_model(""), {"tensor 'w'", "without a location"});
  // In range but not the tensor's size: refused at load too, naming the file.
  expect_refused(write_model("w.bin", "4", "8"), {"tensor 'w'", "w.bin", "has 8 bytes, expected 16"});
}

// A model whose weight w ([n] float, values i * 0.5) lies in big.bin at `offset`.
class MappedWeights : public ExternalData {
 protected:
  static constexpr int64_t kN = 32768;  // 128 KiB: over the size read in at load
  fs::path write_big(int64_t offset, int64_t n = kN) {
    {
      std::ofstream f(model_dir() / "big.bin", std::ios::binary);
      const std::string pad(static_cast<size_t>(offset), '\x7f');
      f.write(pad.data(), static_cast<std::streamsize>(pad.size()));
      for (int64_t i = 0; i < n; ++i) {
        const float v = 0.5f * static_cast<float>(i);
        f.write(reinterpret_cast<const char*>(&v), sizeof v);
      }
    }
    ModelBuilder b;
    b.input("x", {n}).node("Mul", {"x", "w"}, {"y"}, "mul").output("y");
    onnx::TensorProto t;
    t.set_name("w");
    t.set_data_type(onnx::TensorProto::FLOAT);
    t.add_dims(n);
    t.set_data_location(onnx::TensorProto::EXTERNAL);
    for (auto [k, v] : {std::pair<std::string, std::string>{"location", "big.bin"},
                        {"offset", std::to_string(offset)}, {"length", std::to_string(n * 4)}}) {
      auto* e = t.add_external_data();
      e->set_key(k);
      e->set_value(v);
    }
    *b.model().mutable_graph()->add_initializer() = t;
    const fs::path path = model_dir() / "big.onnx";
    std::ofstream f(path, std::ios::binary);
    EXPECT_TRUE(b.model().SerializeToOstream(&f));
    return path;
  }
  static void expect_values(const Tensor& w, int64_t n = kN) {
    ASSERT_EQ(w.numel(), n);
    const float* d = w.data<float>();
    for (int64_t i = 0; i < n; ++i) ASSERT_EQ(d[i], 0.5f * static_cast<float>(i)) << i;
  }
};

TEST_F(MappedWeights, LargeTensorsAreViewedInTheirFileAndCopiedOnWrite) {
  OnnxGraph g = OnnxGraph::load(write_big(4096).string());
  EXPECT_EQ(g.mapped_bytes(), static_cast<size_t>(kN * 4));
  EXPECT_EQ(g.initializer_proto("w")->data_location(), onnx::TensorProto::EXTERNAL);
  const Tensor view = g.get_initializer("w");
  EXPECT_TRUE(view.is_view());
  expect_values(view);
  // A write goes to a copy of its own: the file and every other view keep the values.
  Tensor w = g.get_initializer("w");
  w.data<float>()[7] = -1.f;
  EXPECT_FALSE(w.is_view());
  EXPECT_EQ(w.data<float>()[7], -1.f);
  EXPECT_TRUE(view.is_view());
  expect_values(view);
  expect_values(g.get_initializer("w"));
  // A session runs on the view.
  Tensor x(DType::F32, {kN});
  for (int64_t i = 0; i < kN; ++i) x.data<float>()[i] = 2.f;
  const Tensor y = Session(g).run({{"x", x}}).at("y");
  for (int64_t i = 0; i < kN; i += 997) EXPECT_EQ(y.data<float>()[i], static_cast<float>(i)) << i;
}

TEST_F(MappedWeights, UnalignedAndSmallTensorsAreCopied) {
  // An offset the runtime's 64-byte alignment does not allow: a copy.
  const Tensor unaligned = OnnxGraph::load(write_big(4).string()).get_initializer("w");
  EXPECT_FALSE(unaligned.is_view());
  expect_values(unaligned);
  // Under 64 KiB: read into the model at load.
  OnnxGraph small = OnnxGraph::load(write_big(4096, 1000).string());
  EXPECT_EQ(small.mapped_bytes(), 0u);
  EXPECT_TRUE(small.initializer_proto("w")->has_raw_data());
  expect_values(small.get_initializer("w"), 1000);
}

TEST_F(MappedWeights, SavingElsewhereCarriesTheMappedWeights) {
  OnnxGraph g = OnnxGraph::load(write_big(4096).string());
  fs::create_directories(work_ / "out");
  // Inline: one file, loadable anywhere.
  const fs::path inline_path = work_ / "out" / "inline.onnx";
  EXPECT_FALSE(g.save(inline_path.string()));
  EXPECT_FALSE(fs::exists(inline_path.string() + ".data"));
  OnnxGraph a = OnnxGraph::load(inline_path.string());
  EXPECT_EQ(a.mapped_bytes(), 0u);
  expect_values(a.get_initializer("w"));
  EXPECT_EQ(OnnxGraph::from_model(onnx::ModelProto(g.model()), g.base_dir()).serialize(), a.serialize());
  // External: <file>.data beside it, each tensor at a 4 KiB boundary, viewed again on load.
  const fs::path ext_path = work_ / "out" / "ext.onnx";
  EXPECT_TRUE(g.save(ext_path.string(), true));
  ASSERT_TRUE(fs::exists(ext_path.string() + ".data"));
  EXPECT_EQ(fs::file_size(ext_path.string() + ".data"), static_cast<uintmax_t>(kN * 4));
  OnnxGraph b = OnnxGraph::load(ext_path.string());
  EXPECT_EQ(b.mapped_bytes(), static_cast<size_t>(kN * 4));
  EXPECT_TRUE(b.get_initializer("w").is_view());
  expect_values(b.get_initializer("w"));
  // Saved over the very file it maps: the new file replaces the old one whole.
  EXPECT_TRUE(b.save(ext_path.string(), true));
  expect_values(OnnxGraph::load(ext_path.string()).get_initializer("w"));
}

}  // namespace
}  // namespace dpl::test
