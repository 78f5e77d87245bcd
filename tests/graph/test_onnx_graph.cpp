// OnnxGraph: editing with the lookup maps kept right, save/load (external data included),
// Constant -> initializer, names, topological order, clear errors on bad files, and the
// opset conversion of Softmax/Upsample.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <set>

#include "graph/model_builder.h"
#include "graph/onnx_graph.h"
#include "graph/tensor_proto.h"
#include "runtime/session.h"
#include "tensor_compare.h"
#include "util/error.h"
#include "optimizer/prepare.h"

namespace dpl::test {
namespace {

namespace fs = std::filesystem;

// A temporary folder removed at the end of the test.
struct TempDir {
  fs::path path;
  TempDir() {
    path = fs::temp_directory_path() /
           ("dpl_graph_test_" + std::to_string(::testing::UnitTest::GetInstance()->random_seed()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~TempDir() { fs::remove_all(path); }
  std::string file(const std::string& name) const { return (path / name).string(); }
};

// Every map of the graph agrees with a scan of its nodes.
void expect_maps_consistent(const OnnxGraph& g) {
  std::map<std::string, int> prod;
  std::map<std::string, std::vector<int>> cons;
  for (int i = 0; i < g.node_count(); ++i) {
    for (const auto& o : g.node(i).output()) prod[o] = i;
    for (const auto& in : g.node(i).input())
      if (cons[in].empty() || cons[in].back() != i) cons[in].push_back(i);
    if (!g.node(i).name().empty()) {
      EXPECT_EQ(g.node_index(g.node(i).name()), i);
    }
  }
  for (const auto& [t, i] : prod) EXPECT_EQ(g.producer(t), i) << t;
  for (const auto& [t, c] : cons) EXPECT_EQ(g.consumers(t), c) << t;
}

// x -> Relu(r) -> Sigmoid(y)
OnnxGraph chain() {
  ModelBuilder b;
  b.input("x", {2, 3}).node("Relu", {"x"}, {"r"}, "relu").node("Sigmoid", {"r"}, {"y"}, "sig").output("y");
  return b.graph();
}

TEST(OnnxGraph, InsertAndRemoveKeepMapsRight) {
  OnnxGraph g = chain();
  EXPECT_EQ(g.producer("r"), 0);
  EXPECT_EQ(g.producer("x"), -1);
  EXPECT_EQ(g.consumers("r"), std::vector<int>{1});
  // Insert Neg between Relu and Sigmoid.
  onnx::NodeProto neg;
  neg.set_op_type("Neg");
  neg.set_name("neg");
  neg.add_input("r");
  neg.add_output("n");
  g.insert_node(neg, 1);
  g.mutable_node(2).set_input(0, "n");
  g.update_maps();
  ASSERT_EQ(g.node_count(), 3);
  EXPECT_EQ(g.node(1).name(), "neg");
  EXPECT_EQ(g.node_index("sig"), 2);
  EXPECT_EQ(g.producer("n"), 1);
  EXPECT_EQ(g.consumers("r"), std::vector<int>{1});
  EXPECT_EQ(g.consumers("n"), std::vector<int>{2});
  expect_maps_consistent(g);
  // And remove it again.
  g.remove_node("neg");
  g.replace_uses("n", "r");
  ASSERT_EQ(g.node_count(), 2);
  EXPECT_EQ(g.producer("n"), -1);
  EXPECT_EQ(g.consumers("r"), std::vector<int>{1});
  EXPECT_FALSE(g.has_node("neg"));
  expect_maps_consistent(g);
  EXPECT_THROW(g.node_index("neg"), Error);
  EXPECT_THROW(g.remove_node(7), Error);
  EXPECT_THROW(g.insert_node(neg, 9), Error);
}

TEST(OnnxGraph, RemoveNodesKeepsOrder) {
  ModelBuilder b;
  b.input("x", {2});
  std::string prev = "x";
  for (int i = 0; i < 6; ++i) {
    b.node("Relu", {prev}, {"t" + std::to_string(i)}, "n" + std::to_string(i));
    prev = "t" + std::to_string(i);
  }
  b.output(prev);
  OnnxGraph g = b.graph();
  g.remove_nodes({1, 0, 0, 1, 0, 1});
  ASSERT_EQ(g.node_count(), 3);
  EXPECT_EQ(g.node(0).name(), "n1");
  EXPECT_EQ(g.node(1).name(), "n2");
  EXPECT_EQ(g.node(2).name(), "n4");
  expect_maps_consistent(g);
}

TEST(OnnxGraph, OutputsInitializersAndShapes) {
  OnnxGraph g = chain();
  EXPECT_EQ(g.network_inputs(), std::vector<std::string>{"x"});
  EXPECT_EQ(g.network_outputs(), std::vector<std::string>{"y"});
  g.infer_shapes();
  EXPECT_EQ(g.tensor_shape("r"), (Shape{2, 3}));
  EXPECT_EQ(g.value_type("r"), DType::F32);
  EXPECT_FALSE(g.tensor_shape("nothing").has_value());

  g.add_network_output("r");
  EXPECT_EQ(g.network_outputs(), (std::vector<std::string>{"y", "r"}));
  EXPECT_TRUE(g.is_network_output("r"));
  EXPECT_EQ(g.tensor_shape("r"), (Shape{2, 3}));  // the new output keeps the inferred type
  g.add_network_output("r");                     // no duplicate
  EXPECT_EQ(g.network_outputs().size(), 2u);
  g.del_network_output("r");
  EXPECT_EQ(g.network_outputs(), std::vector<std::string>{"y"});

  Tensor w = Tensor::from_vector<float>({3}, {1.f, 2.f, 3.f});
  g.set_initializer("w", w);
  EXPECT_TRUE(g.is_initializer("w"));
  expect_tensor_near(g.get_initializer("w"), w, 0, 0);
  EXPECT_EQ(g.tensor_shape("w"), (Shape{3}));
  g.set_initializer("w", Tensor::from_vector<int64_t>({2}, {7, 8}));  // replaces
  EXPECT_EQ(g.get_initializer("w").to_i64_vector(), (std::vector<int64_t>{7, 8}));
  EXPECT_EQ(g.graph().initializer_size(), 1);
  g.del_initializer("w");
  EXPECT_FALSE(g.is_initializer("w"));
  EXPECT_THROW(g.get_initializer("w"), Error);

  g.set_input_shape("x", {5, -1});  // -1: as declared
  EXPECT_EQ(g.tensor_shape("x"), (Shape{5, 3}));
  EXPECT_THROW(g.set_input_shape("x", {5, 3, 1}), Error);
  EXPECT_THROW(g.set_input_shape("nope", {1}), Error);
  EXPECT_NE(g.unique_tensor_name("r"), "r");
  EXPECT_EQ(g.unique_tensor_name("fresh"), "fresh");
}

TEST(OnnxGraph, CopyIsIndependent) {
  OnnxGraph g = chain();
  OnnxGraph c = g.copy();
  c.remove_node(0);
  c.replace_uses("r", "x");
  EXPECT_EQ(g.node_count(), 2);
  EXPECT_EQ(c.node_count(), 1);
  EXPECT_EQ(g.producer("r"), 0);
  EXPECT_EQ(c.producer("r"), -1);
  expect_maps_consistent(g);
  expect_maps_consistent(c);
}

OnnxGraph model_with_weights() {
  ModelBuilder b;
  b.input("x", {1, 4096})
      .init("w", random_tensor({4096}, 1))
      .init("small", Tensor::from_vector<float>({2}, {1.f, 2.f}))
      .init("idx", Tensor::from_vector<int64_t>({300}, std::vector<int64_t>(300, 3)))
      .node("Mul", {"x", "w"}, {"y"}, "mul")
      .output("y");
  // A large tensor in float_data (not raw) must go to external data too.
  onnx::TensorProto* t = b.model().mutable_graph()->add_initializer();
  t->set_name("typed");
  t->set_data_type(onnx::TensorProto::FLOAT);
  t->add_dims(512);
  for (int i = 0; i < 512; ++i) t->add_float_data(0.5f * i);
  return b.graph();
}

void expect_same_initializers(const OnnxGraph& a, const OnnxGraph& b) {
  ASSERT_EQ(a.graph().initializer_size(), b.graph().initializer_size());
  for (const auto& init : a.graph().initializer()) {
    SCOPED_TRACE(init.name());
    ASSERT_TRUE(b.is_initializer(init.name()));
    expect_tensor_near(b.get_initializer(init.name()), a.get_initializer(init.name()), 0, 0);
  }
}

TEST(OnnxGraph, SaveAndReloadEqual) {
  TempDir dir;
  OnnxGraph g = model_with_weights();
  g.save(dir.file("m.onnx"));
  EXPECT_FALSE(fs::exists(dir.file("m.onnx.data")));
  OnnxGraph r = OnnxGraph::load(dir.file("m.onnx"));
  EXPECT_EQ(r.serialize(), g.serialize());
  expect_same_initializers(g, r);
}

TEST(OnnxGraph, SaveWithForcedExternalData) {
  TempDir dir;
  OnnxGraph g = model_with_weights();
  g.save(dir.file("m.onnx"), /*force_external=*/true);
  ASSERT_TRUE(fs::exists(dir.file("m.onnx.data")));
  // The file itself references the data file for the big tensors only.
  onnx::ModelProto raw;
  {
    std::ifstream f(dir.file("m.onnx"), std::ios::binary);
    ASSERT_TRUE(raw.ParseFromIstream(&f));
  }
  std::set<std::string> external;
  for (const auto& t : raw.graph().initializer())
    if (t.data_location() == onnx::TensorProto::EXTERNAL) {
      external.insert(t.name());
      EXPECT_FALSE(t.has_raw_data());
      EXPECT_EQ(t.float_data_size(), 0);
    }
  EXPECT_EQ(external, (std::set<std::string>{"w", "idx", "typed"}));
  EXPECT_GE(fs::file_size(dir.file("m.onnx.data")), 4096u * 4 + 300 * 8 + 512 * 4);
  EXPECT_LT(fs::file_size(dir.file("m.onnx")), 1024u);
  // Reloading reads it back into memory; the data file may then go away.
  OnnxGraph r = OnnxGraph::load(dir.file("m.onnx"));
  fs::remove(dir.file("m.onnx.data"));
  expect_same_initializers(g, r);
  for (const auto& t : r.graph().initializer()) EXPECT_NE(t.data_location(), onnx::TensorProto::EXTERNAL);
  // Copies made after loading are complete models.
  r.save(dir.file("again.onnx"));
  expect_same_initializers(g, OnnxGraph::load(dir.file("again.onnx")));
}

TEST(OnnxGraph, BadFilesGiveClearErrors) {
  TempDir dir;
  auto expect_error = [](const std::string& path, const std::string& part) {
    try {
      OnnxGraph::load(path);
      ADD_FAILURE() << "no error for " << path;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(part), std::string::npos) << e.what();
      EXPECT_EQ(std::string(e.what()).find('\n'), std::string::npos) << e.what();
    }
  };
  expect_error(dir.file("missing.onnx"), "does not exist");
  expect_error(dir.path.string(), "not a file");
  OnnxGraph g = model_with_weights();
  std::string bytes = g.serialize();
  {
    std::ofstream f(dir.file("truncated.onnx"), std::ios::binary);
    f.write(bytes.data(), static_cast<std::streamsize>(bytes.size() / 2));
  }
  expect_error(dir.file("truncated.onnx"), "not a valid ONNX model");
  {
    std::ofstream f(dir.file("text.onnx"));
    f << "this is not a model at all, just some text\n";
  }
  expect_error(dir.file("text.onnx"), "not a valid ONNX model");
  { std::ofstream f(dir.file("empty.onnx")); }
  expect_error(dir.file("empty.onnx"), "not a valid ONNX model");
  // External data that is missing.
  g.save(dir.file("ext.onnx"), true);
  fs::remove(dir.file("ext.onnx.data"));
  expect_error(dir.file("ext.onnx"), "does not exist");
}

TEST(OnnxGraph, ConstantNodesBecomeInitializers) {
  ModelBuilder b;
  b.input("x", {3})
      .node("Constant", {}, {"c_tensor"})
      .attr("value", Tensor::from_vector<float>({3}, {1.f, 2.f, 3.f}))
      .node("Constant", {}, {"c_float"})
      .attr("value_float", 0.5f)
      .node("Constant", {}, {"c_ints"})
      .attr("value_ints", std::vector<int64_t>{1, 3})
      .node("Add", {"x", "c_tensor"}, {"a"})
      .node("Mul", {"a", "c_float"}, {"y"})
      .output("y")
      .output("c_ints");
  OnnxGraph g = b.graph();
  g.convert_constant_to_init();
  ASSERT_EQ(g.node_count(), 2);
  for (const auto& n : g.graph().node()) EXPECT_NE(n.op_type(), "Constant");
  EXPECT_EQ(g.get_initializer("c_tensor").to_f32_vector(), (std::vector<float>{1.f, 2.f, 3.f}));
  Tensor f = g.get_initializer("c_float");
  EXPECT_EQ(f.shape(), Shape{});
  EXPECT_EQ(f.to_f32_vector(), std::vector<float>{0.5f});
  EXPECT_EQ(g.get_initializer("c_ints").dtype(), DType::I64);
  EXPECT_EQ(g.get_initializer("c_ints").to_i64_vector(), (std::vector<int64_t>{1, 3}));
  expect_maps_consistent(g);
}

TEST(OnnxGraph, ExternalDataOfConstantNodesAndInitializersIsRead) {
  TempDir dir;
  std::vector<float> wv = {1.f, -2.f, 3.5f, 4.f}, cv = {0.5f, 0.25f, -1.f, 8.f};
  {
    std::ofstream f(dir.file("weights.bin"), std::ios::binary);
    f.write("pad!", 4);  // offsets are honoured
    f.write(reinterpret_cast<const char*>(wv.data()), 16);
    f.write(reinterpret_cast<const char*>(cv.data()), 16);
  }
  auto external = [](onnx::TensorProto& t, const std::string& name, int64_t offset) {
    t.set_name(name);
    t.set_data_type(onnx::TensorProto::FLOAT);
    t.add_dims(4);
    t.set_data_location(onnx::TensorProto::EXTERNAL);
    for (auto [k, v] : {std::pair<std::string, std::string>{"location", "weights.bin"},
                        {"offset", std::to_string(offset)},
                        {"length", "16"}}) {
      auto* e = t.add_external_data();
      e->set_key(k);
      e->set_value(v);
    }
  };
  ModelBuilder b;
  b.input("x", {4}).node("Constant", {}, {"c"}).node("Mul", {"x", "w"}, {"m"}).node("Add", {"m", "c"}, {"y"}).output("y");
  auto* g = b.model().mutable_graph();
  auto* a = g->mutable_node(0)->add_attribute();
  a->set_name("value");
  a->set_type(onnx::AttributeProto::TENSOR);
  external(*a->mutable_t(), "", 20);
  external(*g->add_initializer(), "w", 4);
  {
    std::ofstream f(dir.file("ext.onnx"), std::ios::binary);
    ASSERT_TRUE(b.model().SerializeToOstream(&f));
  }
  OnnxGraph loaded = OnnxGraph::load(dir.file("ext.onnx"));
  EXPECT_EQ(loaded.get_initializer("w").to_f32_vector(), wv);
  prepare_model(loaded);
  EXPECT_EQ(loaded.get_initializer("c").to_f32_vector(), cv);
  Tensor x = Tensor::from_vector<float>({4}, {1.f, 1.f, 2.f, 0.f});
  TensorMap out = Session(loaded).run({{"x", x}});
  EXPECT_EQ(out.at("y").to_f32_vector(), (std::vector<float>{1.5f, -1.75f, 6.f, 8.f}));
}

TEST(OnnxGraph, SetNamesMakesUniqueNames) {
  ModelBuilder b;
  b.input("x", {2})
      .node("Relu", {"x"}, {"a"}, "Relu_1")  // a name that a generated one would clash with
      .node("Relu", {"a"}, {"b"})            // would be Relu_1
      .node("Neg", {"b"}, {"c"}, "dup")
      .node("Neg", {"c"}, {"d"}, "dup")
      .node("Abs", {"d"}, {"e"})
      .output("e");
  OnnxGraph g = b.graph();
  g.set_names();
  std::set<std::string> names;
  for (const auto& n : g.graph().node()) {
    EXPECT_FALSE(n.name().empty());
    names.insert(n.name());
  }
  EXPECT_EQ(names.size(), 5u);
  EXPECT_EQ(g.node(0).name(), "Relu_1");
  EXPECT_EQ(g.node(2).name(), "dup");
  EXPECT_EQ(g.node(4).name(), "Abs_4");
  EXPECT_TRUE(g.node(1).name().rfind("Relu_1", 0) == 0 && g.node(1).name() != "Relu_1") << g.node(1).name();
  expect_maps_consistent(g);
}

TEST(OnnxGraph, TopologizeSortsAShuffledGraph) {
  // A diamond plus a chain, written in reverse order.
  ModelBuilder b;
  b.input("x", {2});
  std::vector<std::tuple<std::string, std::vector<std::string>, std::string>> nodes = {
      {"Relu", {"x"}, "a"},       {"Neg", {"a"}, "b"},       {"Abs", {"a"}, "c"},  {"Add", {"b", "c"}, "d"},
      {"Sigmoid", {"d"}, "e"},    {"Mul", {"e", "x"}, "f"},  {"Relu", {"f"}, "g"},
  };
  std::vector<int> order = {6, 3, 5, 0, 4, 2, 1};
  for (int i : order) {
    auto& [op, ins, out] = nodes[i];
    b.node(op, ins, {out}, "n" + std::to_string(i));
  }
  b.output("g");
  OnnxGraph g = b.graph();
  g.topologize();
  std::set<std::string> ready = {"x"};
  for (const auto& n : g.graph().node()) {
    for (const auto& in : n.input()) EXPECT_TRUE(ready.count(in)) << n.name() << " reads " << in << " too early";
    for (const auto& o : n.output()) ready.insert(o);
  }
  expect_maps_consistent(g);
  // Stable: an already sorted graph keeps its order.
  std::vector<std::string> before;
  for (const auto& n : g.graph().node()) before.push_back(n.name());
  g.topologize();
  for (int i = 0; i < g.node_count(); ++i) EXPECT_EQ(g.node(i).name(), before[i]);
}

TEST(OnnxGraph, CycleGivesAClearError) {
  ModelBuilder b;
  b.input("x", {2})
      .node("Add", {"x", "c"}, {"a"}, "first")
      .node("Relu", {"a"}, {"b"}, "second")
      .node("Neg", {"b"}, {"c"}, "third")
      .node("Abs", {"x"}, {"y"}, "free")
      .output("y");
  OnnxGraph g = b.graph();
  try {
    g.topologize();
    FAIL() << "no error for a cycle";
  } catch (const Error& e) {
    std::string msg = e.what();
    EXPECT_NE(msg.find("cycle"), std::string::npos) << msg;
    EXPECT_NE(msg.find("first"), std::string::npos) << msg;
  }
  // A node reading its own output.
  ModelBuilder s;
  s.input("x", {2}).node("Add", {"x", "y"}, {"y"}, "self").output("y");
  OnnxGraph sg = s.graph();
  EXPECT_THROW(sg.topologize(), Error);
  // And an input nothing produces.
  ModelBuilder m;
  m.input("x", {2}).node("Add", {"x", "ghost"}, {"y"}, "add").output("y");
  OnnxGraph mg = m.graph();
  try {
    mg.topologize();
    FAIL() << "no error for an unknown tensor";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("ghost"), std::string::npos) << e.what();
  }
}

// Found by fuzz_model (docs/fuzzing.md): ONNX's shape inference of Shape read the type of its
// input named "" (SIGSEGV). A required input that is missing or empty is refused first, naming
// the node; optional inputs may still be left out.
TEST(OnnxGraph, MissingRequiredInputIsRefusedBeforeShapeInference) {
  ModelBuilder empty_name;
  empty_name.input("x", {3, 4}).node("Shape", {""}, {"y"}, "shape").output("y", DType::I64);
  ModelBuilder too_few;
  too_few.input("x", {3, 4}).node("Add", {"x"}, {"y"}, "add").output("y");
  ModelBuilder too_many;  // also a crash of Shape's inference (fuzz_model)
  too_many.input("x", {3, 4}).node("Shape", {"x", "x"}, {"y"}, "shape").output("y", DType::I64);
  for (auto [b, want] : {std::pair{&empty_name, std::string("node 'shape' (Shape): its required input 0 ('data') is missing")},
                         std::pair{&too_few, std::string("node 'add' (Add) has 1 inputs, fewer than the 2 it needs")},
                         std::pair{&too_many, std::string("node 'shape' (Shape) has 2 inputs, more than the 1 it takes")}}) {
    OnnxGraph g = b->graph();
    try {
      prepare_model(g);
      FAIL() << "no error for " << want;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(want), std::string::npos) << e.what();
    }
  }
  // The control: Clip with its optional min left out ("") and max given.
  ModelBuilder clip;
  clip.input("x", {4}).init("hi", Tensor::from_vector<float>({}, {1.f})).node("Clip", {"x", "", "hi"}, {"y"}, "clip");
  clip.output("y");
  OnnxGraph cg = clip.graph();
  prepare_model(cg);
  Session s(cg);
  EXPECT_EQ(s.run({{"x", Tensor::from_vector<float>({4}, {-3.f, 0.5f, 2.f, 7.f})}}).at("y").to_f32_vector(),
            (std::vector<float>{-3.f, 0.5f, 1.f, 1.f}));
}

// Found by fuzz_model (docs/fuzzing.md): ONNX's ConvTranspose inference read past a rank-1
// weight's shape for a rank-3 input (SIGSEGV). Declared ranks that do not match are refused.
TEST(OnnxGraph, ConvolutionWhoseWeightRankDiffersFromItsInputIsRefused) {
  for (const char* op : {"ConvTranspose", "Conv"}) {
    ModelBuilder b;
    b.input("x", {1, 4, 5}).init("w", Tensor::from_vector<float>({5}, {1, 2, 3, 4, 5}));
    b.node(op, {"x", "w"}, {"z"}, "conv").output("z");
    OnnxGraph g = b.graph();
    try {
      prepare_model(g);
      FAIL() << "no error for " << op;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("its input has rank 3 and its weight rank 1"), std::string::npos)
          << e.what();
    }
  }
  // Found by fuzz_model: a Gemm at opset 4 whose B has rank 0 crashed the version converter's
  // Gemm adapter; declared Gemm operands must be matrices.
  ModelBuilder gemm(4);
  gemm.input("a", {3, 4}).input("b", {}).input("c", {1}).node("Gemm", {"a", "b", "c"}, {"y"}, "gemm").output("y");
  OnnxGraph gg = gemm.graph();
  try {
    prepare_model(gg);
    ADD_FAILURE() << "no error for Gemm";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("node 'gemm' (Gemm): input 1 ('b') has rank 0"), std::string::npos)
        << e.what();
  }
  // The control: a rank-3 weight for a rank-3 input (a 1-D convolution) prepares and runs.
  ModelBuilder ok;
  ok.input("x", {1, 1, 5}).init("w", Tensor::from_vector<float>({1, 1, 2}, {1.f, -1.f}));
  ok.node("Conv", {"x", "w"}, {"z"}, "conv").output("z");
  OnnxGraph og = ok.graph();
  prepare_model(og);
  Session s(og);
  EXPECT_EQ(s.run({{"x", Tensor::from_vector<float>({1, 1, 5}, {1.f, 3.f, 6.f, 10.f, 15.f})}}).at("z").to_f32_vector(),
            (std::vector<float>{-2.f, -3.f, -4.f, -5.f}));
}

