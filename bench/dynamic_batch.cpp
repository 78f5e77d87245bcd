// bench-dynamic-batch IN.onnx OUT.onnx: writes a copy of a model whose batch dimension is
// symbolic, so that ONNX Runtime (which enforces declared input shapes) can run a model
// exported for batch 1 at batch 8 in the benchmark. Graph inputs and outputs get the
// symbolic first dimension "batch", inferred intermediate shapes are dropped, and constant
// Reshape targets that start with the exported batch (1) start with 0 (copy the input's dim)
// instead. The opset and everything else are kept as they are.
#include <cstring>
#include <iostream>

#include "graph/onnx_graph.h"
#include "util/command_main.h"
#include "util/error.h"

using namespace dpl;

namespace {

void make_dim_symbolic(onnx::ValueInfoProto& v) {
  if (!v.type().has_tensor_type() || !v.type().tensor_type().has_shape()) return;
  auto* shape = v.mutable_type()->mutable_tensor_type()->mutable_shape();
  if (shape->dim_size() == 0) return;
  shape->mutable_dim(0)->set_dim_param("batch");
}

int run(int argc, char** argv) {
  DPL_CHECK(argc == 3, "usage: bench-dynamic-batch IN.onnx OUT.onnx");
  OnnxGraph g = OnnxGraph::load(argv[1]);
  auto inputs = g.network_inputs();
  for (auto& v : *g.graph().mutable_input())
    if (!g.is_initializer(v.name())) make_dim_symbolic(v);
  for (auto& v : *g.graph().mutable_output()) make_dim_symbolic(v);
  g.graph().clear_value_info();
  int patched = 0;
  for (int i = 0; i < g.node_count(); ++i) {
    const auto& n = g.node(i);
    if (n.op_type() != "Reshape" || n.input_size() < 2) continue;
    const std::string& shape_name = n.input(1);
    if (g.is_initializer(shape_name)) {
      Tensor t = g.get_initializer(shape_name);
      if (t.dtype() != DType::I64 || t.numel() == 0 || t.data<int64_t>()[0] != 1) continue;
      Tensor c = t.clone();
      c.data<int64_t>()[0] = 0;
      g.set_initializer(shape_name, c);
      ++patched;
    } else {
      int p = g.producer(shape_name);
      if (p < 0 || g.node(p).op_type() != "Constant") continue;
      for (auto& a : *g.mutable_node(p).mutable_attribute()) {
        if (a.name() != "value" || a.t().data_type() != onnx::TensorProto::INT64) continue;
        auto* tp = a.mutable_t();
        if (tp->int64_data_size() > 0 && tp->int64_data(0) == 1) {
          tp->set_int64_data(0, 0);
          ++patched;
        } else if (tp->raw_data().size() >= 8) {
          int64_t first;
          std::memcpy(&first, tp->raw_data().data(), 8);
          if (first != 1) continue;
          std::string raw = tp->raw_data();
          first = 0;
          std::memcpy(raw.data(), &first, 8);
          tp->set_raw_data(raw);
          ++patched;
        }
      }
    }
  }
  g.update_maps();
  g.save(argv[2]);
  std::cout << "wrote " << argv[2] << " (" << inputs.size() << " input(s) with a symbolic batch, " << patched
            << " Reshape target(s) patched)" << std::endl;
  return 0;
}

}  // namespace

int main(int argc, char** argv) { return dpl::command_main(run, argc, argv); }
