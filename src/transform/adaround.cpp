#include "transform/adaround.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <memory>

#include "calib/tensor_cali.h"
#include "runtime/session.h"
#include "train/batch_sampler.h"
#include "train/soft_rounding.h"
#include "transform/graph_edit.h"
#include "transform/adaround_layer.h"
#include "transform/data_parallel.h"
#include "transform/block_model.h"
#include "transform/recon_cache.h"
#include "transform/recon_frontier.h"
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

struct LayerData {
  const SampleCache* x = nullptr;  // held by the frontiers
  const SampleCache* t = nullptr;
};

// Mean reconstruction loss over all cached samples with weight `w`.
double mean_loss(AdaRoundLayer& layer, const LayerData& d, const Tensor& w, int64_t batch) {
  double sum = 0;
  const int64_t n = d.x->count();
  for (int64_t first = 0; first < n; first += batch) {
    std::vector<int64_t> idx;
    for (int64_t i = first; i < std::min(n, first + batch); ++i) idx.push_back(i);
    sum += layer.loss(d.x->gather(idx), d.t->gather(idx), w) * static_cast<double>(idx.size());
  }
  return sum / static_cast<double>(n);
}

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
  const int64_t n = data.count();  // this rank's samples
  const DataParallel dp(*run.comm, n, opts.batch);
  const int64_t batch = dp.local_batch();
  const int64_t iters = opts.original_recipe ? opts.epochs * dp.batches_per_epoch() : opts.iters;
  DPL_CHECK(iters > 0, "AdaRound needs a positive number of iterations, got {}", iters);
  AdaRoundResult result;
  QdqOptions quiet = qdq;
  quiet.quiet = true;

  // Only layers whose weight the QDQ model quantizes have a grid to work on.
  const std::vector<ReconLayer> layers =
      quantized_recon_layers(g, build_qdq(g, platform, act, weight, quiet), opts.skip);
  if (layers.empty()) {
    spdlog::warn("AdaRound: the model has no quantized Conv, ConvTranspose, Gemm or constant-weight MatMul; nothing "
                 "is trained");
    return result;
  }
  spdlog::info("AdaRound: {} layer(s), {}", layers.size(), recipe_text(opts, iters));

  // Each layer's input (QDQ model rounded so far) and target (FP32) come from frontiers carried
  // forward layer by layer (recon_frontier.h): one pass over the samples for all layers. They
  // get half of --cache_mb each.
  CacheBudget budget_x{opts.cache_bytes / 2, opts.cache_dir}, budget_t = budget_x;
  Frontier inputs("AdaRound inputs", data, batch, budget_x, run);
  Frontier targets("AdaRound targets", data, batch, budget_t, run);

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
    std::unique_ptr<AdaRoundLayer> trainer;
    try {
      trainer = std::make_unique<AdaRoundLayer>(g, layer, weight_grid(*pair), opts.lr, run.threads);
    } catch (const Error& e) {
      r.note = e.what();
      spdlog::warn("{}: {}; it stays rounded to nearest", label, r.note);
      result.layers.push_back(r);
      continue;
    }
    LayerData d;
    inputs.advance(q.graph, q.graph.node_index(layer.name), {xq}, label + " inputs");
    targets.advance(reference, reference.producer(layer.target) + 1, {layer.target}, label + " targets");
    d.x = &inputs.cache(xq);
    d.t = &targets.cache(layer.target);

    train::SoftRounding& sr = trainer->rounding();
    train::BatchSampler sampler(n, batch,
                                opts.original_recipe ? train::BatchSampler::Mode::Sequential
                                                     : train::BatchSampler::Mode::Random,
                                dp.seed(opts.seed + li));
    r.mse_nearest = dp.mean(mean_loss(*trainer, d, sr.nearest(), batch));
    Progress bar(label, static_cast<int>(std::min<int64_t>(iters, INT32_MAX)));
    const int64_t every = std::max<int64_t>(1, iters / 100);
    double loss_avg = 0;
    for (int64_t t = 0; t < iters; ++t) {
      const auto idx = sampler.next();
      const Tensor x = d.x->gather(idx), target = d.t->gather(idx);
      const double beta = opts.beta.at(t, iters);
      std::pair<double, double> lr;
      try {
        lr = trainer->iterate(x, target, beta, opts.lambda, &dp);
      } catch (const Error& e) {
        // The first iteration finds an operator without a backward pass (named by the
        // session); later errors are not the layer's.
        if (t > 0) throw;
        r.note = e.what();
        break;
      }
      loss_avg = t == 0 ? lr.first : 0.98 * loss_avg + 0.02 * lr.first;
      if ((t + 1) % every == 0 || t + 1 == iters) {
        bar.set_note(fmt::format("loss {:.4g} round {:.4g} beta {:.1f}", loss_avg, lr.second, beta));
        bar.update(static_cast<int>(std::min<int64_t>(t + 1, INT32_MAX)));
      }
    }
    if (!r.note.empty()) {
      spdlog::warn("{}: {}; it stays rounded to nearest", label, r.note);
      result.layers.push_back(r);
      continue;
    }
    bar.finish();

    const Tensor hard = sr.hard();
    r.mse_learned = dp.mean(mean_loss(*trainer, d, hard, batch));
    g.set_initializer(layer.weight, hard);
    inputs.note_changed(q.graph, layer.weight);
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
