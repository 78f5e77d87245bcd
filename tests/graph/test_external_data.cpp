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
  // In range but not the tensor's size: refused when the tensor is read.
  OnnxGraph g = OnnxGraph::load(write_model("w.bin", "4", "8").string());
  try {
    g.get_initializer("w");
    ADD_FAILURE() << "an 8-byte [4] float tensor was read";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("raw data has 8 bytes, expected 16"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace dpl::test