// Found by fuzz_model (docs/fuzzing.md): ONNX's inference copied a constant's raw_data of 9
// bytes (for one int64) into an 8-byte vector: a heap overflow; and a Reshape shape of dims
// [6] holding two int64_data values crashed it (SIGSEGV). Sizes are checked first, raw and
// typed, for initializers and attribute tensors alike.
TEST(OnnxGraph, DataOfTheWrongSizeIsRefusedBeforeShapeInference) {
  for (int variant = 0; variant < 4; ++variant) {
    const bool as_attribute = variant % 2 == 1, typed = variant >= 2;
    ModelBuilder b;
    b.input("x", {2, 3});
    onnx::TensorProto shape;
    shape.set_name("shape");
    shape.set_data_type(onnx::TensorProto::INT64);
    if (typed) {
      shape.add_dims(6);  // six values declared, two given
      shape.add_int64_data(0);
      shape.add_int64_data(-1);
    } else {
      shape.add_dims(2);
      shape.set_raw_data(std::string(17, '\0'));  // two int64 values and one byte more
    }
    OnnxGraph g = b.graph();
    if (as_attribute) {
      auto* c = g.graph().add_node();
      c->set_op_type("Constant");
      c->add_output("shape");
      auto* a = c->add_attribute();
      a->set_name("value");
      a->set_type(onnx::AttributeProto::TENSOR);
      *a->mutable_t() = shape;
    } else {
      *g.graph().add_initializer() = shape;
    }
    auto* r = g.graph().add_node();
    r->set_op_type("Reshape");
    r->add_input("x");
    r->add_input("shape");
    r->add_output("y");
    auto* out = g.graph().add_output();
    out->set_name("y");
    out->mutable_type()->mutable_tensor_type()->set_elem_type(onnx::TensorProto::FLOAT);
    g.update_maps();
    try {
      prepare_model(g);
      FAIL() << "no error";
    } catch (const Error& e) {
      const std::string want = typed ? "tensor 'shape' has 2 values for shape [6]"
                                     : "tensor 'shape': raw data has 17 bytes, expected 16 for shape [2]";
      EXPECT_NE(std::string(e.what()).find(want), std::string::npos) << e.what();
    }
  }
}

