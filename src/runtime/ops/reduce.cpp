// ReduceSum, ReduceMean, ReduceMax, ReduceMin, ReduceProd, ReduceL1, ReduceL2,
// ReduceSumSquare, ReduceLogSum, ReduceLogSumExp.
//
// Axes come from the `axes` attribute, or from the second input (ReduceSum from opset 13,
// every reduction from opset 18). No axes reduces everything unless noop_with_empty_axes
// is set (then the input passes through). Adjacent dimensions that are both reduced or
// both kept are merged, so the work is a short loop nest over [kept/reduced] blocks whose
// innermost block is either a contiguous row reduced to one value or a contiguous row
// accumulated element-wise into the output. Sums accumulate in double (float inputs) or
// 64-bit integers; max/min in the element type.
#include <cmath>
#include <limits>
#include <type_traits>
#include <vector>

#include "runtime/op_registry.h"
#include "runtime/ops/grad_util.h"
#include "runtime/parallel.h"

namespace dpl {
namespace {

enum class RK { Sum, Mean, Max, Min, Prod, L1, L2, SumSquare, LogSum, LogSumExp };

struct Plan {
  std::vector<int64_t> dims;     // merged dimensions
  std::vector<char> red;         // per merged dimension: reduced?
  std::vector<int64_t> istride;  // input strides of the merged dimensions
  std::vector<int64_t> ostride;  // output strides (0 for reduced dimensions)
  int64_t out_count = 1, red_count = 1;
};

Plan make_plan(const Shape& shape, const std::vector<char>& reduced) {
  Plan p;
  for (size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] == 1) continue;
    if (!p.dims.empty() && p.red.back() == reduced[i]) {
      p.dims.back() *= shape[i];
    } else {
      p.dims.push_back(shape[i]);
      p.red.push_back(reduced[i]);
    }
  }
  if (p.dims.empty()) {
    p.dims.push_back(1);
    p.red.push_back(0);
  }
  const size_t m = p.dims.size();
  p.istride.assign(m, 1);
  p.ostride.assign(m, 0);
  for (int i = static_cast<int>(m) - 2; i >= 0; --i) p.istride[i] = p.istride[i + 1] * p.dims[i + 1];
  int64_t os = 1;
  for (int i = static_cast<int>(m) - 1; i >= 0; --i) {
    if (p.red[i]) {
      p.red_count *= p.dims[i];
    } else {
      p.ostride[i] = os;
      os *= p.dims[i];
    }
  }
  p.out_count = os;
  return p;
}

enum class Comb { Add, Mul, Max, Min };

template <Comb C, typename A>
inline A combine(A a, A b) {
  if constexpr (C == Comb::Add) return a + b;
  else if constexpr (C == Comb::Mul) return a * b;
  else if constexpr (C == Comb::Max) return b > a ? b : a;
  else return b < a ? b : a;
}

// Reduces load(i, out) for i in [begin, begin + n) with 16 independent partial results,
// which the compiler keeps in vector registers (the loop is not bound by add latency).
template <Comb C, typename A, typename Load>
inline A reduce_row(int64_t begin, int64_t n, int64_t out, A ident, const Load& load) {
  constexpr int P = 16;
  A part[P];
  for (int t = 0; t < P; ++t) part[t] = ident;
  int64_t j = 0;
  for (; j + P <= n; j += P)
    for (int t = 0; t < P; ++t) part[t] = combine<C>(part[t], load(begin + j + t, out));
  for (; j < n; ++j) part[0] = combine<C>(part[0], load(begin + j, out));
  for (int w = P / 2; w > 0; w /= 2)
    for (int t = 0; t < w; ++t) part[t] = combine<C>(part[t], part[t + w]);
  return part[0];
}

