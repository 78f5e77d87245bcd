#include "transform/recon_layer.h"

#include <algorithm>

namespace dpl::transform {

namespace {

bool is_weighted(const OnnxGraph& g, const onnx::NodeProto& n) {
  const std::string& op = n.op_type();
  if (op != "Conv" && op != "ConvTranspose" && op != "Gemm" && op != "MatMul") return false;
  if (n.input_size() < 2 || n.input(0).empty() || !g.is_initializer(n.input(1))) return false;
  if (g.is_initializer(n.input(0))) return false;
  return g.initializer_proto(n.input(1))->data_type() == onnx::TensorProto::FLOAT;
}

bool is_activation(const std::string& op) {
  static const std::set<std::string> ops = {"Relu", "Clip",        "LeakyRelu", "PRelu", "Elu",
                                            "Sigmoid", "HardSigmoid", "HardSwish", "Tanh", "Softplus"};
  return ops.count(op) != 0;
}

// The single reader of `tensor`, or -1 (several readers, none, or a graph output).
int only_reader(const OnnxGraph& g, const std::string& tensor) {
  const auto& readers = g.consumers(tensor);
  if (readers.size() != 1 || g.is_network_output(tensor)) return -1;
  int uses = 0;
  for (const auto& in : g.node(readers[0]).input()) uses += in == tensor;
  return uses == 1 ? readers[0] : -1;
}

}  // namespace

std::vector<ReconLayer> find_recon_layers(const OnnxGraph& g, const std::set<std::string>& skip) {
  std::vector<ReconLayer> layers;
  for (int i = 0; i < g.node_count(); ++i) {
    const auto& n = g.node(i);
    if (!is_weighted(g, n) || skip.count(n.name()) || n.output_size() < 1) continue;
    ReconLayer l;
    l.node = i;
    l.name = n.name();
    l.weight = n.input(1);
    l.input = n.input(0);
    l.nodes = {i};
    l.target = n.output(0);
    l.kind = n.op_type();
    l.channel_axis = n.op_type() == "MatMul" ? -1 : 1;
    const int act = only_reader(g, l.target);
    if (act >= 0 && is_activation(g.node(act).op_type()) && g.node(act).input(0) == l.target) {
      l.nodes.push_back(act);
      l.kind += "+" + g.node(act).op_type();
      l.target = g.node(act).output(0);
    } else {
      // SiLU: the output read by exactly a Sigmoid and the Mul of the output by that Sigmoid.
      const auto& readers = g.consumers(l.target);
      if (readers.size() == 2 && !g.is_network_output(l.target)) {
        int sig = readers[0], mul = readers[1];
        if (g.node(sig).op_type() != "Sigmoid") std::swap(sig, mul);
        const auto& s = g.node(sig);
        const auto& m = g.node(mul);
        if (s.op_type() == "Sigmoid" && m.op_type() == "Mul" && only_reader(g, s.output(0)) == mul &&
            m.input_size() == 2 &&
            ((m.input(0) == l.target && m.input(1) == s.output(0)) ||
             (m.input(1) == l.target && m.input(0) == s.output(0)))) {
          l.nodes = {i, std::min(sig, mul), std::max(sig, mul)};
          l.kind += "+SiLU";
          l.target = m.output(0);
        }
      }
    }
    layers.push_back(std::move(l));
  }
  return layers;
}

std::vector<ReconLayer> quantized_recon_layers(const OnnxGraph& g, const QdqModel& q, const std::set<std::string>& skip) {
  std::vector<ReconLayer> layers = find_recon_layers(g, skip);
  std::erase_if(layers, [&](const ReconLayer& l) {
    const QdqPair* p = q.pair(l.weight);
    return !p || !p->weight || g.consumers(l.weight).size() != 1;
  });
  return layers;
}

}  // namespace dpl::transform