// Found by fuzz_model (docs/fuzzing.md): ONNX's inference functions read what malformed
// nodes point at. The guarded schemas (graph/guarded_inference.h) skip them; the run names
// the node. Each case crashed the process (SIGSEGV) without its guard.
TEST(OnnxGraph, NodesOnnxInferenceWouldCrashOnAreNotInferredAndTheRunNamesThem) {
  auto run_fails_naming = [](OnnxGraph& g, const TensorMap& feeds, const std::string& node) {
    Session s(g);
    try {
      s.run(feeds);
      ADD_FAILURE() << "no error";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(node), std::string::npos) << e.what();
    }
  };
  // Preparation (and then the run) of g fails with an error holding `want`, or the run fails
  // naming `node`.
  auto prepare_or_run_fails = [&](OnnxGraph& g, const TensorMap& feeds, const std::string& node,
                                  const std::string& want) {
    try {
      prepare_model(g, 13, false);
      run_fails_naming(g, feeds, node);
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(want), std::string::npos) << e.what();
    }
  };
  // A Shape of a Tile whose repeats do not match its input's rank: the Tile's output has no
  // type, and ONNX's data propagation of the Shape read it (found at opset 19).
  ModelBuilder tile(19);
  tile.input("x", {1, 1, 1, 1}).init("reps", Tensor::from_vector<int64_t>({2}, {0, -1}));
  tile.node("Tile", {"x", "reps"}, {"r"}, "tile").node("Shape", {"r"}, {"s"}, "shape").output("s", DType::I64);
  OnnxGraph tg = tile.graph();
  prepare_model(tg);
  run_fails_naming(tg, {{"x", Tensor::from_vector<float>({1, 1, 1, 1}, {2.f})}}, "tile");
  // A ConvTranspose whose input's rank (3) only inference knows, through a Relu, and whose
  // weight has rank 1: the check of declared ranks cannot see it; the guard does.
  ModelBuilder convt;
  convt.input("x", {1, 4, 5}).node("Relu", {"x"}, {"r"}, "relu");
  convt.init("w", Tensor::from_vector<float>({4}, {1.f, 2.f, 3.f, 4.f}));
  convt.node("ConvTranspose", {"r", "w"}, {"y"}, "convt").output("y");
  OnnxGraph cg = convt.graph();
  prepare_model(cg, 13, false);
  EXPECT_FALSE(cg.tensor_shape("y").has_value());
  run_fails_naming(cg, {{"x", Tensor::zeros(DType::F32, {1, 4, 5})}}, "convt");
  // A QLinearConv whose weight (input 3) has rank 5 for an input of rank 4 (found at opset 10).
  ModelBuilder qconv(10);
  qconv.input("x", {1, 1, 7, 7}, DType::U8);
  qconv.init("xs", Tensor::from_vector<float>({}, {0.5f})).init("xz", Tensor::from_vector<uint8_t>({}, {0}));
  qconv.init("w", Tensor::from_vector<uint8_t>({1, 1, 1, 1, 2}, {1, 2}));
  qconv.init("ws", Tensor::from_vector<float>({1}, {0.5f})).init("wz", Tensor::from_vector<uint8_t>({1}, {0}));
  qconv.init("ys", Tensor::from_vector<float>({}, {1.f})).init("yz", Tensor::from_vector<uint8_t>({}, {0}));
  qconv.node("QLinearConv", {"x", "xs", "xz", "w", "ws", "wz", "ys", "yz"}, {"y"}, "qconv").output("y", DType::U8);
  OnnxGraph qg = qconv.graph();
  prepare_or_run_fails(qg, {{"x", Tensor::zeros(DType::U8, {1, 1, 7, 7})}}, "qconv", "qconv");
  // The Shape of a scalar (no values) minus a one-element constant: ONNX's data propagation
  // of the Sub broadcast the one value against the empty list and read its first value
  // (SIGSEGV; found with the Constants of an expanded BlackmanWindow). A valid model: it
  // prepares and runs to an empty result.
  ModelBuilder empty_shape(18);
  empty_shape.input("x", {}).init("one", Tensor::from_vector<int64_t>({1}, {1}));
  empty_shape.node("Shape", {"x"}, {"s"}, "shape").node("Sub", {"s", "one"}, {"d"}, "sub").output("d", DType::I64);
  OnnxGraph eg = empty_shape.graph();
  prepare_model(eg);
  {
    Session s(eg);
    const TensorMap out = s.run({{"x", Tensor::from_vector<float>({}, {3.f})}});
    EXPECT_EQ(out.at("d").shape(), Shape{0});
  }
  // A Gemm at opset 6 whose A and B are scalars only inference knows (through a Relu): Gemm-6's
  // inference read their dimensions 0 and 1, then the version converter's Gemm 6 -> 7 adapter
  // did (found with scalars made by Sub of Constants). The guard skips the inference; the
  // ranks inference found are checked before the converter.
  ModelBuilder gemm(6);
  gemm.input("x", {}).node("Relu", {"x"}, {"r"}, "relu").node("Gemm", {"r", "r", "r"}, {"y"}, "gemm").output("y");
  OnnxGraph gg = gemm.graph();
  prepare_or_run_fails(gg, {{"x", Tensor::from_vector<float>({}, {1.f})}}, "gemm",
                       "node 'gemm' (Gemm): input 0 ('r') has rank 0; Gemm multiplies matrices");
  // A MaxUnpool whose indices have rank 1 for an X of rank 4 (they must have X's shape).
  ModelBuilder unpool(11);
  unpool.input("x", {1, 1, 2, 2}).input("i", {4}, DType::I64);
  unpool.node("MaxUnpool", {"x", "i"}, {"y"}, "unpool")
      .attr("kernel_shape", std::vector<int64_t>{2, 2})
      .attr("strides", std::vector<int64_t>{2, 2})
      .output("y");
  OnnxGraph ug = unpool.graph();
  prepare_model(ug, 13, false);
  run_fails_naming(ug,
                   {{"x", Tensor::zeros(DType::F32, {1, 1, 2, 2})},
                    {"i", Tensor::from_vector<int64_t>({4}, {0, 1, 2, 3})}},
                   "unpool");
  // The same MaxUnpool with indices typed but without a shape: not inferred, and it runs.
  OnnxGraph ug2 = unpool.graph();
  ug2.graph().mutable_input(1)->mutable_type()->mutable_tensor_type()->clear_shape();
  ug2.update_maps();
  prepare_model(ug2, 13, false);
  const Tensor unpooled = Session(ug2).run({{"x", Tensor::from_vector<float>({1, 1, 2, 2}, {1.f, 2.f, 3.f, 4.f})},
                                            {"i", Tensor::from_vector<int64_t>({1, 1, 2, 2}, {0, 3, 12, 15})}})
                              .at("y");
  ASSERT_EQ(unpooled.shape(), (Shape{1, 1, 4, 4}));
  EXPECT_EQ(unpooled.to_f32_vector(), (std::vector<float>{1, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 3, 0, 0, 4}));
  // A LayerNormalization whose axis is 2^31, outside [-rank, rank] (found at opset 17).
  ModelBuilder ln(17);
  ln.input("x", {3, 4}).init("g", Tensor::from_vector<float>({4}, {1.f, 1.f, 1.f, 1.f}));
  ln.node("LayerNormalization", {"x", "g"}, {"y"}, "norm").attr("axis", int64_t{2147483648}).output("y");
  OnnxGraph lg = ln.graph();
  prepare_model(lg, 17, false);
  run_fails_naming(lg, {{"x", Tensor::zeros(DType::F32, {3, 4})}}, "norm");
  // An LSTM of opset 6 (LSTM-1) whose X has rank 0, not 3: LSTM-1's inference read X's
  // dimensions 0 and 1 (found with an X of rank 1, which reads past the dimensions; rank 0
  // reads from none and crashes in every build).
  ModelBuilder lstm(6);
  lstm.input("x", {}).init("w", Tensor::zeros(DType::F32, {1, 8, 4})).init("r", Tensor::zeros(DType::F32, {1, 8, 2}));
  lstm.node("LSTM", {"x", "w", "r"}, {"y"}, "lstm").attr("hidden_size", int64_t{2}).output("y");
  OnnxGraph rg = lstm.graph();
  // (ONNX has no converter from LSTM-1: a clear error naming the operator.)
  prepare_or_run_fails(rg, {{"x", Tensor::zeros(DType::F32, {})}}, "lstm", "LSTM");
  // A DepthToSpace whose blocksize is 2^40: its square wraps to zero, and ONNX's inference
  // and our kernel divided by it (SIGFPE).
  ModelBuilder d2s(11);
  d2s.input("x", {1, 4, 2, 2}).node("DepthToSpace", {"x"}, {"y"}, "d2s").attr("blocksize", int64_t{1} << 40).output("y");
  OnnxGraph dg = d2s.graph();
  prepare_or_run_fails(dg, {{"x", Tensor::zeros(DType::F32, {1, 4, 2, 2})}}, "d2s", "'d2s'");
  // A Conv whose strides hold a 0 (opset 10, converted): ONNX's convolution inference divided
  // by it (SIGFPE, found after 119 733 inputs of stop 26's fuzz run); our kernel refuses it.
  ModelBuilder s0(10);
  s0.input("x", {1, 1, 4, 4}).init("w", Tensor::from_vector<float>({1, 1, 1, 1}, {1.f}));
  s0.node("Conv", {"x", "w"}, {"y"}, "s0conv").attr("strides", std::vector<int64_t>{1, 0}).output("y");
  OnnxGraph sg = s0.graph();
  prepare_or_run_fails(sg, {{"x", Tensor::zeros(DType::F32, {1, 1, 4, 4})}}, "s0conv", "strides");
  // The control: a rank-3 weight after the same Relu is inferred.
  ModelBuilder ok;
  ok.input("x", {1, 4, 5}).node("Relu", {"x"}, {"r"}, "relu");
  ok.init("w", Tensor::from_vector<float>({4, 1, 2}, {1.f, 2.f, 3.f, 4.f, 5.f, 6.f, 7.f, 8.f}));
  ok.node("ConvTranspose", {"r", "w"}, {"y"}, "convt").output("y");
  OnnxGraph og = ok.graph();
  prepare_model(og, 13, false);
  ASSERT_TRUE(og.tensor_shape("y").has_value());
  EXPECT_EQ(*og.tensor_shape("y"), (Shape{1, 1, 6}));
}

