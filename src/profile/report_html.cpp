#include "profile/report_html.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <map>

#include "profile/console_report.h"

namespace dpl {

namespace {

std::string esc(const std::string& s) {
  std::string r;
  r.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '&': r += "&amp;"; break;
      case '<': r += "&lt;"; break;
      case '>': r += "&gt;"; break;
      case '"': r += "&quot;"; break;
      case '\'': r += "&#39;"; break;
      default: r += c;
    }
  }
  return r;
}

std::string fmt_num(double v, const char* f = "{:.5f}") {
  if (std::isnan(v)) return "n/a";
  if (std::isinf(v)) return v > 0 ? "&infin;" : "-&infin;";
  return fmt::format(fmt::runtime(f), v);
}

const char* cos_color(double c) { return c >= 0.99 ? "#2e8b57" : c >= 0.95 ? "#e0a100" : "#c0392b"; }

// One bar per item in order; heights from `value` over [lo, hi], colours from `color`.
struct Bar {
  double value;
  std::string color, title;
};

std::string bar_chart(const std::vector<Bar>& bars, double lo, double hi, const std::string& y_label,
                      const std::vector<double>& ticks, const char* tick_fmt) {
  const int n = static_cast<int>(bars.size());
  const double bw = std::max(3.0, std::min(24.0, 1100.0 / std::max(n, 1)));
  const int left = 60, top = 10, h = 220, bottom = 30;
  const int width = left + static_cast<int>(std::ceil(bw * n)) + 10;
  auto y_of = [&](double v) {
    double f = hi > lo ? (std::clamp(v, lo, hi) - lo) / (hi - lo) : 0.0;
    return top + h - f * h;
  };
  std::string s = fmt::format(
      R"(<div class="chart"><svg xmlns="http://www.w3.org/2000/svg" width="{}" height="{}" role="img">)", width,
      top + h + bottom);
  for (double t : ticks) {
    const double y = y_of(t);
    s += fmt::format(R"(<line x1="{}" x2="{}" y1="{:.1f}" y2="{:.1f}" class="grid"/>)", left, width - 5, y, y);
    s += fmt::format(R"(<text x="{}" y="{:.1f}" class="tick" text-anchor="end">{}</text>)", left - 4, y + 4,
                     fmt::format(fmt::runtime(tick_fmt), t));
  }
  for (int i = 0; i < n; ++i) {
    const double v = std::isfinite(bars[i].value) ? bars[i].value : (bars[i].value > 0 ? hi : lo);
    const double y = y_of(v), x = left + i * bw;
    s += fmt::format(R"(<rect x="{:.1f}" y="{:.1f}" width="{:.1f}" height="{:.1f}" fill="{}"><title>{}</title></rect>)",
                     x, y, std::max(1.0, bw - 1), std::max(0.5, top + h - y), bars[i].color, esc(bars[i].title));
  }
  s += fmt::format(R"(<line x1="{}" x2="{}" y1="{}" y2="{}" class="axis"/>)", left, width - 5, top + h, top + h);
  s += fmt::format(R"(<text x="{}" y="{}" class="tick">graph order &rarr; ({} bars)</text>)", left, top + h + 20, n);
  s += fmt::format(R"~(<text x="12" y="{}" class="tick" transform="rotate(-90 12 {})" text-anchor="middle">{}</text>)~",
                   top + h / 2, top + h / 2, esc(y_label));
  return s + "</svg></div>\n";
}

// Cosine axis: from the largest round value at or below the lowest cosine up to 1.
std::pair<double, std::vector<double>> cos_axis(double lowest) {
  double lo = -1.0;
  for (double c : {0.999, 0.99, 0.95, 0.9, 0.8, 0.6, 0.4, 0.2, 0.0})
    if (c <= lowest) {
      lo = c;
      break;
    }
  std::vector<double> ticks;
  for (int k = 0; k <= 4; ++k) ticks.push_back(lo + k * (1.0 - lo) / 4.0);
  return {lo, ticks};
}

