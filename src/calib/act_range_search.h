// Activation ranges searched on the grid each tensor is quantized to (docs/calibration.md):
//  - lp: the Lp clip search of calib/lp_search.h on the tensor's histogram over all samples;
//  - kl: TensorRT's entropy calibration on the |x| histogram of hist;
//  - output: the candidate ranges the output-aware stage (calib/observer_output.h) compares.
#pragma once
#include <map>
#include <string>
#include <vector>

#include "calib/lp_search.h"
#include "calib/observer_hist.h"
#include "calib/observer_minmax.h"
#include "calib/observer_range_hist.h"
#include "calib/ranges.h"
#include "calib/tensor_cali.h"

namespace dpl {

// The grid of activation `name` whose range starts at `lo`: its bits (CaliOptions::bits_of),
// symmetric when the platform's activations are, except a dynamic_sym range starting at 0.
calib::LpSearch act_grid(const CaliOptions& o, const std::string& name, float lo);

ActRanges lp_ranges(const RangeHistObserver& hist, const CaliOptions& o);

// TensorRT's entropy calibration on |x| counts (bins over [0, amax]): for each i from
// `levels` to counts.size(), the reference distribution is counts[0..i) with everything above
// added to bin i-1, the candidate is counts[0..i) merged into `levels` equal groups, spread
// back over each group's nonzero bins; the i of the smallest KL divergence (the largest on
// ties) is returned (threshold = i * amax / bins). Returns counts.size() when there are
// fewer bins than levels or no counts.
int kl_threshold_bin(const std::vector<uint64_t>& counts, int levels);
// Ranges [max(-c, min), min(c, max)], c the KL threshold; levels 2^(bits-1), or 2^bits for a
// one-sided tensor on an asymmetric grid (all codes on one side). `hist` must hold full
// histograms (built without a threshold).
ActRanges kl_ranges(const HistObserver& hist, const MinMaxObserver& mm, const CaliOptions& o);

// Candidate ranges of the output-aware stage: `count` ranges from the Lp clip (first) to the
// min/max range (last), both ends moved linearly.
std::map<std::string, std::vector<Range>> output_candidates(const ActRanges& lp, const MinMaxObserver& mm, int count);

}  // namespace dpl
