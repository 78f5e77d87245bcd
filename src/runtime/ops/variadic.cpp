// Max, Min, Sum, Mean over one or more inputs with multidirectional broadcasting. The
// first two inputs are combined into the output, then each further input is folded into
// it in place. Max and Min propagate NaN (as numpy's maximum / minimum). Sum and Mean have a
// backward pass (ResNets that add their residuals with Sum train as blocks): each input gets
// dL/dy (divided by the count for Mean) summed back over the axes it was broadcast along.
#include <type_traits>

#include "runtime/ops/elementwise.h"
#include "runtime/ops/grad_util.h"

namespace dpl {
namespace {

struct MaxFn {
  template <typename T> static constexpr bool supports = ew::is_numeric_v<T>;
  template <typename T> T operator()(T a, T b) const {
    if constexpr (ew::is_float_v<T>) return (a > b || a != a) ? a : b;
    else return a > b ? a : b;
  }
};

struct MinFn {
  template <typename T> static constexpr bool supports = ew::is_numeric_v<T>;
  template <typename T> T operator()(T a, T b) const {
    if constexpr (ew::is_float_v<T>) return (a < b || a != a) ? a : b;
    else return a < b ? a : b;
  }
};

struct SumFn {
  template <typename T> static constexpr bool supports = ew::is_numeric_v<T>;
  template <typename T> T operator()(T a, T b) const { return ew::wrap_add(a, b); }
};

template <typename Fn, bool kMean>
class VariadicOp : public Op {
 public:
  void forward(OpContext& ctx, const std::vector<const Tensor*>& in, std::vector<Tensor>& out) override {
    if (ew::forward_f16_as_f32(*this, ctx, in, out)) return;
    DPL_CHECK(!in.empty(), "needs at least one input");
    std::vector<Shape> shapes;
    for (size_t i = 0; i < in.size(); ++i) {
      const Tensor& t = ew::required_input(in, i);
      DPL_CHECK(t.dtype() == in[0]->dtype(), "input {} has type {} but input 0 has {}", i, dtype_name(t.dtype()),
                dtype_name(in[0]->dtype()));
      shapes.push_back(t.shape());
    }
    const Tensor& x0 = *in[0];
    if (in.size() == 1) {  // Max/Min/Sum/Mean of one tensor is the tensor itself
      dispatch_dtype(x0.dtype(), [&](auto tag) {
        if constexpr (!Fn::template supports<decltype(tag)>) fail("element type {} is not supported", dtype_name(x0.dtype()));
      });
      out[0] = x0;
      return;
    }
    const Shape shape = broadcast_shapes(shapes);
    dispatch_dtype(x0.dtype(), [&](auto tag) {
      using T = decltype(tag);
      if constexpr (Fn::template supports<T>) {
        const Fn fn{};
        auto f = [fn](T a, T b) { return fn(a, b); };
        Tensor y(x0.dtype(), shape);
        T* py = y.data<T>();
        broadcast_binary<T, T, T>(x0.data<T>(), x0.shape(), in[1]->data<T>(), in[1]->shape(), py, shape, f);
        for (size_t i = 2; i < in.size(); ++i)
          broadcast_binary<T, T, T>(py, shape, in[i]->data<T>(), in[i]->shape(), py, shape, f);
        if constexpr (kMean) {
          const T n = static_cast<T>(in.size());
          parallel_map(py, py, y.numel(), [n](T v) { return static_cast<T>(v / n); });
        }
        out[0] = std::move(y);
      } else {
        fail("element type {} is not supported", dtype_name(x0.dtype()));
      }
    });
  }

  bool has_backward() const override { return std::is_same_v<Fn, SumFn>; }
  void backward(OpContext& ctx, const GradArgs& args) override {
    if constexpr (!std::is_same_v<Fn, SumFn>) {
      Op::backward(ctx, args);
    } else {
      const Tensor* dy = grad::output_grad(args, 0, "Sum");
      Tensor scaled;
      if (dy && kMean) {
        scaled = Tensor(DType::F32, dy->shape());
        const float k = 1.0f / static_cast<float>(args.inputs.size());
        parallel_map(dy->data<float>(), scaled.data<float>(), scaled.numel(), [k](float g) { return g * k; });
        dy = &scaled;
      }
      for (size_t i = 0; i < args.inputs.size(); ++i) {
        if (!grad::wants(args, i)) continue;
        const Tensor& x = grad::float_input(args, i, "Sum");
        args.grad_inputs[i] = dy ? grad::reduce_to_shape(*dy, x.shape()) : Tensor::zeros(DType::F32, x.shape());
      }
    }
  }
};

}  // namespace

using MaxOp = VariadicOp<MaxFn, false>;
using MinOp = VariadicOp<MinFn, false>;
using SumOp = VariadicOp<SumFn, false>;
using MeanOp = VariadicOp<SumFn, true>;
DPL_REGISTER_OP("Max", MaxOp);
DPL_REGISTER_OP("Min", MinOp);
DPL_REGISTER_OP("Sum", SumOp);
DPL_REGISTER_OP("Mean", MeanOp);

}  // namespace dpl
