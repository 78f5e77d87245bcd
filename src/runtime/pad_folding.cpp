// The Pad -> Conv fold of runtime/pad_folding.h.
#include "runtime/pad_folding.h"

#include <optional>

namespace dpl {
namespace {

// The pads of a Pad node ([begin..., end...]) when they are constants of an all-zero
// constant-mode pad; nullopt otherwise.
std::optional<std::vector<int64_t>> zero_pads(const PlanNode& pad, const PlanSlots& slots) {
  const NodeDesc& d = pad.desc;
  if (d.attrs.get_string("mode", "constant") != "constant") return std::nullopt;
  auto constant = [&](size_t k) -> const Tensor* {
    const int s = k < pad.in_slots.size() ? pad.in_slots[k] : -1;
    return s >= 0 && slots.consts[s].defined() ? &slots.consts[s] : nullptr;
  };
  auto absent = [&](size_t k) { return k >= pad.in_slots.size() || pad.in_slots[k] < 0; };
  if (d.opset < 11) {
    if (d.attrs.get_float("value", 0.f) != 0.f) return std::nullopt;
    return d.attrs.get_ints(d.attrs.has("pads") ? "pads" : "paddings");
  }
  const Tensor* pads = constant(1);
  if (!pads || !absent(3)) return std::nullopt;  // runtime pads, or opset 18's axes
  if (!absent(2)) {
    const Tensor* v = constant(2);
    if (!v || v->dtype() != DType::F32 || v->numel() != 1 || v->data<float>()[0] != 0.f) return std::nullopt;
  }
  if (pads->dtype() != DType::I64) return std::nullopt;
  return std::vector<int64_t>(pads->data<int64_t>(), pads->data<int64_t>() + pads->numel());
}

// Folds `pad` into `conv` (which reads its output as X) when it can.
bool fold(PlanNode& pad, PlanNode& conv, const PlanSlots& slots) {
  const auto pads = zero_pads(pad, slots);
  if (!pads || pads->size() < 6 || pads->size() % 2 != 0) return false;
  const size_t rank = pads->size() / 2, nsp = rank - 2;
  for (size_t a = 0; a < rank; ++a) {
    const int64_t b = (*pads)[a], e = (*pads)[a + rank];
    if (b < 0 || e < 0 || (a < 2 && (b != 0 || e != 0))) return false;
  }
  Attributes& at = conv.desc.attrs;
  const std::string auto_pad = at.get_string("auto_pad", "NOTSET");
  if (auto_pad != "NOTSET" && auto_pad != "VALID") return false;
  std::vector<int64_t> conv_pads =
      auto_pad == "VALID" ? std::vector<int64_t>() : at.get_ints("pads", std::vector<int64_t>());
  if (conv_pads.empty()) conv_pads.assign(2 * nsp, 0);
  if (conv_pads.size() != 2 * nsp) return false;  // the Conv's own check will name it
  for (size_t a = 0; a < nsp; ++a) {
    conv_pads[a] += (*pads)[2 + a];
    conv_pads[nsp + a] += (*pads)[rank + 2 + a];
  }
  AttrValue v;
  v.kind = AttrValue::Kind::Ints;
  v.ints = conv_pads;
  at.set("pads", v);
  AttrValue notset;
  notset.kind = AttrValue::Kind::String;
  notset.s = "NOTSET";
  at.set("auto_pad", notset);
  conv.in_slots[0] = pad.in_slots[0];
  conv.desc.inputs[0] = pad.desc.inputs[0];
  if (!conv.desc.const_inputs.empty()) conv.desc.const_inputs[0] = pad.desc.constant(0);
  conv.desc.folded.push_back(pad.desc);
  return true;
}

}  // namespace

void fold_pads_into_convs(std::vector<PlanNode>& nodes, const PlanSlots& slots) {
  std::vector<std::vector<int>> readers(slots.names.size());
  for (int i = 0; i < static_cast<int>(nodes.size()); ++i)
    for (int s : nodes[i].in_slots)
      if (s >= 0) readers[s].push_back(i);
  std::vector<char> removed(nodes.size(), 0);
  for (int i = 0; i < static_cast<int>(nodes.size()); ++i) {
    PlanNode& pad = nodes[i];
    if (pad.desc.op_type != "Pad" || !pad.desc.domain.empty() || pad.out_slots.size() != 1 || pad.in_slots.empty() ||
        pad.in_slots[0] < 0)
      continue;
    const int out = pad.out_slots[0];
    if (out < 0 || slots.visible[out] || readers[out].size() != 1) continue;
    PlanNode& conv = nodes[readers[out][0]];
    // readers counts each use: one entry is one read, as X.
    if (conv.desc.op_type != "Conv" || !conv.desc.domain.empty() || conv.in_slots.empty() || conv.in_slots[0] != out)
      continue;
    if (fold(pad, conv, slots)) removed[i] = 1;
  }
  std::vector<PlanNode> kept;
  for (size_t i = 0; i < nodes.size(); ++i)
    if (!removed[i]) kept.push_back(std::move(nodes[i]));
  nodes = std::move(kept);
}

}  // namespace dpl
