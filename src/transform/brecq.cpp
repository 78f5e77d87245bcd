#include "transform/brecq.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <deque>
#include <memory>

#include "train/batch_sampler.h"
#include "dist/agree.h"
#include "transform/block_trainer.h"
#include "transform/data_parallel.h"
#include "transform/recon_cache.h"
#include "transform/recon_frontier.h"
#include "util/error.h"
#include "util/progress.h"

namespace dpl::transform {

int BrecqResult::trained() const {
  int n = 0;
  for (const auto& b : blocks) n += b.trained;
  return n;
}

namespace {

struct BlockData {
  const SampleCache* x = nullptr;  // held by the frontiers
  const SampleCache* x_fp = nullptr;
  const SampleCache* t = nullptr;
};

std::vector<int64_t> rows(int64_t first, int64_t n, int64_t batch) {
  std::vector<int64_t> idx;
  for (int64_t i = first; i < std::min(n, first + batch); ++i) idx.push_back(i);
  return idx;
}

double mean_loss(BlockTrainer& b, const BlockData& d, bool hard, int64_t batch) {
  double sum = 0;
  const int64_t n = d.x->count();
  for (int64_t first = 0; first < n; first += batch) {
    const auto idx = rows(first, n, batch);
    sum += b.loss(d.x->gather(idx), d.t->gather(idx), hard) * static_cast<double>(idx.size());
  }
  return sum / static_cast<double>(n);
}

// The weights of the block's layers that can be trained: quantized by the QDQ model, read by
// that layer alone, the layer not skipped.
std::vector<std::string> trainable_weights(const OnnxGraph& g, const ReconBlock& b, const QdqModel& q,
                                           const std::set<std::string>& skip) {
  std::vector<std::string> w;
  for (int l : b.layers) {
    const auto& n = g.node(l);
    if (skip.count(n.name())) continue;
    const QdqPair* p = q.pair(n.input(1));
    if (p && p->weight && g.consumers(n.input(1)).size() == 1) w.push_back(n.input(1));
  }
  return w;
}

std::string recipe_text(const BrecqOptions& o, int64_t iters) {
  return fmt::format("{} iterations per block on {} batches of {}, lambda {}, Adam lr {} (V){}, beta {} {} -> {} after "
                     "{:.0f}% warm-up{}",
                     iters, o.original_recipe ? "sequential" : "random", o.batch, o.lambda, o.lr,
                     o.learn_scales ? fmt::format(" and {} (activation steps, cosine)", o.scale_lr) : "",
                     o.beta.decay == train::BetaDecay::Linear ? "linear" : "cosine", o.beta.start, o.beta.end,
                     o.beta.warm_up * 100,
                     o.drop ? fmt::format(", drop: quantized with probability {}", o.drop_prob) : "");
}

}  // namespace

BrecqResult brecq(OnnxGraph& g, const OnnxGraph& reference, SampleSource& data, const Platform& platform, ActRanges& act,
                  const WeightRanges& weight, const QdqOptions& qdq, const BrecqOptions& opts,
                  const TransformRunOptions& run) {
  DPL_CHECK(opts.batch > 0, "BRECQ batch size must be positive, got {}", opts.batch);
  DPL_CHECK(opts.drop_prob > 0 && opts.drop_prob <= 1, "--drop_prob must lie in (0, 1], got {}", opts.drop_prob);
  const std::string method = opts.drop ? "QDrop" : "BRECQ";
  const int64_t n = data.count();  // this rank's samples
  const DataParallel dp(*run.comm, n, opts.batch);
  const int64_t batch = dp.local_batch();
  const int64_t per_epoch = dp.batches_per_epoch();
  BrecqResult result;
  QdqOptions quiet = qdq;
  quiet.quiet = true;

  std::deque<ReconBlock> todo;
  {
    const QdqModel q = build_qdq(g, platform, act, weight, quiet);
    for (auto& b : find_recon_blocks(g, opts.rule, opts.skip))
      if (!trainable_weights(g, b, q, opts.skip).empty()) todo.push_back(std::move(b));
  }
  if (todo.empty()) {
    spdlog::warn("{}: the model has no quantized Conv, ConvTranspose, Gemm or constant-weight MatMul; nothing is "
                 "trained", method);
    return result;
  }
  spdlog::info("{}: {} block(s) ({} rule), {}", method, todo.size(),
               opts.rule == BlockRule::Network ? "network" : "original",
               recipe_text(opts, opts.original_recipe ? opts.epochs * per_epoch : opts.iters));
  for (size_t i = 0; i < todo.size(); ++i) spdlog::info("  {}: {}", i + 1, describe(g, todo[i]));

  // Block inputs (quantized and, with drop, FP32) and targets from frontiers carried block by
  // block (recon_frontier.h); they share --cache_mb equally.
  const int64_t parts = opts.drop ? 3 : 2;
  CacheBudget bx{opts.cache_bytes / parts, opts.cache_dir}, bf = bx, bt = bx;
  Frontier inputs(method + " inputs", data, batch, bx, run);
  Frontier fp_inputs(method + " FP32 inputs", data, batch, bf, run);
  Frontier targets(method + " targets", data, batch, bt, run);
  int index = 0;
  while (!todo.empty()) {
    const ReconBlock block = todo.front();
    todo.pop_front();
    ++index;
    BrecqBlockResult r;
    r.description = describe(g, block);
    const auto t0 = std::chrono::steady_clock::now();
    const std::string label = fmt::format("{} {}/{} {}", method, index, index + todo.size(),
                                          g.node(block.layers.front()).name() +
                                              (block.layers.size() > 1 ? fmt::format(" +{}", block.layers.size() - 1) : ""));
    // Splits a block that cannot be trained whole into its layers (when it has several).
    auto fall_back = [&](const std::string& why) {
      r.note = why;
      if (block.layers.size() > 1) {
        spdlog::warn("{}: {}; its layers are trained one by one", label, why);
        --index;  // the layers take the block's place in the count
        for (auto it = block.layers.rbegin(); it != block.layers.rend(); ++it) todo.push_front(layer_block(g, *it));
      } else {
        spdlog::warn("{}: {}; it stays rounded to nearest", label, why);
      }
      result.blocks.push_back(r);
    };

    const QdqModel q = build_qdq(g, platform, act, weight, quiet);
    BlockModelOptions mo;
    mo.trained = trainable_weights(g, block, q, opts.skip);
    mo.drop = opts.drop;
    mo.drop_prob = opts.drop_prob;
    mo.learn_scales = opts.learn_scales;
    if (mo.trained.empty()) continue;
    std::unique_ptr<BlockTrainer> trainer;
    try {
      trainer = std::make_unique<BlockTrainer>(g, block, q, mo, BlockTrainOptions{opts.lr, run.threads});
    } catch (const Error& e) {
      fall_back(e.what());
      continue;
    }
    const int64_t iters = opts.original_recipe
                              ? opts.epochs * static_cast<int64_t>(mo.trained.size()) * per_epoch
                              : opts.iters;
    BlockData d;
    inputs.advance(q.graph, q.graph.producer(block.input) + 1, {block.input}, label + " inputs");
    d.x = &inputs.cache(block.input);
    if (opts.drop) {
      fp_inputs.advance(reference, reference.producer(block.input) + 1, {block.input}, label + " FP32 inputs");
      d.x_fp = &fp_inputs.cache(block.input);
    }
    targets.advance(reference, reference.producer(block.output) + 1, {block.output}, label + " targets");
    d.t = &targets.cache(block.output);

    train::BatchSampler sampler(n, batch,
                                opts.original_recipe ? train::BatchSampler::Mode::Sequential
                                                     : train::BatchSampler::Mode::Random,
                                dp.seed(opts.seed + static_cast<uint64_t>(index)));
    // The first run of the block at its batch size: a model that pins the batch (a Reshape to
    // [1, C]) fails here on every rank whose share of the batch holds several rows, and the
    // block falls back to its layers on all ranks alike.
    double mse_nearest = 0;
    std::string why;
    try {
      mse_nearest = mean_loss(*trainer, d, false, batch);
    } catch (const Error& e) {
      why = e.what();
    }
    why = dist::first_failure(*run.comm, why);
    if (!why.empty()) {
      fall_back(why);
      continue;
    }
    r.mse_nearest = dp.mean(mse_nearest);
    Progress bar(label, static_cast<int>(std::min<int64_t>(iters, INT32_MAX)));
    const int64_t every = std::max<int64_t>(1, iters / 100);
    double loss_avg = 0;
    bool failed = false;
    for (int64_t t = 0; t < iters; ++t) {
      const auto idx = sampler.next();
      const Tensor x = d.x->gather(idx), target = d.t->gather(idx);
      const Tensor x_fp = opts.drop ? d.x_fp->gather(idx) : Tensor();
      const double beta = opts.beta.at(t, iters);
      const double scale_lr = train::learning_rate(train::LrSchedule::Cosine, opts.scale_lr, t, iters);
      std::pair<double, double> lr;
      try {
        lr = trainer->iterate(x, opts.drop ? &x_fp : nullptr, target, beta, opts.lambda, scale_lr,
                              dp.seed(opts.seed * 0x9e3779b97f4a7c15ULL + static_cast<uint64_t>(index) * 1000003ULL +
                                      static_cast<uint64_t>(t)),
                              &dp);
      } catch (const Error& e) {
        // The first iteration finds an operator without a backward pass (named by the
        // session); later errors are not the block's.
        if (t > 0) throw;
        failed = true;
        fall_back(e.what());
        break;
      }
      loss_avg = t == 0 ? lr.first : 0.98 * loss_avg + 0.02 * lr.first;
      if ((t + 1) % every == 0 || t + 1 == iters) {
        bar.set_note(fmt::format("loss {:.4g} round {:.4g} beta {:.1f}", loss_avg, lr.second, beta));
        bar.update(static_cast<int>(std::min<int64_t>(t + 1, INT32_MAX)));
      }
    }
    if (failed) continue;
    bar.finish();

    r.mse_learned = dp.mean(mean_loss(*trainer, d, true, batch));
    const auto& model = trainer->model();
    for (size_t i = 0; i < model.weights.size(); ++i) {
      const auto& sr = trainer->roundings()[i];
      g.set_initializer(model.weights[i].tensor, sr.hard());
      inputs.note_changed(q.graph, model.weights[i].tensor);
      const auto c = sr.counts();
      r.changed += c.changed;
      r.weights += c.up + c.down;
    }
    for (size_t j = 0; j < model.scales.size(); ++j) {
      const auto& s = model.scales[j];
      if (!s.learned) continue;
      const float v = trainer->scales()[j];
      act[s.tensor] = Range{static_cast<float>(s.qmin) * v, static_cast<float>(s.qmax) * v};
      ++r.scales;
    }
    r.iters = iters;
    r.trained = true;
    r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    spdlog::info("{}: output MSE {:.4g} -> {:.4g} (nearest -> learned); {} weight(s) in {} layer(s), {:.1f}% differ from "
                 "nearest; {} activation step(s) learned; {:.1f}s",
                 label, r.mse_nearest, r.mse_learned, r.weights, model.weights.size(),
                 100.0 * r.changed / std::max<int64_t>(1, r.weights), r.scales, r.seconds);
    result.blocks.push_back(r);
  }
  return result;
}

}  // namespace dpl::transform