// Accumulates acc[out] = combine(acc[out], load(x_index, out_index)) over the elements
// whose first merged index lies in [b0, e0).
template <Comb C, typename A, typename Load>
void accumulate(const Plan& p, A* acc, A ident, int64_t b0, int64_t e0, const Load& load) {
  const int m = static_cast<int>(p.dims.size());
  const int64_t L = p.dims[m - 1];
  const bool last_red = p.red[m - 1] != 0;
  if (b0 >= e0) return;
  if (m == 1) {
    // Only one dimension: the range applies to it directly.
    if (last_red) {
      acc[0] = combine<C>(acc[0], reduce_row<C, A>(b0, e0 - b0, 0, ident, load));
    } else {
      for (int64_t j = b0; j < e0; ++j) acc[j] = combine<C>(acc[j], load(j, j));
    }
    return;
  }
  // Odometer over merged dims [0, m-1); dim 0 restricted to [b0, e0).
  std::vector<int64_t> idx(m - 1, 0);
  idx[0] = b0;
  while (true) {
    int64_t in_off = 0, out_off = 0;
    for (int i = 0; i < m - 1; ++i) in_off += idx[i] * p.istride[i], out_off += idx[i] * p.ostride[i];
    if (last_red) {
      acc[out_off] = combine<C>(acc[out_off], reduce_row<C, A>(in_off, L, out_off, ident, load));
    } else {
      A* ap = acc + out_off;
      for (int64_t j = 0; j < L; ++j) ap[j] = combine<C>(ap[j], load(in_off + j, out_off + j));
    }
    int i = m - 2;
    for (; i >= 0; --i) {
      const int64_t lim = i == 0 ? e0 : p.dims[i];
      if (++idx[i] < lim) break;
      idx[i] = i == 0 ? b0 : 0;
    }
    if (i < 0) break;
  }
}

template <typename T>
using AccOf = std::conditional_t<std::is_floating_point_v<T>, double,
                                 std::conditional_t<std::is_signed_v<T>, int64_t, uint64_t>>;

template <RK K, typename A>
A init_value() {
  if constexpr (K == RK::Max) {
    if constexpr (std::numeric_limits<A>::has_infinity) return -std::numeric_limits<A>::infinity();
    else return std::numeric_limits<A>::lowest();
  } else if constexpr (K == RK::Min) {
    if constexpr (std::numeric_limits<A>::has_infinity) return std::numeric_limits<A>::infinity();
    else return std::numeric_limits<A>::max();
  } else if constexpr (K == RK::Prod) {
    return A(1);
  } else {
    return A(0);
  }
}

// Runs the accumulation, in parallel over the first merged dimension when it is kept
// (different chunks then write different outputs).
template <Comb C, typename A, typename Load>
void run_plan(const Plan& p, A* acc, A ident, const Load& load) {
  const int64_t d0 = p.dims[0];
  if (!p.red[0] && p.dims.size() > 1) {
    const int64_t per = std::max<int64_t>(1, p.istride[0]);
    parallel_for(
        d0, [&](int64_t b, int64_t e) { accumulate<C>(p, acc, ident, b, e, load); },
        std::max<int64_t>(1, 32768 / per));
  } else {
    accumulate<C>(p, acc, ident, 0, d0, load);
  }
}

