#include "optimizer/prepare.h"

#include "graph/model_checks.h"
#include "optimizer/opset_upgrade.h"
#include "optimizer/tensor_limits.h"

namespace dpl {

void prepare_model(OnnxGraph& g, int target_opset, bool simplify_graph) {
  if (simplify_graph) {
    prepare_model(g, SimplifyOptions{}, target_opset);
    return;
  }
  g.convert_constant_to_init();
  check_constant_limits(g);
  check_model_structure(g);
  if (g.opset() < target_opset) {
    // ONNX's version converter dereferences what a graph names without checking it (a graph
    // output nothing produces crashed it: fuzz_model, docs/fuzzing.md): dangling names and
    // cycles are refused first, and it gets the nodes in order.
    g.topologize();
    g.infer_shapes();  // the adapters read input shapes
    check_inferred_operand_ranks(g);
    upgrade_opset(g, target_opset);
  }
  g.set_names();
  g.topologize();
  g.infer_shapes();
  check_tensor_limits(g);  // before folding runs any kernel
}

void prepare_model(OnnxGraph& g, const SimplifyOptions& opts, int target_opset) {
  prepare_model(g, target_opset, false);
  simplify(g, opts);
  g.set_names();
  check_tensor_limits(g);  // shapes folding made known
}

}  // namespace dpl
