// -A output (docs/calibration.md): per tensor, among candidate ranges, the one whose fake
// quantization changes the outputs of the tensor's consumer nodes least, as AIMET's
// sequential MSE chooses weight encodings by the layer output. Each consumer node is run
// again (by a second, unfused session of the same graph) with that one input fake-quantized
// to each candidate and its other inputs in FP32; the error of the consumer's float outputs,
// relative to their energy, is summed over consumers (a graph output counts itself as a
// consumer, with the identity). A tensor without a float consumer keeps its first candidate.
//
// State: per tensor, per consumer, the sum of squared FP32 outputs and the sum of squared
// errors of each candidate; merging adds them (exact up to double rounding), so ranks of a
// distributed run can each observe their share. Needs every tensor of a node's inputs (also
// integer ones, e.g. a Reshape's shape), hence observes_all_dtypes().
#pragma once
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "calib/lp_search.h"
#include "calib/observer.h"
#include "calib/ranges.h"
#include "graph/onnx_graph.h"
#include "runtime/session.h"

namespace dpl {

class OutputErrorObserver : public Observer {
 public:
  struct Target {
    std::vector<Range> candidates;
    calib::LpSearch grid;  // bits and symmetry of the tensor's grid
  };
  // `graph` must outlive the observer; `threads` for the consumer session.
  OutputErrorObserver(const OnnxGraph& graph, std::map<std::string, Target> targets, int threads);
  ~OutputErrorObserver() override;

  void observe(const std::string& name, const Tensor& value, int samples) override;
  void merge(const Observer& other) override;
  std::string serialize() const override;
  void merge_serialized(std::string_view bytes) override;
  void clear() override;
  bool observes_all_dtypes() const override { return true; }
  // Evaluates the nodes of the last batch still waiting.
  void end_pass() override;

  // Per tensor, the candidate with the smallest summed relative error (the first on ties and
  // for tensors without a consumer term).
  ActRanges ranges() const;
  // Index of the candidate ranges() takes for `name`.
  int choice(const std::string& name) const;
  // Summed relative error of each candidate of `name` (empty when it has no term).
  std::vector<double> scores(const std::string& name) const;

 private:
  struct Term {
    double energy = 0;           // sum of squared FP32 consumer outputs
    std::vector<double> error;   // per candidate: sum of squared output errors
  };
  void finish_batch();             // evaluates the batch's waiting nodes, drops its tensors
  void evaluate_until(int node);  // nodes < node
  void evaluate(int node);
  void add_term(const std::string& tensor, int consumer, const Term& t);

  const OnnxGraph& graph_;
  std::map<std::string, Target> targets_;
  std::unique_ptr<Session> session_;
  std::unordered_map<std::string, int> producer_;       // tensor -> node index
  std::unordered_map<std::string, int> last_reader_;    // tensor -> last node reading it
  std::vector<std::string> graph_inputs_;
  TensorMap values_;                                   // the current batch's live tensors
  int next_ = 0;                                       // first node not yet evaluated
  // tensor -> consumer node (-1: itself, as a graph output) -> term
  std::map<std::string, std::map<int, Term>> terms_;
};

}  // namespace dpl