// Found by fuzz_model (docs/fuzzing.md): two graph inputs named x (one without a shape, one
// of shape [4, 4]) made the simplifier restore a batch dimension on the one without
// (protobuf's index check: an abort). Names that would stand for two values are refused.
TEST(OnnxGraph, NamesStandingForTwoValuesAreRefused) {
  auto expect_refused = [](OnnxGraph g, const std::string& want) {
    try {
      prepare_model(g);
      ADD_FAILURE() << "no error for " << want;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(want), std::string::npos) << e.what();
    }
  };
  ModelBuilder two_inputs;
  two_inputs.input("x", {4, 4}).node("Relu", {"x"}, {"y"}, "relu").output("y");
  OnnxGraph a = two_inputs.graph();
  *a.graph().add_input() = a.graph().input(0);
  a.graph().mutable_input(1)->mutable_type()->mutable_tensor_type()->clear_shape();
  a.update_maps();
  expect_refused(a, "two graph inputs named 'x'");
  ModelBuilder writes_input;
  writes_input.input("x", {4}).node("Relu", {"x"}, {"x"}, "relu").output("x");
  expect_refused(writes_input.graph(), "node 'relu' (Relu) writes 'x', which is a graph input or initializer");
  ModelBuilder two_inits;
  two_inits.input("x", {2}).init("w", Tensor::from_vector<float>({2}, {1.f, 2.f}));
  two_inits.node("Mul", {"x", "w"}, {"y"}, "mul").output("y");
  OnnxGraph c = two_inits.graph();
  *c.graph().add_initializer() = c.graph().initializer(0);
  c.update_maps();
  expect_refused(c, "two initializers named 'w'");
}

