#include "graph/onnx_graph.h"

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl.h>
#include <onnx/defs/schema.h>
#include <onnx/shape_inference/implementation.h>
#include <onnx/version_converter/convert.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <climits>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <queue>
#include <type_traits>
#include <unordered_set>

#include "core/memory_budget.h"
#include "graph/guarded_inference.h"
#include "graph/model_checks.h"
#include "graph/tensor_proto.h"
#include "io/atomic_file.h"
#include "util/error.h"

namespace dpl {

namespace fs = std::filesystem;

namespace {

bool is_std_domain(const std::string& d) { return d.empty() || d == "ai.onnx"; }

// t holds a Constant's value_float(s) or value_int(s): float32 or int64 values, a scalar or
// (the list forms) a 1-D tensor.
template <typename Values>
void set_constant_values(onnx::TensorProto& t, const Values& values, bool list) {
  using V = std::decay_t<decltype(*values.begin())>;
  constexpr bool is_float = std::is_same_v<V, float>;
  t.set_data_type(is_float ? onnx::TensorProto::FLOAT : onnx::TensorProto::INT64);
  if (list) t.add_dims(static_cast<int64_t>(values.size()));
  for (V v : values) {
    if constexpr (is_float)
      t.add_float_data(v);
    else
      t.add_int64_data(v);
  }
}

// External initializers of the main graph below this size are read into the model: ONNX's
// shape inference and opset converter read small constants (shapes, axes, scales) and cannot
// read external data. Larger ones stay in their file, mapped and viewed in place
// (docs/external_data.md). Subgraphs and attribute tensors are always read in.
constexpr size_t kInlineExternalBelow = 64 << 10;

// Checks every external-data reference of `g` and its subgraphs (file, place, size: one clear
// error before anything runs; graph/tensor_proto.h refuses locations outside `dir`) and reads
// the initializers below `inline_below` bytes and every attribute tensor into memory.
// Recursion follows subgraph nesting, which protobuf's parser bounds, never the node chain.
void resolve_external_data(onnx::GraphProto& g, const std::string& dir, size_t inline_below) {
  for (auto& init : *g.mutable_initializer())
    if (init.data_location() == onnx::TensorProto::EXTERNAL && check_external_data(init, dir) < inline_below)
      inline_external_data(init, dir);
  for (auto& n : *g.mutable_node())
    for (auto& a : *n.mutable_attribute()) {
      if (a.has_t()) inline_external_data(*a.mutable_t(), dir);
      for (auto& t : *a.mutable_tensors()) inline_external_data(t, dir);
      if (a.has_g()) resolve_external_data(*a.mutable_g(), dir, SIZE_MAX);
      for (auto& sub : *a.mutable_graphs()) resolve_external_data(sub, dir, SIZE_MAX);
    }
}

}  // namespace

OnnxGraph OnnxGraph::load(const std::string& path) {
  DPL_CHECK(fs::exists(path), "model file {} does not exist", path);
  DPL_CHECK(fs::is_regular_file(path), "model path {} is not a file", path);
  std::ifstream f(path, std::ios::binary);
  DPL_CHECK(f.good(), "model file {} cannot be opened", path);
  google::protobuf::io::IstreamInputStream zin(&f);
  google::protobuf::io::CodedInputStream cin(&zin);
  cin.SetTotalBytesLimit(INT_MAX);
  onnx::ModelProto m;
  bool ok = m.ParseFromCodedStream(&cin) && cin.ConsumedEntireMessage();
  DPL_CHECK(ok, "{} is not a valid ONNX model (the file is truncated or not an ONNX protobuf)", path);
  DPL_CHECK(m.has_graph() && m.ir_version() > 0,
            "{} is not a valid ONNX model (no graph or no IR version in the file)", path);
  std::string dir = fs::path(path).parent_path().string();
  return from_model(std::move(m), dir);
}

OnnxGraph OnnxGraph::from_model(onnx::ModelProto model, std::string base_dir) {
  OnnxGraph g;
  g.model_ = std::move(model);
  g.base_dir_ = std::move(base_dir);
  // Small external tensors come into memory; large ones are read in place when used.
  resolve_external_data(g.graph(), g.base_dir_, kInlineExternalBelow);
  g.update_maps();
  return g;
}

int64_t OnnxGraph::opset() const {
  for (const auto& op : model_.opset_import())
    if (is_std_domain(op.domain())) return op.version();
  return 1;
}

namespace {

// ONNX's inference functions read a required input's type without checking that the input is
// there: a node whose required input is missing or named "" crashed it (SIGSEGV, found by
// fuzz_model, docs/fuzzing.md), and so did too many inputs. The op schemas say which inputs are
// required and how many inputs and outputs a node has; subgraphs too, since inference walks them.
// Attributes that count inputs are held to the inputs there are.
void check_required_inputs(const onnx::GraphProto& g, const std::map<std::string, int64_t>& opsets) {
  for (const auto& n : g.node()) {
    const std::string domain = n.domain() == "ai.onnx" ? "" : n.domain();
    if (auto it = opsets.find(domain); it != opsets.end())
      if (const auto* schema = onnx::OpSchemaRegistry::Schema(n.op_type(), static_cast<int>(it->second), domain)) {
        const auto& formal = schema->inputs();
        DPL_CHECK(n.input_size() >= schema->min_input(), "node '{}' ({}) has {} inputs, fewer than the {} it needs",
                  n.name(), n.op_type(), n.input_size(), schema->min_input());
        DPL_CHECK(n.input_size() <= schema->max_input(), "node '{}' ({}) has {} inputs, more than the {} it takes",
                  n.name(), n.op_type(), n.input_size(), schema->max_input());
        DPL_CHECK(n.output_size() >= schema->min_output() && n.output_size() <= schema->max_output(),
                  "node '{}' ({}) has {} outputs, outside the {}..{} it has", n.name(), n.op_type(), n.output_size(),
                  schema->min_output(), schema->max_output());
        for (size_t i = 0; i < formal.size(); ++i)
          if (formal[i].GetOption() == onnx::OpSchema::Single)
            DPL_CHECK(static_cast<int>(i) < n.input_size() && !n.input(static_cast<int>(i)).empty(),
                      "node '{}' ({}): its required input {} ('{}') is missing", n.name(), n.op_type(), i,
                      formal[i].GetName());
        // Inference functions read required attributes without checking that they are there
        // (a Scan without num_scan_inputs: SIGSEGV, fuzz_model).
        for (const auto& entry : schema->attributes()) {
          const std::string& aname = entry.first;
          if (entry.second.required)
            DPL_CHECK(std::any_of(n.attribute().begin(), n.attribute().end(),
                                  [&](const onnx::AttributeProto& a) { return a.name() == aname; }),
                      "node '{}' ({}): its required attribute '{}' is missing", n.name(), n.op_type(), aname);
        }
        // ONNX's version converter reads an attribute as the type its schema declares without
        // looking at the type the model gives it (an Upsample-7 'mode' typed FLOAT read as a
        // string: memcpy of a garbage length, SIGSEGV, fuzz_model); ONNX Runtime refuses such
        // a node too.
        for (const auto& a : n.attribute()) {
          auto declared = schema->attributes().find(a.name());
          if (declared == schema->attributes().end() || declared->second.type == onnx::AttributeProto::UNDEFINED)
            continue;
          DPL_CHECK(a.type() == declared->second.type,
                    "node '{}' ({}): attribute '{}' is of type {}, its schema says {}", n.name(), n.op_type(),
                    a.name(), onnx::AttributeProto::AttributeType_Name(a.type()),
                    onnx::AttributeProto::AttributeType_Name(declared->second.type));
        }
        // Scan's inference sizes its vectors by num_scan_inputs before comparing it with the
        // inputs (2^31 - 1 asked for 16 GB: fuzz_model). It counts some of the node's inputs.
        if (n.op_type() == "Scan")
          for (const auto& a : n.attribute())
            if (a.name() == "num_scan_inputs")
              DPL_CHECK(a.i() >= 1 && a.i() <= n.input_size(),
                        "node '{}' (Scan): num_scan_inputs is {}, not between 1 and its {} inputs", n.name(), a.i(),
                        n.input_size());
      }
    for (const auto& a : n.attribute()) {
      if (a.has_g()) check_required_inputs(a.g(), opsets);
      for (const auto& sub : a.graphs()) check_required_inputs(sub, opsets);
    }
  }
}

// ONNX's inference copies a constant's raw_data into a vector sized raw bytes / element size,
// all of its bytes (a heap overflow when the size is not a multiple, found by fuzz_model), and
// assumes as many values as the dimensions say, raw or typed: every tensor, initializers and
// attribute tensors of every (sub)graph, must hold exactly its shape's elements.
void check_tensor_data(const onnx::GraphProto& g) {
  for (const auto& t : g.initializer()) check_data_size(t);
  for (const auto& n : g.node())
    for (const auto& a : n.attribute()) {
      if (a.has_t()) check_data_size(a.t());
      for (const auto& t : a.tensors()) check_data_size(t);
      if (a.has_g()) check_tensor_data(a.g());
      for (const auto& sub : a.graphs()) check_tensor_data(sub);
    }
}

// ONNX's convolution and pooling inference compute output sizes from declared input
// dimensions without overflow checks (a ConvInteger input declaring a dimension of 2^63 - 1:
// SIGSEGV, found by fuzz_model). No tensor can have a dimension larger than the per-tensor
// memory budget in bytes (core/memory_budget.h), so a declared dimension over it is refused.
void check_declared_dims(const onnx::GraphProto& g) {
  const uint64_t limit = tensor_budget_bytes();
  auto check = [&](const onnx::ValueInfoProto& v) {
    if (!v.type().has_tensor_type() || !v.type().tensor_type().has_shape()) return;
    for (const auto& d : v.type().tensor_type().shape().dim())
      DPL_CHECK(d.dim_value() <= 0 || static_cast<uint64_t>(d.dim_value()) <= limit,
                "tensor '{}' declares a dimension of {}, more than any tensor within the limit of {} MB "
                "(--max_tensor_mb) can have",
                v.name(), d.dim_value(), limit >> 20);
  };
  for (const auto& v : g.input()) check(v);
  for (const auto& v : g.value_info()) check(v);
  for (const auto& v : g.output()) check(v);
}

// ONNX's ConvTranspose inference reads as many weight dimensions as the input has, whatever the
// weight's rank (an input of rank 3 with a weight of rank 1 read past the weight's shape:
// SIGSEGV, found by fuzz_model). Where both ranks are declared, a convolution's weight must
// have its input's rank, at least 3; Gemm's A and B must be matrices (below).
void check_operand_ranks(const onnx::GraphProto& g) {
  std::map<std::string, int> rank;
  auto declared = [&](const onnx::ValueInfoProto& v) {
    if (v.type().has_tensor_type() && v.type().tensor_type().has_shape())
      rank[v.name()] = v.type().tensor_type().shape().dim_size();
  };
  for (const auto& v : g.input()) declared(v);
  for (const auto& v : g.value_info()) declared(v);
  for (const auto& t : g.initializer()) rank[t.name()] = t.dims_size();
  for (const auto& n : g.node()) {
    // Gemm multiplies matrices; the version converter's Gemm adapter reads B's two dimensions
    // (a rank-0 B at opset 4: SIGSEGV, fuzz_model).
    if (n.op_type() == "Gemm")
      for (int i = 0; i < std::min(2, n.input_size()); ++i)
        if (auto r = rank.find(n.input(i)); r != rank.end())
          DPL_CHECK(r->second == 2, "node '{}' (Gemm): input {} ('{}') has rank {}; Gemm multiplies matrices (rank 2)",
                    n.name(), i, n.input(i), r->second);
    if ((n.op_type() != "Conv" && n.op_type() != "ConvTranspose") || n.input_size() < 2) continue;
    auto x = rank.find(n.input(0)), w = rank.find(n.input(1));
    if (x == rank.end() || w == rank.end()) continue;
    DPL_CHECK(x->second >= 3 && x->second == w->second,
              "node '{}' ({}): its input has rank {} and its weight rank {}; both need the same rank, at least 3",
              n.name(), n.op_type(), x->second, w->second);
  }
}

// A name must say which value it is: two graph inputs or two initializers of one name, or a
// node output named as a graph input or initializer, leave every later step (and ONNX's
// inference) to pick one of them (two inputs "x" of different shapes made the simplifier
// index a dimension the other lacked: fuzz_model). An initializer listed as a graph input
// too (IR version 3 models do it) is one value.
void check_unique_names(const onnx::GraphProto& g) {
  std::unordered_set<std::string> inputs, inits;
  for (const auto& v : g.input())
    DPL_CHECK(inputs.insert(v.name()).second, "the model has two graph inputs named '{}'", v.name());
  for (const auto& t : g.initializer())
    DPL_CHECK(inits.insert(t.name()).second, "the model has two initializers named '{}'", t.name());
  for (const auto& n : g.node())
    for (const auto& o : n.output())
      DPL_CHECK(o.empty() || (!inputs.count(o) && !inits.count(o)),
                "node '{}' ({}) writes '{}', which is a graph input or initializer", n.name(), n.op_type(), o);
}

}  // namespace

void check_inferred_operand_ranks(const OnnxGraph& g) { check_operand_ranks(g.graph()); }

void check_model_structure(const OnnxGraph& g) {
  std::map<std::string, int64_t> opsets;
  for (const auto& op : g.model().opset_import()) opsets[is_std_domain(op.domain()) ? "" : op.domain()] = op.version();
  check_unique_names(g.graph());
  check_required_inputs(g.graph(), opsets);
  check_operand_ranks(g.graph());
  check_tensor_data(g.graph());
  check_declared_dims(g.graph());
}

void OnnxGraph::infer_shapes() {
  onnx::ShapeInferenceOptions opts;
  opts.check_type = false;
  opts.error_mode = 0;  // leave shapes unknown where inference cannot tell, never abort
  opts.enable_data_propagation = true;
  try {
    onnx::shape_inference::InferShapes(model_, &guarded_schemas(), opts);  // guarded_inference.h
  } catch (const std::exception& e) {
    fail("shape inference failed: {}", e.what());
  }
  update_value_info_maps();  // inference only adds and refines value_info
}

void OnnxGraph::set_names() {
  std::unordered_set<std::string> used, seen;
  used.reserve(node_count());
  seen.reserve(node_count());
  for (const auto& n : graph().node())
    if (!n.name().empty()) used.insert(n.name());
  for (int i = 0; i < node_count(); ++i) {
    auto& n = mutable_node(i);
    std::string name = n.name().empty() ? n.op_type() + "_" + std::to_string(i) : n.name();
    if (seen.count(name) || (n.name().empty() && used.count(name))) {
      int k = 1;
      while (seen.count(name + "_" + std::to_string(k)) || used.count(name + "_" + std::to_string(k))) ++k;
      name += "_" + std::to_string(k);
    }
    seen.insert(name);
    n.set_name(name);
  }
  update_node_maps();
}

void OnnxGraph::convert_constant_to_init() {
  auto* nodes = graph().mutable_node();
  std::vector<char> remove(nodes->size(), 0);
  bool any = false;
  for (int i = 0; i < nodes->size(); ++i) {
    const auto& n = nodes->Get(i);
    if (n.op_type() != "Constant" || !is_std_domain(n.domain()) || n.output_size() != 1) continue;
    if (is_initializer(n.output(0))) continue;
    onnx::TensorProto t;
    bool ok = n.attribute_size() == 1;
    for (const auto& a : n.attribute()) {
      if (a.name() == "value") {
        t = a.t();
      } else if (a.name() == "value_float") {
        set_constant_values(t, std::array{a.f()}, false);
      } else if (a.name() == "value_floats") {
        set_constant_values(t, a.floats(), true);
      } else if (a.name() == "value_int") {
        set_constant_values(t, std::array{a.i()}, false);
      } else if (a.name() == "value_ints") {
        set_constant_values(t, a.ints(), true);
      } else {
        ok = false;  // sparse or string constants stay as nodes
      }
    }
    if (!ok) continue;
    inline_external_data(t, base_dir_);
    t.set_name(n.output(0));
    *graph().add_initializer() = std::move(t);
    remove[i] = 1;
    any = true;
  }
  if (any) remove_nodes(remove);
}

void OnnxGraph::topologize() {
  const auto& g = graph();
  std::unordered_set<std::string> avail;
  avail.reserve(g.input_size() + g.initializer_size() + 1);
  for (const auto& in : g.input()) avail.insert(in.name());
  for (const auto& in : g.initializer()) avail.insert(in.name());
  avail.insert("");
  int n = g.node_size();
  std::unordered_map<std::string, int> prod;
  prod.reserve(n);
  for (int i = 0; i < n; ++i)
    for (const auto& o : g.node(i).output())
      if (!o.empty()) {
        auto [it, fresh] = prod.emplace(o, i);
        DPL_CHECK(fresh, "tensor '{}' is produced by two nodes ('{}' and '{}')", o, g.node(it->second).name(),
                  g.node(i).name());
      }
  std::vector<int> pending(n, 0);
  std::vector<std::vector<int>> users(n);
  std::vector<int> deps;
  for (int i = 0; i < n; ++i) {
    deps.clear();
    for (const auto& in : g.node(i).input()) {
      if (avail.count(in)) continue;
      auto it = prod.find(in);
      DPL_CHECK(it != prod.end(), "tensor '{}' used by node '{}' ({}) is not produced by any node, input or initializer",
                in, g.node(i).name(), g.node(i).op_type());
      deps.push_back(it->second);  // a node reading its own output is a cycle too
    }
    std::sort(deps.begin(), deps.end());
    deps.erase(std::unique(deps.begin(), deps.end()), deps.end());
    pending[i] = static_cast<int>(deps.size());
    for (int d : deps) users[d].push_back(i);
  }
  for (const auto& out : g.output())
    DPL_CHECK(avail.count(out.name()) || prod.count(out.name()),
              "graph output '{}' is not produced by any node, input or initializer", out.name());
  std::priority_queue<int, std::vector<int>, std::greater<int>> ready;
  for (int i = 0; i < n; ++i)
    if (pending[i] == 0) ready.push(i);
  std::vector<int> order;
  while (!ready.empty()) {
    int i = ready.top();
    ready.pop();
    order.push_back(i);
    for (int u : users[i])
      if (--pending[u] == 0) ready.push(u);
  }
  if (static_cast<int>(order.size()) != n) {
    std::string stuck;
    int shown = 0;
    for (int i = 0; i < n && shown < 5; ++i)
      if (pending[i] > 0) {
        stuck += (shown++ ? ", '" : "'") + g.node(i).name() + "' (" + g.node(i).op_type() + ")";
      }
    fail("the graph has a cycle: {} of {} nodes cannot be ordered, among them {}", n - order.size(), n, stuck);
  }
  bool already_sorted = true;
  for (int i = 0; i < n && already_sorted; ++i) already_sorted = order[i] == i;
  if (already_sorted) return;  // nothing moved: the maps are as right as they were
  // Moves, not copies: the nodes change places in the field.
  google::protobuf::RepeatedPtrField<onnx::NodeProto> sorted;
  sorted.Reserve(n);
  for (int i : order) sorted.Add()->Swap(graph().mutable_node(i));
  graph().mutable_node()->Swap(&sorted);
  update_node_maps();  // only node positions changed
}

std::vector<std::string> OnnxGraph::network_inputs() const {
  std::vector<std::string> r;
  for (const auto& in : graph().input())
    if (!is_initializer(in.name())) r.push_back(in.name());
  return r;
}

std::vector<std::string> OnnxGraph::network_outputs() const {
  std::vector<std::string> r;
  for (const auto& o : graph().output()) r.push_back(o.name());
  return r;
}

bool OnnxGraph::is_network_input(const std::string& tensor) const {
  auto it = vi_index_.find(tensor);
  return it != vi_index_.end() && it->second.first == 0 && !is_initializer(tensor);
}

bool OnnxGraph::is_network_output(const std::string& tensor) const {
  for (const auto& o : graph().output())
    if (o.name() == tensor) return true;
  return false;
}

bool OnnxGraph::is_topological() const {
  for (int i = 0; i < node_count(); ++i)
    for (const auto& in : node(i).input())
      if (!in.empty() && producer(in) >= i) return false;
  return true;
}

int OnnxGraph::producer(const std::string& tensor) const {
  auto it = producer_.find(tensor);
  return it == producer_.end() ? -1 : it->second;
}

const std::vector<int>& OnnxGraph::consumers(const std::string& tensor) const {
  static const std::vector<int> none;
  auto it = consumers_.find(tensor);
  return it == consumers_.end() ? none : it->second;
}

int OnnxGraph::node_index(const std::string& node_name) const {
  auto it = node_index_.find(node_name);
  DPL_CHECK(it != node_index_.end(), "no node named '{}' in the graph", node_name);
  return it->second;
}

const onnx::ValueInfoProto* OnnxGraph::value_info(const std::string& tensor) const {
  auto it = vi_index_.find(tensor);
  if (it == vi_index_.end()) return nullptr;
  const auto& [kind, idx] = it->second;
  const auto& g = graph();
  return kind == 0 ? &g.input(idx) : kind == 1 ? &g.output(idx) : &g.value_info(idx);
}

std::optional<Shape> OnnxGraph::tensor_shape(const std::string& tensor) const {
  if (const auto* p = initializer_proto(tensor)) return Shape(p->dims().begin(), p->dims().end());
  const auto* v = value_info(tensor);
  if (!v || !v->type().has_tensor_type() || !v->type().tensor_type().has_shape()) return std::nullopt;
  Shape s;
  for (const auto& d : v->type().tensor_type().shape().dim()) s.push_back(d.has_dim_value() ? d.dim_value() : -1);
  return s;
}

DType OnnxGraph::value_type(const std::string& tensor) const {
  if (const auto* p = initializer_proto(tensor)) return static_cast<DType>(p->data_type());
  const auto* v = value_info(tensor);
  if (v && v->type().has_tensor_type()) return static_cast<DType>(v->type().tensor_type().elem_type());
  return DType::Undefined;
}

void OnnxGraph::set_input_shape(const std::string& input, const Shape& shape) {
  onnx::ValueInfoProto* v = nullptr;
  for (auto& in : *graph().mutable_input())
    if (in.name() == input) v = &in;
  DPL_CHECK(v != nullptr && !is_initializer(input), "the model has no input named '{}'", input);
  auto* tt = v->mutable_type()->mutable_tensor_type();
  if (tt->has_shape())
    DPL_CHECK(tt->shape().dim_size() == static_cast<int>(shape.size()),
              "input '{}' has rank {}, the shape given ({}) has rank {}", input, tt->shape().dim_size(),
              shape_str(shape), shape.size());
  onnx::TensorShapeProto old = tt->shape();
  auto* s = tt->mutable_shape();
  s->clear_dim();
  for (size_t i = 0; i < shape.size(); ++i) {
    DPL_CHECK(shape[i] >= -1, "input '{}': dimension {} of shape {} is negative", input, i, shape_str(shape));
    auto* d = s->add_dim();
    if (shape[i] >= 0)
      d->set_dim_value(shape[i]);
    else if (static_cast<int>(i) < old.dim_size())
      *d = old.dim(static_cast<int>(i));
  }
}

const onnx::TensorProto* OnnxGraph::initializer_proto(const std::string& name) const {
  auto it = init_index_.find(name);
  return it == init_index_.end() ? nullptr : &graph().initializer(it->second);
}

Tensor OnnxGraph::get_initializer(const std::string& name) const {
  const auto* p = initializer_proto(name);
  DPL_CHECK(p != nullptr, "no initializer named '{}'", name);
  return tensor_from_proto(*p, base_dir_);
}

void OnnxGraph::set_initializer(const std::string& name, const Tensor& value) {
  auto it = init_index_.find(name);
  if (it != init_index_.end()) {
    *graph().mutable_initializer(it->second) = tensor_to_proto(value, name);
  } else {
    *graph().add_initializer() = tensor_to_proto(value, name);
    init_index_[name] = graph().initializer_size() - 1;
  }
}

void OnnxGraph::del_initializer(const std::string& name) {
  auto it = init_index_.find(name);
  if (it == init_index_.end()) return;
  graph().mutable_initializer()->DeleteSubrange(it->second, 1);
  // An initializer may also be listed as a graph input (IR < 4 models).
  auto* inputs = graph().mutable_input();
  for (int i = inputs->size() - 1; i >= 0; --i)
    if (inputs->Get(i).name() == name) inputs->DeleteSubrange(i, 1);
  update_maps();
}

void OnnxGraph::insert_node(const onnx::NodeProto& node, int index) {
  auto* nodes = graph().mutable_node();
  DPL_CHECK(index >= -1 && index <= nodes->size(), "insert position {} out of range (the graph has {} nodes)", index,
            nodes->size());
  *nodes->Add() = node;
  if (index >= 0)
    for (int i = nodes->size() - 1; i > index; --i) nodes->SwapElements(i, i - 1);
  update_maps();
}

void OnnxGraph::remove_node(int index) {
  DPL_CHECK(index >= 0 && index < node_count(), "node index {} out of range", index);
  graph().mutable_node()->DeleteSubrange(index, 1);
  update_maps();
}

void OnnxGraph::remove_nodes(const std::vector<char>& remove) {
  auto* nodes = graph().mutable_node();
  DPL_CHECK(static_cast<int>(remove.size()) == nodes->size(), "remove_nodes: {} flags for {} nodes", remove.size(),
            nodes->size());
  int w = 0;
  for (int r = 0; r < nodes->size(); ++r) {
    if (remove[r]) continue;
    if (w != r) nodes->SwapElements(w, r);
    ++w;
  }
  nodes->DeleteSubrange(w, nodes->size() - w);
  update_maps();
}

void OnnxGraph::replace_uses(const std::string& from, const std::string& to) {
  for (auto& n : *graph().mutable_node())
    for (auto& in : *n.mutable_input())
      if (in == from) in = to;
  for (auto& o : *graph().mutable_output())
    if (o.name() == from) o.set_name(to);
  update_maps();
}

std::string OnnxGraph::unique_tensor_name(const std::string& base) const {
  auto used = [&](const std::string& s) {
    return producer_.count(s) || consumers_.count(s) || init_index_.count(s) || vi_index_.count(s);
  };
  std::string name = base;
  for (int k = 1; used(name); ++k) name = base + "_" + std::to_string(k);
  return name;
}

void OnnxGraph::add_network_output(const std::string& tensor) {
  if (is_network_output(tensor)) return;
  onnx::ValueInfoProto v;
  v.set_name(tensor);
  if (const auto* known = value_info(tensor)) v.mutable_type()->CopyFrom(known->type());
  if (const auto* p = initializer_proto(tensor)) {
    auto* tt = v.mutable_type()->mutable_tensor_type();
    tt->set_elem_type(p->data_type());
    tt->mutable_shape()->clear_dim();
    for (auto d : p->dims()) tt->mutable_shape()->add_dim()->set_dim_value(d);
  }
  if (!v.has_type()) {
    DType t = value_type(tensor);
    v.mutable_type()->mutable_tensor_type()->set_elem_type(static_cast<int>(t == DType::Undefined ? DType::F32 : t));
  }
  *graph().add_output() = std::move(v);
  update_maps();
}

void OnnxGraph::del_network_output(const std::string& tensor) {
  auto* outs = graph().mutable_output();
  for (int i = outs->size() - 1; i >= 0; --i)
    if (outs->Get(i).name() == tensor) outs->DeleteSubrange(i, 1);
  update_maps();
}

namespace {

constexpr size_t kProtoLimit = (size_t{1} << 31) - (size_t{64} << 20);  // 2 GB less some margin
// Tensors of 1 KiB or more go to the data file, as onnx.save does.
constexpr size_t kMinExternal = 1024;

// A tensor's name, type and shape, without its data.
onnx::TensorProto tensor_shell(const onnx::TensorProto& p) {
  onnx::TensorProto t;
  t.set_name(p.name());
  t.set_data_type(p.data_type());
  *t.mutable_dims() = p.dims();
  if (p.has_doc_string()) t.set_doc_string(p.doc_string());
  return t;
}

}  // namespace

onnx::ModelProto OnnxGraph::model_without_initializers() const {
  // The initializers are moved aside for the copy (an O(1) swap) and back, so that the large
  // part of a model is never copied only to be dropped. The graph is not const underneath.
  auto* inits = const_cast<onnx::GraphProto&>(model_.graph()).mutable_initializer();
  google::protobuf::RepeatedPtrField<onnx::TensorProto> held;
  held.Swap(inits);
  onnx::ModelProto m;
  try {
    m = model_;
  } catch (...) {
    held.Swap(inits);
    throw;
  }
  held.Swap(inits);
  return m;
}

onnx::ModelProto OnnxGraph::model_for_file(AtomicFile* data, const std::string& data_name) const {
  onnx::ModelProto m = model_without_initializers();
  auto* out = m.mutable_graph()->mutable_initializer();
  out->Reserve(graph().initializer_size());
  int64_t offset = 0;
  for (const auto& init : graph().initializer()) {
    const bool mapped = init.data_location() == onnx::TensorProto::EXTERNAL;
    std::shared_ptr<const void> keep;
    std::string converted;
    std::string_view bytes;
    if (mapped) {
      bytes = external_data_bytes(init, base_dir_, keep);
    } else if (init.has_raw_data()) {
      bytes = init.raw_data();
    } else {
      // Typed fields (float_data...): a large tensor goes to the data file as raw bytes.
      const DType dt = static_cast<DType>(init.data_type());
      int64_t n = 1;
      for (auto d : init.dims()) n *= d;
      if (!data || !dtype_supported(dt) || static_cast<size_t>(n) * dtype_size(dt) < kMinExternal) {
        *out->Add() = init;
        continue;
      }
      converted = tensor_to_proto(tensor_from_proto(init, base_dir_), init.name()).raw_data();
      bytes = converted;
    }
    onnx::TensorProto& t = *out->Add();
    t = tensor_shell(init);
    if (!data || bytes.size() < kMinExternal) {
      t.set_raw_data(bytes.data(), bytes.size());
      continue;
    }
    // 4 KiB alignment lets readers map the file and view each tensor in place.
    const int64_t pad = (4096 - offset % 4096) % 4096;
    data->write(std::string(static_cast<size_t>(pad), '\0'));
    offset += pad;
    data->write(bytes.data(), bytes.size());
    auto add = [&](const char* k, const std::string& v) {
      auto* e = t.add_external_data();
      e->set_key(k);
      e->set_value(v);
    };
    add("location", data_name);
    add("offset", std::to_string(offset));
    add("length", std::to_string(bytes.size()));
    t.set_data_location(onnx::TensorProto::EXTERNAL);
    offset += static_cast<int64_t>(bytes.size());
  }
  return m;
}

size_t OnnxGraph::mapped_bytes() const {
  size_t n = 0;
  for (const auto& init : graph().initializer())
    if (init.data_location() == onnx::TensorProto::EXTERNAL)
      n += saturated_bytes(Shape(init.dims().begin(), init.dims().end()),
                           dtype_size(static_cast<DType>(init.data_type())));
  return n;
}

std::string OnnxGraph::serialize() const {
  std::string s;
  // Weights still in their external file are read into the bytes.
  const bool mapped = mapped_bytes() > 0;
  DPL_CHECK((mapped ? model_for_file(nullptr, "") : model_).SerializeToString(&s),
            "the model could not be serialized (over 2 GB? save it to a file)");
  return s;
}

bool OnnxGraph::save(const std::string& path, bool force_external) const {
  const size_t mapped = mapped_bytes();
  if (!force_external && model_.ByteSizeLong() + mapped < kProtoLimit) {
    write_file_atomic(path, serialize());
    return false;
  }
  // Large model (or forced): every tensor of 1 KiB or more goes into "<file>.data".
  const std::string data_name = fs::path(path).filename().string() + ".data";
  AtomicFile data((fs::path(path).parent_path() / data_name).string());
  const onnx::ModelProto m = model_for_file(&data, data_name);
  data.commit();
  std::string bytes;
  DPL_CHECK(m.SerializeToString(&bytes), "the model graph alone is over 2 GB and cannot be saved");
  write_file_atomic(path, bytes);
  return true;
}

void OnnxGraph::update_maps() {
  init_index_.clear();
  const auto& g = graph();
  init_index_.reserve(g.initializer_size());
  for (int i = 0; i < g.initializer_size(); ++i) init_index_[g.initializer(i).name()] = i;
  update_value_info_maps();
  update_node_maps();
}

void OnnxGraph::update_value_info_maps() {
  vi_index_.clear();
  const auto& g = graph();
  vi_index_.reserve(g.input_size() + g.output_size() + g.value_info_size());
  // First entry wins: inputs, then outputs, then value_info.
  for (int i = 0; i < g.input_size(); ++i) vi_index_.emplace(g.input(i).name(), std::make_pair(0, i));
  for (int i = 0; i < g.output_size(); ++i) vi_index_.emplace(g.output(i).name(), std::make_pair(1, i));
  for (int i = 0; i < g.value_info_size(); ++i) vi_index_.emplace(g.value_info(i).name(), std::make_pair(2, i));
}

void OnnxGraph::update_node_maps() {
  producer_.clear();
  consumers_.clear();
  node_index_.clear();
  const auto& g = graph();
  // Reserved up front: rehashing maps of 10^5 names dominated preparing long chains.
  node_index_.reserve(g.node_size());
  producer_.reserve(g.node_size());
  consumers_.reserve(g.node_size());
  for (int i = 0; i < g.node_size(); ++i) {
    const auto& n = g.node(i);
    if (!n.name().empty()) node_index_[n.name()] = i;
    for (const auto& o : n.output())
      if (!o.empty()) producer_[o] = i;
    for (const auto& in : n.input()) {
      if (in.empty()) continue;
      auto& c = consumers_[in];
      if (c.empty() || c.back() != i) c.push_back(i);
    }
  }
}

}  // namespace dpl
