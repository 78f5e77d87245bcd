// report.html: one self-contained page (inline CSS and SVG, no script, nothing fetched) with
// the run's settings, the network outputs, per-layer cosine and SQNR bar charts in graph
// order, the lowest layers, the single-layer sensitivity chart and suggested skip list, FP32
// vs QDQ value histograms of the five worst layers, the per-tensor weight report and every
// tensor's range. Hovering a bar shows its node (SVG <title>).
#pragma once
#include <string>

#include "profile/report.h"

namespace dpl {

std::string report_html(const ProfileReport& r);

}  // namespace dpl