// Found by fuzz_model (docs/fuzzing.md): ONNX's Scan inference sized a vector by
// num_scan_inputs = 2^31 - 1 (16 GB) before comparing it with the inputs. The conformance
// model test_scan9_sum with that attribute changed is refused; as it is, it prepares.
TEST(OnnxGraph, ScanCountingMoreInputsThanItHasIsRefused) {
  const std::string path = "/usr/share/libonnx-testdata/data/node/test_scan9_sum/model.onnx";
  if (!std::filesystem::exists(path)) GTEST_SKIP() << "libonnx-testdata is not installed: " << path;
  {
    OnnxGraph ok = OnnxGraph::load(path);
    prepare_model(ok);
  }
  OnnxGraph g = OnnxGraph::load(path);
  for (auto& a : *g.graph().mutable_node(0)->mutable_attribute())
    if (a.name() == "num_scan_inputs") a.set_i(2147483647);
  try {
    prepare_model(g);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("(Scan): num_scan_inputs is 2147483647, not between 1 and its 2 inputs"),
              std::string::npos)
        << e.what();
  }
  // Found the same way: the attribute misspelled, so missing, and ONNX's Scan inference read
  // it anyway (SIGSEGV). Required attributes of every op schema are checked.
  OnnxGraph m = OnnxGraph::load(path);
  for (auto& a : *m.graph().mutable_node(0)->mutable_attribute())
    if (a.name() == "num_scan_inputs") a.set_name("num_sca_nunitps");
  try {
    prepare_model(m);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("(Scan): its required attribute 'num_scan_inputs' is missing"),
              std::string::npos)
        << e.what();
  }
}

