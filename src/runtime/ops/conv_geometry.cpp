// ConvParams::from_node and conv_geometry (see conv_geometry.h): the ONNX attribute rules
// of Conv and ConvTranspose (auto_pad, output_padding, output_shape), checked once here.
#include "runtime/ops/conv_geometry.h"

#include <algorithm>

namespace dpl {

namespace {

int64_t floor_div(int64_t a, int64_t b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }

std::vector<int64_t> attr_or(const std::vector<int64_t>& v, size_t n, int64_t dflt, const char* name,
                             const std::string& op) {
  if (v.empty()) return std::vector<int64_t>(n, dflt);
  DPL_CHECK(v.size() == n, "{}: attribute {} has {} values, expected {}", op, name, v.size(), n);
  return v;
}

// Batch, channels, group, spatial sizes, kernel, strides and dilations; returns the pads
// attribute (2 * spatial rank values).
std::vector<int64_t> resolve_sizes(const ConvParams& p, const Shape& x, const Shape& w, ConvGeometry& g) {
  const std::string& op = p.op_name;
  DPL_CHECK(x.size() >= 3, "{}: input X must have rank >= 3 (N, C, spatial...), got shape {}", op, shape_str(x));
  DPL_CHECK(w.size() == x.size(), "{}: weights W have shape {}, expected rank {} to match X {}", op, shape_str(w),
            x.size(), shape_str(x));
  g.nsp = static_cast<int>(x.size()) - 2;
  DPL_CHECK(g.nsp <= 3, "{}: {}-D convolutions are not supported (1-D to 3-D are)", op, g.nsp);
  const size_t n = static_cast<size_t>(g.nsp);
  g.N = x[0];
  g.C = x[1];
  g.G = p.group;
  DPL_CHECK(g.G >= 1, "{}: group must be >= 1, got {}", op, g.G);
  DPL_CHECK(g.C % g.G == 0, "{}: input channels {} not divisible by group {}", op, g.C, g.G);
  if (!p.transposed) {
    g.M = w[0];
    DPL_CHECK(w[1] * g.G == g.C, "{}: weights {} expect {} input channels (W[1] * group), X {} has {}", op,
              shape_str(w), w[1] * g.G, shape_str(x), g.C);
    DPL_CHECK(g.M % g.G == 0, "{}: output channels {} not divisible by group {}", op, g.M, g.G);
  } else {
    DPL_CHECK(w[0] == g.C, "{}: weights {} expect {} input channels (W[0]), X {} has {}", op, shape_str(w), w[0],
              shape_str(x), g.C);
    g.M = w[1] * g.G;
  }
  g.in.assign(x.begin() + 2, x.end());
  g.kernel.assign(w.begin() + 2, w.end());
  if (!p.kernel_shape.empty()) {
    DPL_CHECK(p.kernel_shape == g.kernel, "{}: kernel_shape [{}] does not match weights {}", op,
              fmt::join(p.kernel_shape, ","), shape_str(w));
  }
  g.strides = attr_or(p.strides, n, 1, "strides", op);
  g.dilations = attr_or(p.dilations, n, 1, "dilations", op);
  std::vector<int64_t> pads = attr_or(p.pads, 2 * n, 0, "pads", op);
  for (size_t i = 0; i < n; ++i) {
    DPL_CHECK(g.strides[i] >= 1 && g.dilations[i] >= 1, "{}: strides and dilations must be >= 1", op);
    DPL_CHECK(g.kernel[i] >= 1, "{}: empty kernel in weights {}", op, shape_str(w));
  }
  return pads;
}

// Conv: pads from the attribute or auto_pad, output = (in + pads - dilated kernel) / s + 1.
void forward_pads(const ConvParams& p, const std::vector<int64_t>& pads, const Shape& x, const Shape& w,
                  ConvGeometry& g) {
  const std::string& op = p.op_name;
  const std::string& ap = p.auto_pad;
  const size_t n = static_cast<size_t>(g.nsp);
  for (size_t i = 0; i < n; ++i) {
    const int64_t in = g.in[i], s = g.strides[i], dk = (g.kernel[i] - 1) * g.dilations[i] + 1;
    int64_t pb = 0, pe = 0;
    if (ap == "NOTSET") {
      pb = pads[i];
      pe = pads[i + n];
      DPL_CHECK(pb >= 0 && pe >= 0, "{}: negative pads are not supported", op);
    } else if (ap == "SAME_UPPER" || ap == "SAME_LOWER") {
      const int64_t out = (in + s - 1) / s;
      const int64_t total = std::max<int64_t>(0, (out - 1) * s + dk - in);
      pb = ap == "SAME_UPPER" ? total / 2 : total - total / 2;
      pe = total - pb;
    }
    DPL_CHECK(in + pb + pe >= dk, "{}: input {} with pads is smaller than the (dilated) kernel {}", op,
              shape_str(x), shape_str(w));
    g.pads_begin[i] = pb;
    g.pads_end[i] = pe;
    g.out[i] = (in + pb + pe - dk) / s + 1;
  }
  g.prim_out = g.out;
  g.out_offset.assign(n, 0);
}

// ConvTranspose: output size from output_shape, auto_pad or pads and output_padding; pads
// may come out negative (output larger than natural), see ConvGeometry::prim_out.
void transposed_pads(const ConvParams& p, const std::vector<int64_t>& pads, ConvGeometry& g) {
  const std::string& op = p.op_name;
  const std::string& ap = p.auto_pad;
  const size_t n = static_cast<size_t>(g.nsp);
  std::vector<int64_t> opad = attr_or(p.output_padding, n, 0, "output_padding", op);
  std::vector<int64_t> oshape;
  if (!p.output_shape.empty()) {
    // Spatial sizes; a full N, C, spatial... form is accepted too.
    DPL_CHECK(p.output_shape.size() == n || p.output_shape.size() == n + 2,
              "{}: output_shape has {} values, expected {}", op, p.output_shape.size(), n);
    oshape.assign(p.output_shape.end() - static_cast<long>(n), p.output_shape.end());
  }
  g.prim_out.resize(n);
  g.out_offset.resize(n);
  for (size_t i = 0; i < n; ++i) {
    const int64_t in = g.in[i], s = g.strides[i], dk = (g.kernel[i] - 1) * g.dilations[i] + 1;
    const int64_t full = s * (in - 1) + dk;  // natural size before padding / output_padding
    int64_t pb = 0, pe = 0, out = 0;
    if (!oshape.empty() || ap == "SAME_UPPER" || ap == "SAME_LOWER") {
      out = !oshape.empty() ? oshape[i] : in * s;
      const int64_t total = full + opad[i] - out;
      // ONNX: SAME_UPPER puts the odd pad at the end, otherwise at the beginning. A negative
      // total (output larger than natural) extends the end.
      if (ap == "SAME_UPPER") {
        pb = floor_div(total, 2);
        pe = total - pb;
      } else {
        pe = floor_div(total, 2);
        pb = total - pe;
      }
    } else if (ap == "VALID") {
      out = full + opad[i];
    } else {
      pb = pads[i];
      pe = pads[i + n];
      out = full + opad[i] - pb - pe;
    }
    DPL_CHECK(out >= 1, "{}: output size would be {} along spatial axis {}", op, out, i);
    g.pads_begin[i] = pb;
    g.pads_end[i] = pe;
    g.out[i] = out;
    // The primitive computes full[pb' .. full - pr') with pads clamped at 0.
    const int64_t pr = full - pb - out;  // end crop of the natural output (output_padding folded in)
    const int64_t pbc = std::max<int64_t>(pb, 0), prc = std::max<int64_t>(pr, 0);
    g.prim_out[i] = full - pbc - prc;
    g.out_offset[i] = pbc - pb;
    if (pb < 0 || pr < 0) g.needs_expand = true;
    DPL_CHECK(g.prim_out[i] >= 1, "{}: pads crop the whole output along spatial axis {}", op, i);
  }
}

}  // namespace

ConvParams ConvParams::from_node(const NodeDesc& node, bool transposed) {
  ConvParams p;
  p.transposed = transposed;
  p.op_name = node.op_type + " '" + node.name + "'";
  p.group = node.attrs.get_int("group", 1);
  p.auto_pad = node.attrs.get_string("auto_pad", "NOTSET");
  p.kernel_shape = node.attrs.get_ints("kernel_shape");
  p.strides = node.attrs.get_ints("strides");
  p.dilations = node.attrs.get_ints("dilations");
  p.pads = node.attrs.get_ints("pads");
  if (transposed) {
    p.output_padding = node.attrs.get_ints("output_padding");
    p.output_shape = node.attrs.get_ints("output_shape");
  }
  return p;
}

ConvGeometry conv_geometry(const ConvParams& p, const Shape& x, const Shape& w) {
  ConvGeometry g;
  const std::vector<int64_t> pads = resolve_sizes(p, x, w, g);
  const std::string& ap = p.auto_pad;
  DPL_CHECK(ap == "NOTSET" || ap == "SAME_UPPER" || ap == "SAME_LOWER" || ap == "VALID",
            "{}: unknown auto_pad '{}'", p.op_name, ap);
  const size_t n = static_cast<size_t>(g.nsp);
  g.pads_begin.resize(n);
  g.pads_end.resize(n);
  g.out.resize(n);
  if (!p.transposed) forward_pads(p, pads, x, w, g);
  else transposed_pads(p, pads, g);
  g.y_shape = {g.N, g.M};
  g.y_shape.insert(g.y_shape.end(), g.out.begin(), g.out.end());
  return g;
}

int64_t expanded_index(const ConvGeometry& g, int64_t q) {
  int64_t off = 0, mul = 1;
  bool inside = true;
  for (int i = g.nsp - 1; i >= 0; --i) {
    const int64_t c = q % g.prim_out[i] + g.out_offset[i];
    q /= g.prim_out[i];
    if (c >= g.out[i]) inside = false;
    off += c * mul;
    mul *= g.out[i];
  }
  return inside ? off : -1;
}

}  // namespace dpl
