// Constant (every value_* attribute form the runtime can hold), ConstantOfShape and Range.
#include <cmath>

#include "runtime/op_registry.h"
#include "runtime/ops/data_movement.h"

namespace dpl {
namespace {

class ConstantOp : public Op {
 public:
  void init(const NodeDesc& node) override {
    const Attributes& a = node.attrs;
    int forms = 0;
    for (const auto& [name, v] : a.all()) {
      (void)v;
      if (name.rfind("value", 0) == 0 || name == "sparse_value") ++forms;
    }
    DPL_CHECK(forms == 1, "Constant needs exactly one value attribute, got {}", forms);
    if (const Tensor* t = a.get_tensor("value")) {
      value_ = *t;
    } else if (a.has("value_float")) {
      value_ = Tensor::scalar<float>(a.get_float("value_float", 0.f));
    } else if (a.has("value_floats")) {
      auto v = a.get_floats("value_floats");
      value_ = Tensor::from_vector<float>({static_cast<int64_t>(v.size())}, v);
    } else if (a.has("value_int")) {
      value_ = Tensor::scalar<int64_t>(a.get_int("value_int", 0));
    } else if (a.has("value_ints")) {
      auto v = a.get_ints("value_ints");
      value_ = Tensor::from_vector<int64_t>({static_cast<int64_t>(v.size())}, v);
    } else if (a.has("value_string") || a.has("value_strings")) {
      fail("Constant: string values are not supported by the runtime");
    } else if (a.has("sparse_value")) {
      fail("Constant: sparse_value is not supported by the runtime");
    } else {
      fail("Constant: the 'value' attribute is not a tensor");
    }
  }
  // Consumers never write into their inputs, so every run can hand out the same buffer.
  void forward(OpContext&, const std::vector<const Tensor*>&, std::vector<Tensor>& out) override { out[0] = value_; }

 private:
  Tensor value_;
};

class ConstantOfShapeOp : public Op {
 public:
  void init(const NodeDesc& node) override {
    if (const Tensor* t = node.attrs.get_tensor("value")) {
      DPL_CHECK(t->numel() == 1, "ConstantOfShape 'value' must hold one element, got {}", t->numel());
      value_ = *t;
    } else {
      value_ = Tensor::scalar<float>(0.f);
    }
  }
  void forward(OpContext&, const std::vector<const Tensor*>& in, std::vector<Tensor>& out) override {
    Shape shape = ops::input_ints(in[0]);
    for (int64_t d : shape) DPL_CHECK(d >= 0, "ConstantOfShape: negative dim in shape {}", shape_str(shape));
    Tensor y(value_.dtype(), shape);
    const size_t es = dtype_size(value_.dtype());
    ops::dispatch_size(es, [&](auto tag) {
      using U = decltype(tag);
      U v;
      std::memcpy(&v, value_.raw(), sizeof(U));
      U* d = static_cast<U*>(y.raw());
      parallel_for(
          y.numel(), [&](int64_t b, int64_t e) { std::fill(d + b, d + e, v); }, ops::kParallelBytes / sizeof(U));
    });
    out[0] = std::move(y);
  }

 private:
  Tensor value_;
};

class RangeOp : public Op {
 public:
  void forward(OpContext&, const std::vector<const Tensor*>& in, std::vector<Tensor>& out) override {
    const DType dt = in[0]->dtype();
    for (int i = 0; i < 3; ++i) {
      DPL_CHECK(in[i]->numel() == 1, "Range input {} must be a scalar, got shape {}", i, shape_str(in[i]->shape()));
      DPL_CHECK(in[i]->dtype() == dt, "Range inputs have different types");
    }
    auto run = [&](auto tag) {
      using T = decltype(tag);
      const T start = in[0]->data<T>()[0], limit = in[1]->data<T>()[0], delta = in[2]->data<T>()[0];
      DPL_CHECK(delta != T(0), "Range delta is 0");
      int64_t n;
      if constexpr (std::is_floating_point_v<T>) {
        n = static_cast<int64_t>(std::ceil(static_cast<double>(limit - start) / static_cast<double>(delta)));
      } else {
        const int64_t s = start, l = limit, d = delta;
        n = d > 0 ? (l > s ? (l - s + d - 1) / d : 0) : (s > l ? (s - l - d - 1) / -d : 0);
      }
      n = std::max<int64_t>(n, 0);
      Tensor y(dt, {n});
      T* p = y.data<T>();
      for (int64_t i = 0; i < n; ++i) p[i] = static_cast<T>(start + static_cast<T>(i) * delta);
      out[0] = std::move(y);
    };
    switch (dt) {
      case DType::F32: run(float{}); break;
      case DType::F64: run(double{}); break;
      case DType::I16: run(int16_t{}); break;
      case DType::I32: run(int32_t{}); break;
      case DType::I64: run(int64_t{}); break;
      default: fail("Range does not support element type {}", dtype_name(dt));
    }
  }
};

}  // namespace

DPL_REGISTER_OP("Constant", ConstantOp);
DPL_REGISTER_OP("ConstantOfShape", ConstantOfShapeOp);
DPL_REGISTER_OP("Range", RangeOp);

}  // namespace dpl