// Found by fuzz_model (docs/fuzzing.md): an opset-7 Upsample whose 'mode' attribute was typed
// FLOAT (with a string in it) crashed ONNX's Upsample 9 -> 10 adapter, which reads the
// attribute as a string whatever its type. Attributes of a type other than their schema's are
// refused before the converter runs; the same node typed STRING prepares.
TEST(OnnxGraph, AttributeOfAnotherTypeThanItsSchemaIsRefusedBeforeConversion) {
  auto model = [](onnx::AttributeProto::AttributeType mode_type) {
    ModelBuilder b(7);
    b.input("x", {1, 1, 2, 2});
    b.node("Upsample", {"x"}, {"y"}, "upsample").attr("scales", std::vector<float>{1.f, 1.f, 2.f, 2.f});
    b.attr("mode", std::string("nearest"));
    for (auto& a : *b.model().mutable_graph()->mutable_node(0)->mutable_attribute())
      if (a.name() == "mode") a.set_type(mode_type);
    b.output("y");
    return b.graph();
  };
  {
    OnnxGraph ok = model(onnx::AttributeProto::STRING);
    prepare_model(ok);
  }
  OnnxGraph g = model(onnx::AttributeProto::FLOAT);
  try {
    prepare_model(g);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("node 'upsample' (Upsample): attribute 'mode' is of type FLOAT, its schema says STRING"),
              std::string::npos)
        << e.what();
  }
}

