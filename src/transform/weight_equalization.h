// Cross-layer weight equalization (`--we`, docs/spec.md 8; Nagel et al. 2019, arXiv 1906.04721,
// section 4.1) and high-bias absorption (`--we_absorb`, **beyond**: their section 4.1.2,
// AIMET's cross-layer equalization step 2).
//
// Pairs (the original's find_successor): a Conv whose output feeds exactly one Conv,
// directly or through one Relu or PRelu (positively homogeneous: f(x / s) = f(x) / s for
// s > 0), the output being no graph output. **beyond**: also through a Clip (ReLU6), whose
// bounds are divided by the same factor; as one Clip holds one scalar bound, such a pair is
// equalized only when all its channel factors are equal and skipped (logged) otherwise.
//
// Rule, per group g of the second Conv and channel i of the first (depthwise included):
//   r1 = max|W1[i]|, r2 = max|W2[rows of g, i]| (values below 1e-6 count as 0),
//   s = r1 / sqrt(r1 * r2) (1 when not finite), W1[i] /= s, b1[i] /= s, W2[rows of g, i] *= s.
// One application makes r1 = r2 = sqrt(r1 * r2) for the pair, its fixed point. Pairs that
// share a Conv (chains Conv -> Conv -> Conv) disturb each other, so the rule is swept over
// all pairs in graph order until a sweep changes the weights by less than 1e-4 (sum of the
// L2 norms of the weight changes), at most `max_sweeps` times. The FP32 function is unchanged.
//
// High-bias absorption, for pairs through a Relu whose second Conv has no padding (at a
// padded border the shift would not cancel): with c[i] = max(0, min over the calibration
// samples of the first Conv's output channel i), b1[i] -= c[i] and
// b2[o] += sum over the kernel of W2[o, i] * c[i]. On the calibration samples
// relu(x - c) = relu(x) - c, so the FP32 outputs are unchanged there while the Relu output
// range shrinks by c. (AIMET estimates c from BatchNorm statistics as beta - 3 gamma; BNs are
// folded here before calibration, and the measured minimum is exact on the data.)
#pragma once
#include <string>
#include <vector>

#include "calib/sample_source.h"
#include "graph/onnx_graph.h"
#include "transform/incremental.h"

namespace dpl::transform {

struct EqualizationPair {
  std::string first, second;  // Conv node names
  std::string act;            // the Relu / PRelu / Clip node between them, or empty
  std::string act_type;
};

// Pairs in graph order of their first Conv. With `with_clip` false, pairs through Clip are
// left out (the original's set: this is what "node has been equalized" means for AdaRound).
std::vector<EqualizationPair> equalization_pairs(const OnnxGraph& g, bool with_clip = true);

struct EqualizeOptions {
  double threshold = 1e-4;
  int max_sweeps = 100;
};

struct EqualizeResult {
  std::vector<EqualizationPair> equalized;
  std::vector<std::string> skipped;  // "first -> second: reason"
  int sweeps = 0;
  double last_change = 0;
  bool converged = false;
};

EqualizeResult equalize_weights(OnnxGraph& g, const EqualizeOptions& opts = {});

struct AbsorbResult {
  std::vector<std::string> pairs;  // "first -> second" where a bias was absorbed
  double mean_shift = 0;           // mean of c over the absorbed channels
  int channels = 0;                // channels with c > 0
};

// High-bias absorption on the pairs of `pairs` that qualify (see above); one FP32 pass.
AbsorbResult absorb_high_bias(OnnxGraph& g, const std::vector<EqualizationPair>& pairs, SampleSource& data,
                              const TransformRunOptions& run);

}  // namespace dpl::transform
