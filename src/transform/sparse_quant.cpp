#include "transform/sparse_quant.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <cmath>
#include <memory>

#include "graph/node_attrs.h"
#include "runtime/session.h"
#include "train/batch_sampler.h"
#include "train/loss.h"
#include "train/optimizer.h"
#include "train/schedule.h"
#include "transform/adaround_layer.h"
#include "transform/block_model.h"
#include "transform/data_parallel.h"
#include "transform/recon_cache.h"
#include "transform/recon_frontier.h"
#include "transform/recon_layer.h"
#include "util/error.h"
#include "util/progress.h"

namespace dpl::transform {

train::SparsePattern parse_sparse_pattern(const std::string& name) {
  if (name == "unstruction") return train::SparsePattern::Unstructured;
  if (name == "nv24") return train::SparsePattern::NV24;
  fail("--pattern must be 'unstruction' or 'nv24', got '{}'", name);
}

int input_channel_axis(const onnx::NodeProto& node, int weight_rank) {
  const std::string& op = node.op_type();
  if (op == "Conv") return 1;
  if (op == "ConvTranspose") return 0;
  if (op == "Gemm") {
    for (const auto& a : node.attribute())
      if (a.name() == "transB" && a.i() != 0) return 1;
    return 0;
  }
  return std::max(0, weight_rank - 2);  // MatMul: [..., K, N]
}

int SparseResult::trained() const {
  int n = 0;
  for (const auto& l : layers) n += l.trained;
  return n;
}

double SparseResult::sparsity() const {
  int64_t z = 0, t = 0;
  for (const auto& l : layers) z += l.zeros, t += l.total;
  return t ? static_cast<double>(z) / static_cast<double>(t) : 0.0;
}

namespace {

// One layer's weights, their mask and their straight-through quantizer.
class SparseLayer {
 public:
  SparseLayer(const OnnxGraph& g, const ReconLayer& layer, train::WeightGrid grid, const SparseOptions& o, int in_axis,
              bool prune, int threads)
      : layer_(layer),
        grid_(std::move(grid)),
        w_(g.get_initializer(layer.weight).clone()),
        o_(o),
        in_axis_(in_axis),
        prune_(prune),
        sgd_(w_.numel(), train::SgdOptions{o.lr, o.momentum, o.weight_decay}) {
    if (grid_.axis >= 0) {
      channels_ = w_.dim(grid_.axis);
      for (int a = grid_.axis + 1; a < w_.rank(); ++a) inner_ *= w_.dim(a);
    }
    SessionOptions so;
    so.threads = std::max(1, threads);
    session_ = std::make_unique<Session>(layer_model(g, layer_), so);
  }

  std::vector<uint8_t> mask() const {
    if (!prune_) return std::vector<uint8_t>(w_.numel(), 1);
    return o_.pattern == train::SparsePattern::NV24 ? train::nv24_mask(w_, in_axis_)
                                                    : train::unstructured_mask(w_, o_.rate);
  }
  // s * clamp(round(w * mask / s)), as QuantizeLinear -> DequantizeLinear computes it; `inside`
  // (when given) marks the weights not clamped, where the straight-through gradient passes.
  Tensor quantized(const std::vector<uint8_t>& m, std::vector<uint8_t>* inside) const {
    Tensor q(DType::F32, w_.shape());
    const float* w = w_.data<float>();
    float* out = q.data<float>();
    if (inside) inside->assign(w_.numel(), 1);
    for (int64_t i = 0; i < w_.numel(); ++i) {
      const size_t c = grid_.axis < 0 ? 0 : static_cast<size_t>((i / inner_) % channels_);
      const float x = m[i] ? w[i] : 0.f;
      const float k = std::nearbyint(x / grid_.scale[c]);
      const float kc = std::min<float>(grid_.hi[c], std::max<float>(grid_.lo[c], k));
      if (inside && kc != k) (*inside)[i] = 0;
      out[i] = kc * grid_.scale[c];
    }
    return q;
  }
  // With `dp`, on the global batch of the ranks (transform/data_parallel.h).
  double iterate(const Tensor& x, const Tensor& target, double lr, const DataParallel& dp) {
    const auto m = mask();
    std::vector<uint8_t> inside;
    const Tensor wq = quantized(m, &inside);
    Tape tape;
    TensorMap y = session_->run_forward(0, session_->node_count(), {{layer_.input, x}, {layer_.weight, wq}},
                                        {layer_.target}, {layer_.weight}, tape);
    Tensor dy;
    double l = train::reconstruction_loss(y.at(layer_.target), target, layer_.channel_axis, &dy);
    y.clear();
    TensorMap g = session_->run_backward(tape, {{layer_.target, dy}});
    Tensor& gt = g.at(layer_.weight);
    l = dp.reduce({std::span<float>(gt.data<float>(), static_cast<size_t>(gt.numel()))}, l, x.dim(0));
    const float* gw = gt.data<float>();
    grad_.resize(static_cast<size_t>(w_.numel()));
    for (int64_t i = 0; i < w_.numel(); ++i) grad_[i] = m[i] && inside[i] ? gw[i] : 0.f;
    sgd_.step(std::span<float>(w_.data<float>(), w_.numel()), grad_, lr);
    return l;
  }
  // The loss with the weights `wq` (final_weight(), computed once for all batches).
  double loss(const Tensor& x, const Tensor& target, const Tensor& wq) {
    TensorMap out = session_->run({{layer_.input, x}, {layer_.weight, wq}}, {layer_.target});
    return train::reconstruction_loss(out.at(layer_.target), target, layer_.channel_axis, nullptr);
  }
  Tensor final_weight() const { return quantized(mask(), nullptr); }
  void set_weight(const Tensor& w) { w_ = w.clone(); }