// Found by fuzz_model (docs/fuzzing.md): a ConvInteger whose input declared a dimension of
// 2^63 - 1 crashed ONNX's convolution inference. Declared dimensions over the tensor budget
// are refused before inference.
TEST(OnnxGraph, DeclaredDimensionOverTheBudgetIsRefusedBeforeShapeInference) {
  ModelBuilder b;
  b.input("x", {1, 1, INT64_MAX, 2}).init("w", Tensor::from_vector<float>({1, 1, 1, 1}, {2.f}));
  b.node("Conv", {"x", "w"}, {"y"}, "conv").output("y");
  OnnxGraph g = b.graph();
  try {
    prepare_model(g);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("tensor 'x' declares a dimension of 9223372036854775807"), std::string::npos)
        << e.what();
  }
}

// Found by fuzz_model (docs/fuzzing.md): a graph output nothing produces made ONNX's version
// converter dereference a null value (SIGSEGV) while preparing an opset-11 model. Dangling
// names are refused before the converter sees the graph, with and without nodes.
TEST(OnnxGraph, DanglingGraphOutputIsRefusedBeforeTheOpsetConversion) {
  ModelBuilder empty(11);
  empty.input("x", {2}).output("ghost");
  ModelBuilder one(11);
  one.input("x", {2}).node("Relu", {"x"}, {"y"}, "relu").output("y").output("ghost");
  for (ModelBuilder* b : {&empty, &one}) {
    OnnxGraph g = b->graph();
    try {
      prepare_model(g);
      FAIL() << "no error";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("graph output 'ghost' is not produced by any node, input or initializer"),
                std::string::npos)
          << e.what();
    }
  }
  // A node input nothing produces is refused before the conversion too.
  ModelBuilder m(11);
  m.input("x", {2}).node("Add", {"x", "ghost"}, {"y"}, "add").output("y");
  OnnxGraph mg = m.graph();
  EXPECT_THROW(prepare_model(mg), Error);
  // The control: the same graph with its output produced converts and runs.
  ModelBuilder ok(11);
  ok.input("x", {2}).node("Relu", {"x"}, {"y"}, "relu").output("y");
  OnnxGraph og = ok.graph();
  prepare_model(og);
  EXPECT_EQ(og.opset(), 13);
}

// Softmax below opset 13 normalizes over everything from `axis` on; the conversion must
// keep that, also when the input shape is only known at run time.
std::vector<float> coerced_softmax(const Tensor& x, int axis) {
  int64_t rows = 1, cols = 1;
  for (int i = 0; i < x.rank(); ++i) (i < axis ? rows : cols) *= x.dim(i);
  std::vector<float> v = x.to_f32_vector(), r(v.size());
  for (int64_t i = 0; i < rows; ++i) {
    double m = -1e30, s = 0;
    for (int64_t j = 0; j < cols; ++j) m = std::max<double>(m, v[i * cols + j]);
    for (int64_t j = 0; j < cols; ++j) s += std::exp(v[i * cols + j] - m);
    for (int64_t j = 0; j < cols; ++j) r[i * cols + j] = static_cast<float>(std::exp(v[i * cols + j] - m) / s);
  }
  return r;
}