template <RK K, typename T>
void reduce_typed(const Tensor& x, const Plan& p, Tensor& y) {
  const T* xs = x.data<T>();
  T* ys = y.data<T>();
  const int64_t n_out = p.out_count;
  if constexpr (K == RK::Max || K == RK::Min) {
    std::vector<T> acc(n_out, init_value<K, T>());
    auto load = [xs](int64_t i, int64_t) { return xs[i]; };
    if constexpr (K == RK::Max) run_plan<Comb::Max>(p, acc.data(), init_value<K, T>(), load);
    else run_plan<Comb::Min>(p, acc.data(), init_value<K, T>(), load);
    for (int64_t o = 0; o < n_out; ++o) ys[o] = acc[o];
  } else {
    using A = AccOf<T>;
    std::vector<A> acc(n_out, init_value<K, A>());
    if constexpr (K == RK::Prod) {
      run_plan<Comb::Mul>(p, acc.data(), A(1), [xs](int64_t i, int64_t) { return static_cast<A>(xs[i]); });
    } else if constexpr (K == RK::L1) {
      run_plan<Comb::Add>(p, acc.data(), A(0),
               [xs](int64_t i, int64_t) {
                 const A v = static_cast<A>(xs[i]);
                 if constexpr (std::is_signed_v<A>) return v < 0 ? -v : v;
                 else return v;
               });
    } else if constexpr (K == RK::L2 || K == RK::SumSquare) {
      run_plan<Comb::Add>(p, acc.data(), A(0), [xs](int64_t i, int64_t) { const A v = static_cast<A>(xs[i]); return v * v; });
    } else if constexpr (K == RK::LogSumExp) {
      // Stable form: m + log(sum(exp(x - m))) with m the maximum of each output's set.
      std::vector<T> mx(n_out, init_value<RK::Max, T>());
      run_plan<Comb::Max>(p, mx.data(), init_value<RK::Max, T>(), [xs](int64_t i, int64_t) { return xs[i]; });
      const T* mp = mx.data();
      run_plan<Comb::Add>(p, acc.data(), A(0),
               [xs, mp](int64_t i, int64_t o) {
                 const double mo = std::isfinite(static_cast<double>(mp[o])) ? static_cast<double>(mp[o]) : 0.0;
                 return static_cast<A>(std::exp(static_cast<double>(xs[i]) - mo));
               });
      for (int64_t o = 0; o < n_out; ++o) {
        const double mo = std::isfinite(static_cast<double>(mp[o])) ? static_cast<double>(mp[o]) : 0.0;
        ys[o] = static_cast<T>(std::log(static_cast<double>(acc[o])) + mo);
      }
      return;
    } else {
      run_plan<Comb::Add>(p, acc.data(), A(0), [xs](int64_t i, int64_t) { return static_cast<A>(xs[i]); });
    }
    for (int64_t o = 0; o < n_out; ++o) {
      A v = acc[o];
      if constexpr (K == RK::Mean) {
        ys[o] = p.red_count > 0 ? static_cast<T>(v / static_cast<A>(p.red_count)) : T(0);
        continue;
      } else if constexpr (K == RK::L2) {
        ys[o] = static_cast<T>(std::sqrt(static_cast<double>(v)));
        continue;
      } else if constexpr (K == RK::LogSum) {
        ys[o] = static_cast<T>(std::log(static_cast<double>(v)));
        continue;
      } else {
        ys[o] = static_cast<T>(v);
      }
    }
  }
}

const char* rk_name(RK k) {
  switch (k) {
    case RK::Sum: return "ReduceSum";
    case RK::Mean: return "ReduceMean";
    case RK::Max: return "ReduceMax";
    case RK::Min: return "ReduceMin";
    case RK::Prod: return "ReduceProd";
    case RK::L1: return "ReduceL1";
    case RK::L2: return "ReduceL2";
    case RK::SumSquare: return "ReduceSumSquare";
    case RK::LogSum: return "ReduceLogSum";
    case RK::LogSumExp: return "ReduceLogSumExp";
  }
  return "Reduce";
}

template <RK K>
class ReduceOp : public Op {
 public:
  void init(const NodeDesc& node) override {
    name_ = node.name;
    keepdims_ = node.attrs.get_int("keepdims", 1) != 0;
    noop_ = node.attrs.get_int("noop_with_empty_axes", 0) != 0;
    has_attr_axes_ = node.attrs.has("axes");
    attr_axes_ = node.attrs.get_ints("axes");
    axes_input_ = node.has_input(1);
    DPL_CHECK(!(has_attr_axes_ && axes_input_), "{} '{}': axes given both as attribute and as input", rk_name(K),
              name_);
  }

  // ReduceSum and ReduceMean: dL/dx is dL/dy spread over the reduced axes (divided by
  // their size for the mean).
  bool has_backward() const override { return K == RK::Sum || K == RK::Mean; }
  void backward(OpContext& ctx, const GradArgs& args) override {
    if constexpr (K != RK::Sum && K != RK::Mean) {
      Op::backward(ctx, args);
    } else {
      if (args.wants.empty() || !args.wants[0]) return;
      const Tensor& x = grad::float_input(args, 0, rk_name(K));
      const Tensor* dy = grad::output_grad(args, 0, rk_name(K));
      std::vector<int64_t> given = attr_axes_;
      if (axes_input_ && args.inputs.size() > 1 && args.inputs[1]) given = args.inputs[1]->to_i64_vector();
      if (given.empty() && noop_) {  // the identity
        args.grad_inputs[0] = dy ? dy->clone() : Tensor::zeros(DType::F32, x.shape());
        return;
      }
      Tensor dx = Tensor::zeros(DType::F32, x.shape());
      if (dy) {
        const std::vector<char> reduced = reduced_axes(x, args.inputs.size() > 1 ? args.inputs[1] : nullptr);
        const int r = x.rank();
        int64_t count = 1;
        std::vector<int64_t> ystride(r, 0);  // dy's stride along each kept axis of x, 0 on reduced ones
        int64_t st = 1;
        for (int i = r; i-- > 0;) {
          if (reduced[i]) {
            count *= x.dim(i);
          } else {
            ystride[i] = st;
            st *= x.dim(i);
          }
        }
        const float scale = K == RK::Mean && count > 0 ? 1.f / static_cast<float>(count) : 1.f;
        const float* g = dy->data<float>();
        float* d = dx.data<float>();
        const auto xs = shape_strides(x.shape());
        parallel_for(x.numel(), [&](int64_t b, int64_t e) {
          for (int64_t i = b; i < e; ++i) {
            int64_t rest = i, off = 0;
            for (int a = 0; a < r; ++a) {
              const int64_t c = rest / xs[a];
              rest -= c * xs[a];
              off += c * ystride[a];
            }
            d[i] = g[off] * scale;
          }
        });
      }
      args.grad_inputs[0] = dx;
    }
  }

