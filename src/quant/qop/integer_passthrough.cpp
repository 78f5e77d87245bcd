// MaxPool (one output), Reshape, Transpose and Flatten on integers (docs/qop.md): they only
// move or select values, so on an input that is integer already or quantized by the QDQ
// model they run on the integers and their output keeps the input's grid (exact).
#include "quant/qop/lowerings.h"

namespace dpl::qop {

bool lower_integer_passthrough(QopBuilder& b, int i, const onnx::NodeProto& n) {
  if (n.output_size() != 1 || n.input_size() < 1) return false;
  const std::string& t = n.input(0);
  const QdqPair* p = b.decisions().input_pair(i, 0);
  IntegerTensor q;
  if (p && !p->weight) {
    q = b.integer_version(t, p->params, kAnyType);
  } else {
    const TensorDomains& v = b.domains(t);
    if (v.float_under_own_name || v.integer.empty()) return false;
    q = v.integer[0];
  }
  onnx::NodeProto nn = n;
  nn.set_input(0, q.name);
  for (int k = 1; k < n.input_size(); ++k)
    if (!n.input(k).empty()) nn.set_input(k, b.float_input(i, k));
  b.emit_on_integers(nn, q);
  return true;
}

}  // namespace dpl::qop