std::string histogram_svg(const LayerHistogram& hg, const ActRanges* clip) {
  const int w = 520, h = 180, left = 10, top = 10;
  const int bins = static_cast<int>(hg.fp.size());
  double peak = 1;
  for (int i = 0; i < bins; ++i) peak = std::max({peak, std::log1p(double(hg.fp[i])), std::log1p(double(hg.q[i]))});
  auto path = [&](const std::vector<uint64_t>& c) {
    std::string d;
    for (int i = 0; i < bins; ++i) {
      const double x0 = left + double(i) * w / bins, x1 = left + double(i + 1) * w / bins;
      const double y = top + h - std::log1p(double(c[i])) / peak * h;
      d += fmt::format("{}{:.1f},{:.1f} L{:.1f},{:.1f} ", i ? "L" : "M", x0, y, x1, y);
    }
    return d;
  };
  std::string s = fmt::format(R"(<svg xmlns="http://www.w3.org/2000/svg" width="{}" height="{}" role="img">)",
                              left * 2 + w, top + h + 24);
  s += fmt::format(R"(<rect x="{}" y="{}" width="{}" height="{}" class="frame"/>)", left, top, w, h);
  if (clip && hg.hi > hg.lo) {
    auto it = clip->find(hg.tensor);
    if (it != clip->end())
      for (float v : {it->second.lo, it->second.hi}) {
        if (v < hg.lo || v > hg.hi) continue;
        const double x = left + (v - hg.lo) / (hg.hi - hg.lo) * w;
        s += fmt::format(R"(<line x1="{:.1f}" x2="{:.1f}" y1="{}" y2="{}" class="clip"><title>clip range {}</title></line>)",
                         x, x, top, top + h, v);
      }
  }
  s += fmt::format(R"(<path d="{}" class="fp"><title>FP32</title></path>)", path(hg.fp));
  s += fmt::format(R"(<path d="{}" class="q"><title>QDQ</title></path>)", path(hg.q));
  s += fmt::format(R"(<text x="{}" y="{}" class="tick">{:g}</text>)", left, top + h + 16, hg.lo);
  s += fmt::format(R"(<text x="{}" y="{}" class="tick" text-anchor="end">{:g}</text>)", left + w, top + h + 16, hg.hi);
  return s + "</svg>";
}

