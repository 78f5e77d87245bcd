// ONNXGraph of the original (seed section 3), on libonnx's protobuf classes: the model
// plus lookup maps (producer, consumers, initializers, shapes) kept in step with edits.
#pragma once
#include <onnx/onnx_pb.h>

#include <map>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/tensor.h"

namespace dpl {

class AtomicFile;

class OnnxGraph {
 public:
  OnnxGraph() = default;
  // Reads a model file. External data is resolved against its folder and checked; tensors of
  // 64 KiB or more stay in their file, mapped, and get_initializer views them in place.
  // Does not modify it; optimizer/prepare.h has the standard clean-up.
  static OnnxGraph load(const std::string& path);
  static OnnxGraph from_model(onnx::ModelProto model, std::string base_dir = "");

  onnx::ModelProto& model() { return model_; }
  const onnx::ModelProto& model() const { return model_; }
  onnx::GraphProto& graph() { return *model_.mutable_graph(); }
  const onnx::GraphProto& graph() const { return model_.graph(); }
  const std::string& base_dir() const { return base_dir_; }

  // ai.onnx opset of the model.
  int64_t opset() const;
  // Runs ONNX shape inference; value_info gets every inferable shape. Nodes inference cannot
  // handle leave their outputs unknown.
  void infer_shapes();
  // Unnamed nodes become <OpType>_<index>; duplicates get a suffix.
  void set_names();
  void convert_constant_to_init();
  // Sorts nodes topologically (stable: keeps the file's order where it is already valid).
  // Throws on a cycle or on a tensor nothing produces. Expects current maps (update_maps
  // after edits through graph()) and keeps them so.
  void topologize();
  // Whether every node comes after the producers of its inputs (what topologize() makes), from
  // the current maps, without copying anything.
  bool is_topological() const;

  // Graph inputs that are not initializers / graph outputs.
  std::vector<std::string> network_inputs() const;
  std::vector<std::string> network_outputs() const;
  bool is_network_input(const std::string& tensor) const;
  bool is_network_output(const std::string& tensor) const;

  // Node index producing `tensor`, or -1 (graph input, initializer, unknown).
  int producer(const std::string& tensor) const;
  // Node indices consuming `tensor`, in node order.
  const std::vector<int>& consumers(const std::string& tensor) const;
  // Index of the named node; throws when there is none.
  int node_index(const std::string& node_name) const;
  bool has_node(const std::string& node_name) const { return node_index_.count(node_name) != 0; }
  const onnx::NodeProto& node(int i) const { return graph().node(i); }
  onnx::NodeProto& mutable_node(int i) { return *graph().mutable_node(i); }
  int node_count() const { return graph().node_size(); }

  // Shape from initializers/inputs/outputs/value_info; unknown dims are -1. nullopt when
  // nothing is known (not even the rank).
  std::optional<Shape> tensor_shape(const std::string& tensor) const;
  DType value_type(const std::string& tensor) const;
  // Declared type/shape entry of a tensor (input, output or value_info), or nullptr.
  const onnx::ValueInfoProto* value_info(const std::string& tensor) const;
  // Sets the shape of a graph input; -1 keeps that dimension as declared (symbolic or not).
  void set_input_shape(const std::string& input, const Shape& shape);

  bool is_initializer(const std::string& name) const { return init_index_.count(name) != 0; }
  Tensor get_initializer(const std::string& name) const;
  const onnx::TensorProto* initializer_proto(const std::string& name) const;
  // Adds or replaces.
  void set_initializer(const std::string& name, const Tensor& value);
  void del_initializer(const std::string& name);

  // Inserts before position `index` (-1: at the end). Keeps maps up to date.
  void insert_node(const onnx::NodeProto& node, int index = -1);
  void remove_node(int index);
  void remove_node(const std::string& node_name) { remove_node(node_index(node_name)); }
  // Removes every node whose flag is set (one pass; remove.size() == node_count()).
  void remove_nodes(const std::vector<char>& remove);
  // Replaces every use of tensor `from` as a node input (and graph output) by `to`.
  void replace_uses(const std::string& from, const std::string& to);
  // A tensor name not used anywhere in the graph: `base`, else `base_1`, `base_2`...
  std::string unique_tensor_name(const std::string& base) const;

  void add_network_output(const std::string& tensor);
  void del_network_output(const std::string& tensor);

  // Writes atomically (temporary name, then rename). Tensors of 1 KiB or more go to external
  // data ("<file>.data" next to it) when the model would pass protobuf's 2 GB limit, or
  // when forced. Returns whether it wrote the data file.
  bool save(const std::string& path, bool force_external = false) const;
  // The model as one protobuf message (weights still in an external file read in).
  std::string serialize() const;
  // Bytes of the initializers whose data still lies in an external file (viewed in place).
  size_t mapped_bytes() const;
  OnnxGraph copy() const { return *this; }

  // Rebuilds the lookup maps; edits through mutable graph() must call it.
  void update_maps();
  // The parts of it: after edits of graph inputs/outputs/value_info only, and after edits of
  // nodes only (names, inputs, outputs, order).
  void update_value_info_maps();
  void update_node_maps();

 private:
  // model_ without the main graph's initializers, which are not copied.
  onnx::ModelProto model_without_initializers() const;
  // model_ as written to a file: initializers inline, or with `data` each one of 1 KiB or
  // more written there and referenced as `data_name`.
  onnx::ModelProto model_for_file(AtomicFile* data, const std::string& data_name) const;

  onnx::ModelProto model_;
  std::string base_dir_;
  std::unordered_map<std::string, int> producer_;
  std::unordered_map<std::string, std::vector<int>> consumers_;
  std::unordered_map<std::string, int> node_index_;
  std::unordered_map<std::string, int> init_index_;
  // tensor -> (0: input, 1: output, 2: value_info; index in that list). Indices, not
  // pointers, so that copies stay valid.
  std::unordered_map<std::string, std::pair<int, int>> vi_index_;
};

}  // namespace dpl