  void forward(OpContext&, const std::vector<const Tensor*>& in, std::vector<Tensor>& out) override {
    const Tensor& x = *in[0];
    const int r = x.rank();
    std::vector<int64_t> axes = attr_axes_;
    if (axes_input_ && in.size() > 1 && in[1]) axes = in[1]->to_i64_vector();
    if (axes.empty() && noop_) {
      out[0] = x;
      return;
    }
    const std::vector<char> reduced = reduced_axes(x, in.size() > 1 ? in[1] : nullptr);
    Shape ys;
    for (int i = 0; i < r; ++i) {
      if (!reduced[i]) ys.push_back(x.shape()[i]);
      else if (keepdims_) ys.push_back(1);
    }
    out[0] = Tensor(x.dtype(), ys);
    const Plan p = make_plan(x.shape(), reduced);
    dispatch_dtype(x.dtype(), [&](auto tag) {
      using T = decltype(tag);
      if constexpr (std::is_same_v<T, bool>) {
        fail("{} '{}': bool input is not supported", rk_name(K), name_);
      } else if constexpr (!std::is_floating_point_v<T> && (K == RK::L2 || K == RK::LogSum || K == RK::LogSumExp)) {
        fail("{} '{}': element type {} is not supported (float, double)", rk_name(K), name_, dtype_name(x.dtype()));
      } else {
        reduce_typed<K, T>(x, p, out[0]);
      }
    });
  }

 private:
  // Per axis of x: whether it is reduced (every axis when none is given).
  std::vector<char> reduced_axes(const Tensor& x, const Tensor* axes_in) const {
    const int r = x.rank();
    std::vector<int64_t> axes = attr_axes_;
    if (axes_input_ && axes_in) axes = axes_in->to_i64_vector();
    std::vector<char> reduced(r, axes.empty() ? 1 : 0);
    for (int64_t a : axes) {
      const int64_t ax = a < 0 ? a + r : a;
      DPL_CHECK(ax >= 0 && ax < r, "{} '{}': axis {} out of range for rank {}", rk_name(K), name_, a, r);
      reduced[ax] = 1;
    }
    return reduced;
  }

  std::string name_;
  bool keepdims_ = true, noop_ = false, has_attr_axes_ = false, axes_input_ = false;
  std::vector<int64_t> attr_axes_;
};

}  // namespace

DPL_REGISTER_OP("ReduceSum", ReduceOp<RK::Sum>);
DPL_REGISTER_OP("ReduceMean", ReduceOp<RK::Mean>);
DPL_REGISTER_OP("ReduceMax", ReduceOp<RK::Max>);
DPL_REGISTER_OP("ReduceMin", ReduceOp<RK::Min>);
DPL_REGISTER_OP("ReduceProd", ReduceOp<RK::Prod>);
DPL_REGISTER_OP("ReduceL1", ReduceOp<RK::L1>);
DPL_REGISTER_OP("ReduceL2", ReduceOp<RK::L2>);
DPL_REGISTER_OP("ReduceSumSquare", ReduceOp<RK::SumSquare>);
DPL_REGISTER_OP("ReduceLogSum", ReduceOp<RK::LogSum>);
DPL_REGISTER_OP("ReduceLogSumExp", ReduceOp<RK::LogSumExp>);

}  // namespace dpl