const char* kStyle = R"(
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:24px;color:#222;background:#fff}
h1{font-size:22px;margin:0 0 8px} h2{font-size:18px;margin:28px 0 8px;border-bottom:1px solid #ddd}
table{border-collapse:collapse;font-size:13px} td,th{border:1px solid #ddd;padding:3px 8px;text-align:left}
th{background:#f4f4f4} td.n{text-align:right;font-variant-numeric:tabular-nums}
.chart{overflow-x:auto;border:1px solid #eee;margin:6px 0}
.grid{stroke:#e4e4e4} .axis{stroke:#888} .tick{font-size:11px;fill:#555}
.frame{fill:#fafafa;stroke:#ccc} .fp{fill:none;stroke:#1f77b4;stroke-width:1.5} .q{fill:none;stroke:#ff7f0e;stroke-width:1.5}
.clip{stroke:#c0392b;stroke-dasharray:4 3} .legend span{display:inline-block;margin-right:14px}
.sw{display:inline-block;width:12px;height:12px;vertical-align:middle;margin-right:4px}
.hist{display:inline-block;margin:0 18px 12px 0;vertical-align:top} .note{color:#555;font-size:13px}
code{background:#f4f4f4;padding:1px 4px}
)";

}  // namespace

std::string report_html(const ProfileReport& r) {
  const RunSettings& st = r.settings;
  const ProfileResult& p = r.profile;
  std::string h = "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">";
  h += "<title>Dipoorlet profiling: " + esc(st.model) + "</title><style>" + kStyle + "</style></head><body>\n";
  h += "<h1>Quantization profiling</h1>\n<p class=\"note\">FP32 model against its fake-quantized (QDQ) model, "
       "sample by sample. Cosine: mean over samples of the per-sample cosine similarity; SQNR = 10 log10(signal "
       "power / error power) over all samples; relative MSE = error power / signal power.</p>\n";

  h += "<h2>Run</h2>\n<table>";
  auto row = [&](const std::string& k, const std::string& v) {
    h += "<tr><th>" + esc(k) + "</th><td>" + esc(v) + "</td></tr>";
  };
  row("model", st.model);
  row("platform", st.platform);
  row("activation calibration", st.act_quant);
  if (!st.precision.empty()) row("precision", st.precision);
  row("samples", std::to_string(st.samples));
  row("batch / threads", fmt::format("{} / {}", st.batch, st.threads));
  std::string skip;
  for (const auto& s : st.skip_layers) skip += (skip.empty() ? "" : " ") + s;
  row("--skip_layers", skip.empty() ? "(none)" : skip);
  row("per-layer profiling", st.per_layer ? "yes" : "no (--skip_prof_layer)");
  row("sensitivity", st.sensitivity ? fmt::format("yes, {} samples, --target_cos {}", st.sensitivity_samples,
                                                  st.target_cos)
                                    : "no (--sensitivity)");
  row("output folder", st.output_dir);
  row("command", st.command_line);
  row("version / date", st.version + " / " + st.date);
  row("profiling time", fmt::format("{:.2f} s (pass {:.2f} s)", r.seconds, p.seconds));
  h += "</table>\n";

  h += "<h2>Network outputs</h2>\n<table><tr><th>output</th><th>avg cos</th><th>min cos</th><th>SQNR dB</th>"
       "<th>rel MSE</th><th>note</th></tr>";
  for (const auto& o : p.outputs)
    h += fmt::format(
        "<tr><td>{}</td><td class=n style=\"color:{}\">{}</td><td class=n>{}</td><td class=n>{}</td><td class=n>{}"
        "</td><td>{}</td></tr>",
        esc(o.name), cos_color(o.avg_cos()), fmt_num(o.avg_cos()), fmt_num(o.min_cos()), fmt_num(o.stats.sqnr_db(), "{:.2f}"),
        fmt_num(o.stats.rel_mse(), "{:.3e}"), o.tolcos ? "tolcos: one cosine over all samples stacked" : "");
  h += "</table>\n";

  if (st.per_layer && !p.layers.empty()) {
    double lowest = 1;
    double smax = 0;
    for (const auto& l : p.layers) {
      lowest = std::min(lowest, l.stats.mean_cosine());
      if (std::isfinite(l.stats.sqnr_db())) smax = std::max(smax, l.stats.sqnr_db());
    }
    std::vector<Bar> cb, sb;
    for (const auto& l : p.layers) {
      const std::string t = fmt::format("{} ({}) -> {}: cos {:.5f}, SQNR {:.2f} dB", l.node, l.op_type, l.tensor,
                                        l.stats.mean_cosine(), l.stats.sqnr_db());
      cb.push_back({l.stats.mean_cosine(), cos_color(l.stats.mean_cosine()), t});
      sb.push_back({l.stats.sqnr_db(), cos_color(l.stats.mean_cosine()), t});
    }
    auto [lo, ticks] = cos_axis(lowest);
    h += "<h2>Per layer: cosine</h2>\n<p class=\"note legend\"><span><i class=sw style=\"background:#2e8b57\"></i>"
         "&ge; 0.99</span><span><i class=sw style=\"background:#e0a100\"></i>&ge; 0.95</span><span><i class=sw "
         "style=\"background:#c0392b\"></i>&lt; 0.95</span> Each bar is one output of one quantized node, compared "
         "before its own output quantization.</p>\n";
    h += bar_chart(cb, lo, 1.0, "cosine", ticks, "{:.5g}");
    const double top = std::max(20.0, std::ceil(smax / 20.0) * 20.0);
    std::vector<double> sticks;
    for (int k = 0; k <= 4; ++k) sticks.push_back(top * k / 4.0);
    h += "<h2>Per layer: SQNR (dB)</h2>\n";
    h += bar_chart(sb, 0.0, top, "SQNR dB", sticks, "{:.0f}");

    std::map<std::string, const TensorRange*> range_of;
    for (const auto& t : r.ranges) range_of[t.name] = &t;
    h += "<h2>Lowest 10 layers</h2>\n<table><tr><th>node-tensor</th><th>op</th><th>cos</th><th>min cos</th>"
         "<th>SQNR dB</th><th>rel MSE</th><th>calibrated range</th></tr>";
    for (const LayerProfile* l : lowest_layers(p, 10)) {
      auto it = range_of.find(l->tensor);
      const std::string range =
          it == range_of.end() ? "" : fmt::format("[{:g}, {:g}]", it->second->lo, it->second->hi);
      h += fmt::format(
          "<tr><td>{}</td><td>{}</td><td class=n style=\"color:{}\">{}</td><td class=n>{}</td><td class=n>{}</td>"
          "<td class=n>{}</td><td class=n>{}</td></tr>",
          esc(l->node + "-" + l->tensor), esc(l->op_type), cos_color(l->stats.mean_cosine()),
          fmt_num(l->stats.mean_cosine()), fmt_num(l->stats.min_cosine()), fmt_num(l->stats.sqnr_db(), "{:.2f}"),
          fmt_num(l->stats.rel_mse(), "{:.3e}"), range);
    }
    h += "</table>\n";
  }

  if (r.sensitivity) {
    const SensitivityResult& s = *r.sensitivity;
    double lowest = 1;
    std::vector<Bar> bars;
    for (const auto& n : s.nodes) {
      lowest = std::min(lowest, n.cos);
      bars.push_back({n.cos, n.quantizes_inputs ? cos_color(n.cos) : "#bbbbbb",
                      fmt::format("{} ({}): output cos {:.5f}, SQNR {:.2f} dB{}", n.node, n.op_type, n.cos, n.sqnr_db,
                                  n.quantizes_inputs ? "" : " (no input quantized)")});
    }
    auto [lo, ticks] = cos_axis(lowest);
    h += fmt::format("<h2>Single-layer sensitivity</h2>\n<p class=\"note\">Network-output cosine (lowest over the "
                     "outputs) when only this node is quantized, {} samples, graph order. Grey: the node quantizes "
                     "none of its inputs.</p>\n",
                     s.samples);
    h += bar_chart(bars, lo, 1.0, "output cosine", ticks, "{:.5g}");
    const SkipSuggestion& g = s.suggestion;
    std::string list;
    for (const auto& n : st.skip_layers) list += " " + n;
    for (const auto& n : g.skip) list += " " + n;
    if (g.skip.empty() && g.reached)
      h += fmt::format("<p>The output cosine {} already reaches the target {}: no layer to skip.</p>\n",
                       fmt_num(g.full_cos), g.target);
    else if (g.reached)
      h += fmt::format("<p>Suggested: <code>--skip_layers{}</code><br>{} more layer(s) kept in float bring the output "
                       "cosine from {} to {} (target {}, measured on {} samples, {} QDQ models tried).</p>\n",
                       esc(list), g.skip.size(), fmt_num(g.full_cos), fmt_num(g.cos), g.target, s.samples,
                       g.evaluations);
    else
      h += fmt::format("<p>The target {} is out of reach: with every quantized node skipped the output cosine is {} "
                       "(the platform quantizes the network outputs).</p>\n",
                       g.target, fmt_num(g.cos));
  }

  if (!r.histograms.empty()) {
    std::map<std::string, const LayerProfile*> by_tensor;
    for (const auto& l : p.layers) by_tensor[l.tensor] = &l;
    ActRanges clip;
    for (const auto& t : r.ranges)
      if (!t.weight) clip[t.name] = Range{t.lo, t.hi};
    h += fmt::format("<h2>Value histograms of the five worst layers</h2>\n<p class=\"note legend\"><span><i class=sw "
                     "style=\"background:#1f77b4\"></i>FP32</span><span><i class=sw style=\"background:#ff7f0e\"></i>"
                     "QDQ</span><span><i class=sw style=\"background:#c0392b\"></i>calibrated range of the tensor "
                     "</span> log(1 + count) per bin, first {} samples.</p>\n",
                     r.histograms.front().samples);
    for (const auto& hg : r.histograms) {
      auto it = by_tensor.find(hg.tensor);
      const double c = it == by_tensor.end() ? NAN : it->second->stats.mean_cosine();
      h += fmt::format("<div class=hist><div>{} &rarr; {} (cos {})</div>", esc(hg.node), esc(hg.tensor), fmt_num(c));
      h += histogram_svg(hg, &clip) + "</div>\n";
    }
  }

  if (!r.weights_per_channel) {
    h += "<h2>Layers that one weight range per tensor hurts</h2>\n<p class=\"note\">mean over output channels of "
         "(max - min) / (max - min) of the whole weight, lowest first: the platform quantizes weights per tensor."
         "</p>\n<table><tr><th>Conv</th><th>ratio</th></tr>";
    for (const auto& w : r.per_tensor)
      h += fmt::format("<tr><td>{}</td><td class=n>{}</td></tr>", esc(w.node), fmt_num(w.ratio));
    h += "</table>\n";
  }

  h += fmt::format("<h2>Tensor ranges</h2>\n<details><summary>{} tensors</summary><table><tr><th>tensor</th>"
                   "<th>shape</th><th>kind</th><th>min</th><th>max</th></tr>",
                   r.ranges.size());
  for (const auto& t : r.ranges)
    h += fmt::format("<tr><td>{}</td><td>{}</td><td>{}</td><td class=n>{:g}</td><td class=n>{:g}</td></tr>",
                     esc(t.name), esc(python_shape(t.shape)),
                     (t.weight ? (t.per_channel ? fmt::format("weight, {} channels", t.channels) : "weight, per tensor")
                               : "activation") +
                         (t.bits > 0 ? fmt::format(", {} bits", t.bits) : ""),
                     t.lo, t.hi);
  h += "</table></details>\n</body></html>\n";
  return h;
}

}  // namespace dpl
