// Concat on integers when every input is integer or quantized by the QDQ model and all share
// one grid (equal ranges): the output keeps that grid (docs/qop.md).
#include <vector>

#include "quant/qop/lowerings.h"
#include "quant/qop_tensors.h"

namespace dpl::qop {

bool lower_integer_concat(QopBuilder& b, int i, const onnx::NodeProto& n) {
  if (n.input_size() == 0 || n.output_size() != 1) return false;
  std::vector<QuantParams> ps;
  for (int k = 0; k < n.input_size(); ++k) {
    const QdqPair* p = b.decisions().input_pair(i, k);
    const TensorDomains& v = b.domains(n.input(k));
    if (p && !p->weight) ps.push_back(p->params);
    else if (!v.float_under_own_name && !v.integer.empty()) ps.push_back(v.integer[0].params);
    else return false;
    if (!same_grid(ps[0], ps.back())) return false;
  }
  const IntegerTensor out = b.integer_version(n.input(0), ps[0], kAnyType);
  onnx::NodeProto nn = n;
  nn.set_input(0, out.name);
  for (int k = 1; k < n.input_size(); ++k)
    nn.set_input(k, b.integer_version(n.input(k), ps[k], out.params.zp_type).name);
  b.emit_on_integers(nn, out);
  return true;
}

}  // namespace dpl::qop