 private:
  ReconLayer layer_;
  train::WeightGrid grid_;
  Tensor w_;
  SparseOptions o_;
  int in_axis_;
  bool prune_;
  int64_t channels_ = 1, inner_ = 1;
  train::Sgd sgd_;
  std::unique_ptr<Session> session_;
  std::vector<float> grad_;
};

double mean_loss(SparseLayer& l, const SampleCache& x, const SampleCache& t, int64_t batch) {
  const Tensor wq = l.final_weight();
  double sum = 0;
  const int64_t n = x.count();
  for (int64_t first = 0; first < n; first += batch) {
    std::vector<int64_t> idx;
    for (int64_t i = first; i < std::min(n, first + batch); ++i) idx.push_back(i);
    sum += l.loss(x.gather(idx), t.gather(idx), wq) * static_cast<double>(idx.size());
  }
  return sum / static_cast<double>(n);
}

}  // namespace

SparseResult sparse_quant(OnnxGraph& g, const OnnxGraph& reference, SampleSource& data, const Platform& platform,
                          const ActRanges& act, const WeightRanges& weight, const QdqOptions& qdq,
                          const SparseOptions& opts, const TransformRunOptions& run) {
  DPL_CHECK(opts.rate > 0 && opts.rate < 1, "--sparse_rate must lie strictly between 0 and 1, got {}", opts.rate);
  DPL_CHECK(opts.batch > 0, "sparse: batch size must be positive, got {}", opts.batch);
  const int64_t n = data.count();  // this rank's samples
  const DataParallel dp(*run.comm, n, opts.batch);
  const int64_t batch = dp.local_batch();
  const int64_t iters = opts.original_recipe ? opts.epochs * dp.batches_per_epoch() : opts.iters;
  DPL_CHECK(iters > 0, "sparse: needs a positive number of iterations, got {}", iters);
  SparseResult result;
  QdqOptions quiet = qdq;
  quiet.quiet = true;
  // Only layers whose weight the QDQ model quantizes have a grid to work on.
  const std::vector<ReconLayer> layers =
      quantized_recon_layers(g, build_qdq(g, platform, act, weight, quiet), opts.skip);
  if (layers.empty()) {
    spdlog::warn("sparse: the model has no quantized Conv, ConvTranspose, Gemm or constant-weight MatMul; nothing is "
                 "pruned");
    return result;
  }
  const bool nv24 = opts.pattern == train::SparsePattern::NV24;
  spdlog::info("sparse: {} layer(s), {}; {} iterations per layer on {} batches of {}, SGD lr {} momentum {} weight "
               "decay {}, cosine",
               layers.size(), nv24 ? "2:4 along the input channels" : fmt::format("{:.0f}% of each layer pruned", 100 * opts.rate),
               iters, opts.original_recipe ? "sequential" : "random", opts.batch, opts.lr, opts.momentum,
               opts.weight_decay);
  // Inputs and targets from frontiers carried layer by layer (recon_frontier.h), half of
  // --cache_mb each.
  CacheBudget bx{opts.cache_bytes / 2, opts.cache_dir}, bt = bx;
  Frontier inputs("sparse inputs", data, batch, bx, run);
  Frontier targets("sparse targets", data, batch, bt, run);
  for (size_t li = 0; li < layers.size(); ++li) {
    const ReconLayer& layer = layers[li];
    SparseLayerResult r;
    r.name = layer.name;
    r.kind = layer.kind;
    r.weight = layer.weight;
    const auto t0 = std::chrono::steady_clock::now();
    const std::string label = fmt::format("sparse {}/{} {} ({})", li + 1, layers.size(), layer.name, layer.kind);
    const Tensor w0 = g.get_initializer(layer.weight);
    const int in_axis = input_channel_axis(g.node(layer.node), w0.rank());
    r.pruned = !nv24 || train::nv24_applies(w0, in_axis);
    if (!r.pruned) {
      r.note = fmt::format("{} input channel(s) per group, not a multiple of 4: left dense", w0.dim(in_axis));
      spdlog::warn("{}: {} (the original groups across kernel positions)", label, r.note);
    }
    QdqModel q = build_qdq(g, platform, act, weight, quiet);
    const std::string xq = q.graph.node(q.graph.node_index(layer.name)).input(0);
    std::unique_ptr<SparseLayer> trainer;
    try {
      trainer = std::make_unique<SparseLayer>(g, layer, weight_grid(*q.pair(layer.weight)), opts, in_axis, r.pruned,
                                              run.threads);
    } catch (const Error& e) {
      r.note = e.what();
      spdlog::warn("{}: {}; it stays dense and rounded to nearest", label, r.note);
      result.layers.push_back(r);
      continue;
    }
    inputs.advance(q.graph, q.graph.node_index(layer.name), {xq}, label + " inputs");
    targets.advance(reference, reference.producer(layer.target) + 1, {layer.target}, label + " targets");
    const SampleCache* cx = &inputs.cache(xq);
    const SampleCache* ct = &targets.cache(layer.target);
    r.mse_start = dp.mean(mean_loss(*trainer, *cx, *ct, batch));
    train::BatchSampler sampler(n, batch,
                                opts.original_recipe ? train::BatchSampler::Mode::Sequential
                                                     : train::BatchSampler::Mode::Random,
                                dp.seed(opts.seed + li));
    Progress bar(label, static_cast<int>(std::min<int64_t>(iters, INT32_MAX)));
    const int64_t every = std::max<int64_t>(1, iters / 100);
    double loss_avg = 0;
    bool failed = false;
    for (int64_t t = 0; t < iters; ++t) {
      const auto idx = sampler.next();
      double l;
      try {
        l = trainer->iterate(cx->gather(idx), ct->gather(idx), train::learning_rate(train::LrSchedule::Cosine, opts.lr, t, iters), dp);
      } catch (const Error& e) {
        if (t > 0) throw;
        r.note = e.what();
        failed = true;
        break;
      }
      loss_avg = t == 0 ? l : 0.98 * loss_avg + 0.02 * l;
      if ((t + 1) % every == 0 || t + 1 == iters) {
        bar.set_note(fmt::format("loss {:.4g}", loss_avg));
        bar.update(static_cast<int>(std::min<int64_t>(t + 1, INT32_MAX)));
      }
    }
    if (failed) {
      spdlog::warn("{}: {}; it stays dense and rounded to nearest", label, r.note);
      result.layers.push_back(r);
      continue;
    }
    bar.finish();
    r.mse_end = dp.mean(mean_loss(*trainer, *cx, *ct, batch));
    if (r.mse_end > r.mse_start) {
      // SGD at the original's fixed rate can end worse than it started (large activations):
      // the weights it started from, pruned and quantized, are kept then.
      trainer->set_weight(w0);
      r.mse_end = r.mse_start;
      r.note = "training did not lower the error: pruned and quantized from the original weights";
      spdlog::warn("{}: {}", label, r.note);
    }
    const Tensor w = trainer->final_weight();
    g.set_initializer(layer.weight, w);
    inputs.note_changed(q.graph, layer.weight);
    r.total = w.numel();
    for (int64_t i = 0; i < w.numel(); ++i) r.zeros += w.data<float>()[i] == 0.f;
    r.trained = true;
    r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    spdlog::info("{}: output MSE {:.4g} -> {:.4g} (pruned and quantized, before -> after training); {:.1f}% of {} "
                 "weights are 0; {:.1f}s",
                 label, r.mse_start, r.mse_end, 100.0 * r.zeros / std::max<int64_t>(1, r.total), r.total, r.seconds);
    result.layers.push_back(r);
  }
  return result;
}

}  // namespace dpl::transform
