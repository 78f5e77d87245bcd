// Fusion planning for inference sessions (SessionOptions::fuse): which nodes absorb the
// nodes that follow them. First, zero Pads before a Conv become the Conv's own padding
// (runtime/pad_folding.h). Then, walking the graph in order, each node is offered its single
// follower (the one node reading its output, once) through its kernel's Op::can_absorb, and
// then the multi-node patterns of a small table (SiLU = x * Sigmoid(x), offered as one
// synthetic "dpl.Swish" follower; QuantizeLinear -> DequantizeLinear, offered as one
// "dpl.QuantizeDequantize" follower). An absorbing node takes over its followers' extra
// operands and outputs; the absorbed nodes leave the plan. Last, runs of element-wise plan
// nodes after a node become one island node (kElementwiseIslandOp) run block by block. The
// Session only executes the plan it gets back, so the executor stays the same for fused and
// unfused runs.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "runtime/op.h"

namespace dpl {

// Synthetic follower type for x * Sigmoid(x) (YOLOX's SiLU activation); its `absorbed` holds
// the Sigmoid and the Mul.
inline constexpr const char* kSwishOp = "dpl.Swish";
// Synthetic follower type for QuantizeLinear -> DequantizeLinear (a QDQ model's fake
// quantization): its `absorbed` holds the two nodes, its inputs are the value they quantize,
// then their operands (the Q's scale and zero point, the DQ's), which the absorbing node
// gets appended to its inputs in that order (omitted ones skipped).
inline constexpr const char* kQuantDequantOp = "dpl.QuantizeDequantize";
// Synthetic follower type for the SiLU of a QDQ model that quantizes the Sigmoid's output:
// reading v, Sigmoid(v) -> QuantizeLinear -> DequantizeLinear -> Mul(v, that). Its
// `absorbed` holds the four nodes in that order, its inputs are v, then the pair's operands
// (appended to the absorbing node's inputs as for kQuantDequantOp).
inline constexpr const char* kQuantizedSwishOp = "dpl.QuantizedSwish";
// Synthetic follower type for the element-wise nodes after a DequantizeLinear of 8-bit codes
// that together compute one function of its value (a QOperator model's SiLU: Sigmoid,
// QuantizeLinear, DequantizeLinear, Mul, QuantizeLinear): its `absorbed` holds them in plan
// order, their per-tensor parameters are constants, and only the last one's output leaves
// them. With 256 possible inputs, the DequantizeLinear computes it as a lookup table
// (quantize_linear.cpp).
inline constexpr const char* kCodeLookupOp = "dpl.CodeLookup";
// A plan node (not a follower) made after every node took what it could: element-wise plan
// nodes that read one tensor x (its input), each other's outputs and scalar constants, with
// one exit, the last one's output, run block by block (ops/elementwise_island.cpp). Its
// `absorbed` holds the plan nodes, each with what it absorbed itself.
inline constexpr const char* kElementwiseIslandOp = "dpl.ElementwiseIsland";

// One step of a session's execution plan: a node (or a node with the followers it absorbed,
// NodeDesc::absorbed) and the session value slots it reads and writes.
struct PlanNode {
  NodeDesc desc;
  std::unique_ptr<Op> op;
  std::vector<int> in_slots;   // -1 for omitted optional inputs
  std::vector<int> out_slots;  // -1 for omitted optional outputs
};

// What the planner needs to know of the session's values, per slot.
struct PlanSlots {
  const std::vector<std::string>& names;
  const std::vector<Tensor>& consts;  // initializer value, or undefined
  const std::vector<char>& visible;   // graph outputs and kept tensors: never absorbed away
};

// Returns the fused plan for `nodes` (topologically ordered; descs not yet init()ed).
std::vector<PlanNode> plan_fusion(std::vector<PlanNode> nodes, const PlanSlots& slots);

}  // namespace dpl
