// What the QDQ model decided, as the QOP lowerings ask it (docs/qop.md "When an integer op is
// not used"): which node inputs it quantizes and with which parameters, what parameters an
// integer op's output takes, and whether the QDQ model uses that output on one grid only.
#pragma once
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "calib/ranges.h"
#include "graph/onnx_graph.h"
#include "quant/platform.h"
#include "quant/qdq_builder.h"

namespace dpl::qop {

// The parameters of an integer op's output, and the Relu/Clip node it absorbs (-1: none).
struct OutputPlan {
  QuantParams params;
  int fold = -1;
};

class QdqDecisions {
 public:
  // `g`: the FP32 graph in the order the QOP builder walks it; `qdq` built from it (same node
  // names). Throws when `qdq` has a node `g` lacks or with another input count.
  QdqDecisions(const OnnxGraph& g, const QdqModel& qdq, const Platform& platform, const ActRanges& act,
               const QdqOptions& opts);

  const QdqModel& qdq() const { return qdq_; }
  const Platform& platform() const { return platform_; }
  const ActRanges& act() const { return act_; }

  // The QDQ model selected the node for quantization (QdqModel::quant_nodes).
  bool quantizes_node(const std::string& name) const { return quantized_nodes_.count(name) != 0; }
  // The pair the QDQ model puts on input k of node `node`, or null (also when the node has
  // no input k).
  const QdqPair* input_pair(int node, int k) const {
    const auto& pairs = input_pairs_[node];
    return k < static_cast<int>(pairs.size()) ? pairs[k] : nullptr;
  }
  // The pair of tensor `t`, or null.
  const QdqPair* pair(const std::string& t) const;

  // Parameters a tensor gets in the integer domain: the QDQ model's, else from its range.
  std::optional<QuantParams> target_params(const std::string& t) const;
  // Output parameters of an integer op producing `y`: the QDQ model's for y; else, when y's
  // only consumer is a Relu or Clip, that node's (folded when saturation does its clamping);
  // else y's own range. nullopt when none is known.
  std::optional<OutputPlan> output_plan(const std::string& y) const;
  // True when every use of y in the QDQ model sees it on p's grid: each consumer quantizes it
  // with those parameters, or is a Relu/Clip whose output is used so in turn (a clamp commutes
  // with the rounding), and it is a graph output only where the platform quantizes outputs.
  // Only then does an integer op that rounds y to p compute what the QDQ model computes;
  // elsewhere `why` names the use that needs the float value.
  bool integer_only(const std::string& y, const QuantParams& p, std::string& why) const;

 private:
  bool clamp_is_saturation(const onnx::NodeProto& r, const QuantParams& p) const;

  const OnnxGraph& g_;
  const QdqModel& qdq_;
  const Platform& platform_;
  const ActRanges& act_;
  const QdqOptions& opts_;
  std::unordered_map<std::string, const QdqPair*> pair_by_tensor_;
  std::set<std::string> quantized_nodes_;
  std::vector<std::vector<const QdqPair*>> input_pairs_;  // [node][input]
};

}  // namespace dpl::qop
