#include "optimizer/opset_upgrade.h"

#include <onnx/version_converter/convert.h>
#include <spdlog/spdlog.h>

#include <algorithm>

#include "graph/node_attrs.h"
#include "graph/node_builder.h"
#include "util/error.h"

namespace dpl {

namespace {

bool is_std_domain(const std::string& d) { return d.empty() || d == "ai.onnx"; }

// The IR version each opset was released with (onnx/helper.py's VERSION_TABLE).
int64_t ir_version_for_opset(int64_t opset) {
  if (opset <= 8) return 3;
  if (opset == 9) return 4;
  if (opset == 10) return 5;
  if (opset == 11) return 6;
  if (opset <= 14) return 7;
  return 8;
}

// Below opset 13, Softmax/LogSoftmax/Hardmax coerce their input to 2-D at `axis` and work
// on the flattened rows; opset 13 works on one axis. libonnx's adapter inserts a Reshape to
// the literal input shape, which needs the shape known and breaks symbolic dimensions.
// Where the axis is not provably the last one, the node becomes Flatten(x, axis) ->
// op(axis=1) -> Reshape(., Shape(x)) here, which is exact for any input shape; the 2-D
// intermediates get a rank-2 value_info so the adapter only sets axis=-1 on them.
int rewrite_coerced_softmax(OnnxGraph& g) {
  static const std::set<std::string> kOps = {"Softmax", "LogSoftmax", "Hardmax"};
  auto& gp = g.graph();
  std::unordered_set<std::string> taken;
  for (const auto* list : {&gp.input(), &gp.output(), &gp.value_info()})
    for (const auto& v : *list) taken.insert(v.name());
  for (const auto& t : gp.initializer()) taken.insert(t.name());
  for (const auto& n : gp.node()) {
    for (const auto& s : n.input()) taken.insert(s);
    for (const auto& s : n.output()) taken.insert(s);
  }
  auto fresh = [&](const std::string& base) {
    std::string name = base;
    for (int k = 1; taken.count(name); ++k) name = base + "_" + std::to_string(k);
    taken.insert(name);
    return name;
  };
  google::protobuf::RepeatedPtrField<onnx::NodeProto> out;
  std::vector<onnx::ValueInfoProto> infos;
  int rewritten = 0;
  for (const auto& n : gp.node()) {
    if (!is_std_domain(n.domain()) || !kOps.count(n.op_type()) || n.input_size() < 1 || n.output_size() < 1) {
      *out.Add() = n;
      continue;
    }
    const auto* a = find_attr(n, "axis");
    int64_t axis = a ? a->i() : 1;
    const std::string& x = n.input(0);
    const std::string& y = n.output(0);
    auto shape = g.tensor_shape(x);
    if (shape) {
      const int64_t r = static_cast<int64_t>(shape->size());
      if (axis < 0) axis += r;
      DPL_CHECK(axis >= 0 && axis <= std::max<int64_t>(r - 1, 0), "node '{}' ({}): axis out of range for input rank {}",
                n.name(), n.op_type(), r);
      if (axis == r - 1 || r == 0) {
        *out.Add() = n;  // already over the last axis: the adapter only sets axis = -1
        continue;
      }
    } else if (axis == -1) {
      *out.Add() = n;
      continue;
    }
    const std::string flat = fresh(y + "_flat2d"), res2d = fresh(y + "_2d"), shp = fresh(y + "_inshape");
    // The new nodes are named after the node; an unnamed node's stay unnamed.
    const auto named = [&](const char* suffix) { return n.name().empty() ? std::string() : n.name() + suffix; };
    *out.Add() = make_node("Flatten", {x}, {flat}, named("_flatten")).attr("axis", axis);
    onnx::NodeProto* s = out.Add();
    *s = n;
    s->set_input(0, flat);
    s->set_output(0, res2d);
    set_attr(*s, "axis", 1);
    *out.Add() = make_node("Shape", {x}, {shp}, named("_shape"));
    *out.Add() = make_node("Reshape", {res2d, shp}, {y}, named("_reshape"));
    DType t = g.value_type(x);
    for (const auto& name : {flat, res2d}) {
      onnx::ValueInfoProto v;
      v.set_name(name);
      auto* tt = v.mutable_type()->mutable_tensor_type();
      tt->set_elem_type(static_cast<int>(t == DType::Undefined ? DType::F32 : t));
      tt->mutable_shape()->add_dim();
      tt->mutable_shape()->add_dim();
      infos.push_back(std::move(v));
    }
    ++rewritten;
  }
  if (rewritten) {
    gp.mutable_node()->Swap(&out);
    for (auto& v : infos) *gp.add_value_info() = std::move(v);
    g.update_maps();
  }
  return rewritten;
}

// Upsample (opset 7-9) and Resize-10 map output to input coordinates as x / scale
// ("asymmetric") and, in nearest mode, take floor(x) when upsampling and ceil(x) when
// downsampling; libonnx's Resize 10->11 adapter leaves opset 11's defaults (half_pixel,
// round_prefer_floor) in place, which moves every sample. Every Resize of a model converted
// from below opset 11 came from one of those, so each gets the old behaviour spelled out.
int fix_resize_from_opset10(OnnxGraph& g) {
  int fixed = 0;
  for (int i = 0; i < g.node_count(); ++i) {
    auto& n = g.mutable_node(i);
    if (n.op_type() != "Resize" || !is_std_domain(n.domain()) || find_attr(n, "coordinate_transformation_mode")) continue;
    set_attr(n, "coordinate_transformation_mode", "asymmetric");
    const auto* mode = find_attr(n, "mode");
    if (!mode || mode->s() == "nearest") {
      std::string nearest = "floor";
      if (n.input_size() > 2 && g.is_initializer(n.input(2))) {
        Tensor scales = g.get_initializer(n.input(2));
        bool up = false, down = false;
        for (int64_t k = 0; k < scales.numel(); ++k) {
          up = up || scales.at_f64(k) > 1.0;
          down = down || scales.at_f64(k) < 1.0;
        }
        if (down && !up) nearest = "ceil";
        if (down && up)
          spdlog::warn("Resize '{}' (from opset < 11) scales some axes up and others down in nearest mode; opset 11 "
                       "cannot express that exactly, using floor on every axis",
                       n.name());
      }
      set_attr(n, "nearest_mode", nearest);
    }
    ++fixed;
  }
  return fixed;
}

}  // namespace

void upgrade_opset(OnnxGraph& g, int target) {
  const int64_t from = g.opset();
  if (from == target) return;
  if (from < 13 && target >= 13 && from >= 5) rewrite_coerced_softmax(g);
  // The converter rejects imports of other domains it has no adapters for (ai.onnx.ml in
  // TFLite exports, unused); keep them aside and restore them after.
  std::vector<onnx::OperatorSetIdProto> others;
  onnx::ModelProto in = g.model();
  in.clear_opset_import();
  for (const auto& op : g.model().opset_import()) {
    if (is_std_domain(op.domain()))
      *in.add_opset_import() = op;
    else
      others.push_back(op);
  }
  onnx::ModelProto out;
  try {
    out = onnx::version_conversion::ConvertVersion(in, target);
  } catch (const std::exception& e) {
    fail("converting the model from opset {} to {} failed: {}", from, target, e.what());
  }
  for (const auto& op : others) *out.add_opset_import() = op;
  if (target > from) out.set_ir_version(std::max<int64_t>(out.ir_version(), ir_version_for_opset(target)));
  g.model() = std::move(out);
  g.update_maps();
  // Adapters add Constant nodes (Clip min/max, Unsqueeze axes, Resize scales...).
  g.convert_constant_to_init();
  if (from < 11 && target >= 11) fix_resize_from_opset10(g);
}

}  // namespace dpl