void check_softmax_model(OnnxGraph g, const Tensor& x, int axis) {
  prepare_model(g);
  EXPECT_EQ(g.opset(), 13);
  for (const auto& n : g.graph().node())
    if (n.op_type() == "Softmax") {
      ASSERT_EQ(n.attribute_size(), 1);
      EXPECT_EQ(n.attribute(0).i(), -1);
    }
  Session s(g);
  TensorMap out = s.run({{"x", x}});
  const Tensor& y = out.at("y");
  EXPECT_EQ(y.shape(), x.shape());
  expect_tensor_near(y, Tensor::from_vector<float>(x.shape(), coerced_softmax(x, axis)), 1e-5, 1e-7);
}

TEST(OnnxGraph, SoftmaxOpset11ConversionWithKnownShape) {
  ModelBuilder b(11, 6);
  b.input("x", {2, 3, 2, 2}).node("Softmax", {"x"}, {"y"}).attr("axis", int64_t{1}).output("y");
  check_softmax_model(b.graph(), random_tensor({2, 3, 2, 2}, 3, -2.f, 2.f), 1);
}

TEST(OnnxGraph, SoftmaxOpset11ConversionWithSymbolicShape) {
  // Dims unknown: libonnx's adapter alone would write a Reshape to a literal shape.
  ModelBuilder b(11, 6);
  b.input("x", {-1, 3, -1, -1}).node("Softmax", {"x"}, {"y"}).attr("axis", int64_t{2}).output("y");
  check_softmax_model(b.graph(), random_tensor({2, 3, 4, 5}, 4, -2.f, 2.f), 2);
}

TEST(OnnxGraph, SoftmaxOpset9ConversionWithUnknownRank) {
  // The rank is unknown before run time (the adapter alone fails: "input shape is unknown").
  ModelBuilder b(9, 4);
  b.input("x", {}, DType::F32, /*rank_known=*/false)
      .node("Softmax", {"x"}, {"y"})  // default axis 1
      .output("y");
  OnnxGraph g = b.graph();
  check_softmax_model(g, random_tensor({2, 3, 4}, 5, -3.f, 3.f), 1);
  // LogSoftmax goes the same way.
  ModelBuilder l(9, 4);
  l.input("x", {}, DType::F32, false).node("LogSoftmax", {"x"}, {"y"}).attr("axis", int64_t{2}).output("y");
  OnnxGraph lg = l.graph();
  prepare_model(lg);
  Tensor x = random_tensor({2, 3, 4, 2}, 6, -3.f, 3.f);
  TensorMap out = Session(lg).run({{"x", x}});
  std::vector<float> want = coerced_softmax(x, 2);
  for (auto& v : want) v = std::log(v);
  expect_tensor_near(out.at("y"), Tensor::from_vector<float>(x.shape(), want), 1e-5, 1e-6);
}

TEST(OnnxGraph, SoftmaxOverLastAxisStaysOneNode) {
  ModelBuilder b(11, 6);
  b.input("x", {-1, 5}).node("Softmax", {"x"}, {"y"}).attr("axis", int64_t{1}).output("y");
  OnnxGraph g = b.graph();
  prepare_model(g);
  ASSERT_EQ(g.node_count(), 1);
  EXPECT_EQ(g.node(0).op_type(), "Softmax");
  check_softmax_model(b.graph(), random_tensor({3, 5}, 7, -2.f, 2.f), 1);
}

// An opset-9 model: y = Upsample(x [1,1,2,2], scales) in `mode`, after prepare_model().
OnnxGraph prepared_upsample9(const std::vector<float>& scales, const std::string& mode) {
  ModelBuilder b(9, 4);
  b.input("x", {1, 1, 2, 2})
      .init("scales", Tensor::from_vector<float>({4}, scales))
      .node("Upsample", {"x", "scales"}, {"y"})
      .attr("mode", mode)
      .output("y");
  OnnxGraph g = b.graph();
  prepare_model(g);
  return g;
}

TEST(OnnxGraph, PrepareConvertsUpsampleToResize) {
  OnnxGraph g = prepared_upsample9({1.f, 1.f, 2.f, 3.f}, "nearest");
  EXPECT_EQ(g.opset(), 13);
  EXPECT_GE(g.model().ir_version(), 7);
  bool resize = false;
  for (const auto& n : g.graph().node()) {
    EXPECT_NE(n.op_type(), "Upsample");
    EXPECT_NE(n.op_type(), "Constant");
    EXPECT_FALSE(n.name().empty());
    resize = resize || n.op_type() == "Resize";
  }
  EXPECT_TRUE(resize);
  Tensor x = Tensor::from_vector<float>({1, 1, 2, 2}, {1.f, 2.f, 3.f, 4.f});
  TensorMap out = Session(g).run({{"x", x}});
  std::vector<float> want;
  for (int i = 0; i < 4; ++i)
    for (int j = 0; j < 6; ++j) want.push_back(x.to_f32_vector()[(i / 2) * 2 + j / 3]);
  expect_tensor_near(out.at("y"), Tensor::from_vector<float>({1, 1, 4, 6}, want), 0, 0);
}

TEST(OnnxGraph, ConvertedLinearUpsampleKeepsAsymmetricCoordinates) {
  // Upsample-9 maps output i to input i / scale (libonnx's adapter alone leaves opset 11's
  // half_pixel default, which shifts every sample).
  OnnxGraph g = prepared_upsample9({1.f, 1.f, 2.f, 2.f}, "linear");
  Tensor x = Tensor::from_vector<float>({1, 1, 2, 2}, {1.f, 3.f, 5.f, 11.f});
  TensorMap out = Session(g).run({{"x", x}});
  // Row/column source positions 0, 0.5, 1, 1.5 (clamped to 1).
  auto at = [&](double r, double c) {
    auto v = x.to_f32_vector();
    auto lerp = [](double a, double b, double t) { return a + (b - a) * t; };
    r = std::min(r, 1.0);
    c = std::min(c, 1.0);
    return static_cast<float>(lerp(lerp(v[0], v[1], c), lerp(v[2], v[3], c), r));
  };
  std::vector<float> want;
  for (int i = 0; i < 4; ++i)
    for (int j = 0; j < 4; ++j) want.push_back(at(i / 2.0, j / 2.0));
  expect_tensor_near(out.at("y"), Tensor::from_vector<float>({1, 1, 4, 4}, want), 1e-6, 1e-6);
}

}  // namespace
}  // namespace dpl::test
