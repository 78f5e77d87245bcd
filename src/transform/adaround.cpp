#include "transform/adaround.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <memory>

#include "calib/tensor_cali.h"
#include "graph/region.h"
#include "runtime/session.h"
#include "train/batch_sampler.h"
#include "train/loss.h"
#include "train/optimizer.h"
#include "train/soft_rounding.h"
#include "transform/graph_edit.h"
#include "transform/recon_cache.h"
#include "transform/recon_layer.h"
#include "util/error.h"
#include "util/progress.h"

namespace dpl::transform {

int AdaRoundResult::trained() const {
  int n = 0;
  for (const auto& l : layers) n += l.trained;
  return n;
}

namespace {

// The layer's weight grid as the QDQ model quantizes it.
train::WeightGrid grid_of(const QdqPair& p) {
  train::WeightGrid grid;
  grid.axis = p.params.per_channel() ? p.axis : -1;
  grid.scale = p.params.scale;
  // QuantParams' bounds are already those of the code minus the zero point.
  grid.lo = p.params.qmin;
  grid.hi = p.params.qmax;
  return grid;
}

// The layer alone as a model whose weight is an input: kernels pack constant weights once,
// and the soft weight changes every iteration (docs/training.md).
OnnxGraph layer_model(const OnnxGraph& g, const ReconLayer& layer) {
  Region region(g, layer.nodes, {layer.target});
  DPL_CHECK(region.inputs().size() == 1, "it reads {} activations (one is supported)", region.inputs().size());
  OnnxGraph sub = region.extract();
  const Tensor w = g.get_initializer(layer.weight);
  sub.del_initializer(layer.weight);
  auto* in = sub.graph().add_input();
  in->set_name(layer.weight);
  auto* type = in->mutable_type()->mutable_tensor_type();
  type->set_elem_type(onnx::TensorProto::FLOAT);
  for (int64_t d : w.shape()) type->mutable_shape()->add_dim()->set_dim_value(d);
  sub.update_maps();
  return sub;
}

// Fills `cache` with `tensor` of `graph` over all samples.
void cache_tensor(const OnnxGraph& graph, const std::string& tensor, SampleSource& data,
                  const TransformRunOptions& run, const std::string& stage, const std::function<SampleCache&(const Shape&)>& make) {
  SessionOptions so;
  so.threads = std::max(1, run.threads);
  Session session(graph_up_to(graph, {tensor}), so);
  CacheFiller filler({tensor}, [&](const std::string&, const Shape& row) -> SampleCache& { return make(row); });
  CaliOptions co;
  co.batch = run.batch;
  co.threads = run.threads;
  observe_pass(session, data, filler, co, stage);
}

struct LayerData {
  std::unique_ptr<SampleCache> x, t;
};

class LayerTrainer {
 public:
  LayerTrainer(const OnnxGraph& sub, const ReconLayer& layer, const LayerData& d, const TransformRunOptions& run)
      : layer_(layer), d_(d), session_(sub, session_options(run)) {}

  // Mean reconstruction loss over all cached samples with weight `w`.
  double loss(const Tensor& w, int64_t batch) {
    double sum = 0;
    const int64_t n = d_.x->count();
    for (int64_t first = 0; first < n; first += batch) {
      std::vector<int64_t> idx;
      for (int64_t i = first; i < std::min(n, first + batch); ++i) idx.push_back(i);
      TensorMap out = session_.run({{layer_.input, d_.x->gather(idx)}, {layer_.weight, w}}, {layer_.target});
      sum += train::reconstruction_loss(out.at(layer_.target), d_.t->gather(idx), layer_.channel_axis, nullptr) *
             static_cast<double>(idx.size());
    }
    return sum / static_cast<double>(n);
  }

  // One iteration: returns the reconstruction loss; sets dL/d(weight).
  double step(const std::vector<int64_t>& idx, const Tensor& w, Tensor& grad_w) {
    Tape tape;
    TensorMap y = session_.run_forward(0, session_.node_count(), {{layer_.input, d_.x->gather(idx)}, {layer_.weight, w}},
                                       {layer_.target}, {layer_.weight}, tape);
    Tensor dy;
    const double l = train::reconstruction_loss(y.at(layer_.target), d_.t->gather(idx), layer_.channel_axis, &dy);
    TensorMap g = session_.run_backward(tape, {{layer_.target, dy}});
    grad_w = g.at(layer_.weight);
    return l;
  }

 private:
  static SessionOptions session_options(const TransformRunOptions& run) {
    SessionOptions so;
    so.threads = std::max(1, run.threads);
    return so;
  }
  const ReconLayer& layer_;
  const LayerData& d_;
  Session session_;
};

std::string recipe_text(const AdaRoundOptions& o, int64_t iters) {
  return fmt::format("{} iterations per layer on {} batches of {}, lambda {}, Adam lr {}, beta {} {} -> {} after {:.0f}% warm-up",
                     iters, o.original_recipe ? "sequential" : "random", o.batch, o.lambda, o.lr,
                     o.beta.decay == train::BetaDecay::Linear ? "linear" : "cosine", o.beta.start, o.beta.end,
                     o.beta.warm_up * 100);
}

}  // namespace

AdaRoundResult adaround(OnnxGraph& g, const OnnxGraph& reference, SampleSource& data, const Platform& platform,
                        const ActRanges& act, const WeightRanges& weight, const QdqOptions& qdq,
                        const AdaRoundOptions& opts, const TransformRunOptions& run) {
  DPL_CHECK(opts.batch > 0, "AdaRound batch size must be positive, got {}", opts.batch);
  const int64_t n = data.count();
  const int64_t iters = opts.original_recipe ? opts.epochs * ((n + opts.batch - 1) / opts.batch) : opts.iters;
  DPL_CHECK(iters > 0, "AdaRound needs a positive number of iterations, got {}", iters);
  AdaRoundResult result;
  QdqOptions quiet = qdq;
  quiet.quiet = true;

  std::vector<ReconLayer> layers = find_recon_layers(g, opts.skip);
  {
    // Only layers whose weight the QDQ model quantizes have a grid to round on.
    QdqModel q = build_qdq(g, platform, act, weight, quiet);
    std::erase_if(layers, [&](const ReconLayer& l) {
      const QdqPair* p = q.pair(l.weight);
      return !p || !p->weight || g.consumers(l.weight).size() != 1;
    });
  }
  if (layers.empty()) {
    spdlog::warn("AdaRound: the model has no quantized Conv, ConvTranspose, Gemm or constant-weight MatMul; nothing "
                 "is trained");
    return result;
  }
  spdlog::info("AdaRound: {} layer(s), {}", layers.size(), recipe_text(opts, iters));

  for (size_t li = 0; li < layers.size(); ++li) {
    const ReconLayer& layer = layers[li];
    AdaRoundLayerResult r;
    r.name = layer.name;
    r.kind = layer.kind;
    const auto t0 = std::chrono::steady_clock::now();
    const std::string label = fmt::format("AdaRound {}/{} {} ({})", li + 1, layers.size(), layer.name, layer.kind);

    // The layer's input in the QDQ model of the model rounded so far; its target in FP32.
    QdqModel q = build_qdq(g, platform, act, weight, quiet);
    const QdqPair* pair = q.pair(layer.weight);
    DPL_CHECK(q.graph.has_node(layer.name), "AdaRound: node '{}' is missing from the QDQ model", layer.name);
    const std::string xq = q.graph.node(q.graph.node_index(layer.name)).input(0);
    DPL_CHECK(reference.producer(layer.target) >= 0, "AdaRound: '{}' is not computed by the FP32 reference model",
              layer.target);
    OnnxGraph sub;
    try {
      sub = layer_model(g, layer);
    } catch (const Error& e) {
      r.note = e.what();
      spdlog::warn("{}: {}; it stays rounded to nearest", label, r.note);
      result.layers.push_back(r);
      continue;
    }
    // Inputs and targets get half of the budget each (their sizes are known only once the
    // first value arrives, and the first must not take what the second needs for a batch).
    CacheBudget budget_x{opts.cache_bytes / 2, opts.cache_dir}, budget_t = budget_x;
    LayerData d;
    cache_tensor(q.graph, xq, data, run, label + " inputs", [&](const Shape& row) -> SampleCache& {
      d.x = std::make_unique<SampleCache>(label + " inputs", n, row, opts.batch, budget_x);
      return *d.x;
    });
    cache_tensor(reference, layer.target, data, run, label + " targets", [&](const Shape& row) -> SampleCache& {
      d.t = std::make_unique<SampleCache>(label + " targets", n, row, opts.batch, budget_t);
      return *d.t;
    });
    DPL_CHECK(d.x && d.t, "AdaRound: {}: the calibration pass produced no '{}' or '{}'", label,
              xq, layer.target);

    train::SoftRounding sr(g.get_initializer(layer.weight), grid_of(*pair));
    LayerTrainer trainer(sub, layer, d, run);
    train::BatchSampler sampler(n, opts.batch,
                                opts.original_recipe ? train::BatchSampler::Mode::Sequential
                                                     : train::BatchSampler::Mode::Random,
                                opts.seed + li);
    Tensor grad_w;
    try {
      // The first iteration finds an operator without a backward pass (named by the session).
      trainer.step(sampler.next(), sr.soft(), grad_w);
    } catch (const Error& e) {
      r.note = e.what();
      spdlog::warn("{}: {}; it stays rounded to nearest", label, r.note);
      result.layers.push_back(r);
      continue;
    }
    r.mse_nearest = trainer.loss(sr.nearest(), opts.batch);

    train::Adam adam(sr.size(), train::AdamOptions{.lr = opts.lr});
    std::vector<float> grad_v;
    Progress bar(label, static_cast<int>(std::min<int64_t>(iters, INT32_MAX)));
    const int64_t every = std::max<int64_t>(1, iters / 100);
    double loss_avg = 0, reg = 0;
    for (int64_t t = 0; t < iters; ++t) {
      const double loss = trainer.step(sampler.next(), sr.soft(), grad_w);
      reg = sr.grad_v(grad_w, opts.beta.at(t, iters), opts.lambda, grad_v);
      adam.step(sr.v(), grad_v);
      loss_avg = t == 0 ? loss : 0.98 * loss_avg + 0.02 * loss;
      if ((t + 1) % every == 0 || t + 1 == iters) {
        bar.set_note(fmt::format("loss {:.4g} round {:.4g} beta {:.1f}", loss_avg, reg, opts.beta.at(t, iters)));
        bar.update(static_cast<int>(std::min<int64_t>(t + 1, INT32_MAX)));
      }
    }
    bar.finish();

    const Tensor hard = sr.hard();
    r.mse_learned = trainer.loss(hard, opts.batch);
    g.set_initializer(layer.weight, hard);
    const auto c = sr.counts();
    r.up = c.up;
    r.down = c.down;
    r.changed = c.changed;
    r.iters = iters;
    r.trained = true;
    r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    const double total = static_cast<double>(std::max<int64_t>(1, c.up + c.down));
    spdlog::info("{}: output MSE {:.4g} -> {:.4g} (nearest -> learned); rounded up {:.1f}%, down {:.1f}%, {:.1f}% "
                 "differ from nearest; {:.1f}s",
                 label, r.mse_nearest, r.mse_learned, 100 * c.up / total, 100 * c.down / total,
                 100 * c.changed / total, r.seconds);
    result.layers.push_back(r);
  }
  return result;
}

}  // namespace dpl::transform
