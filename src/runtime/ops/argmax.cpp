// ArgMax and ArgMin along one axis (keepdims, select_last_index); int64 indices.
#include <type_traits>
#include <vector>

#include "runtime/op_registry.h"
#include "runtime/parallel.h"

namespace dpl {
namespace {

// better(a, b): a replaces the current best b.
template <typename T, bool IsMax, bool Last>
inline bool better(T a, T b) {
  if constexpr (IsMax) return Last ? a >= b : a > b;
  else return Last ? a <= b : a < b;
}

template <typename T, bool IsMax, bool Last>
void arg_reduce(const T* x, int64_t* y, int64_t outer, int64_t len, int64_t inner) {
  parallel_for(
      outer,
      [&](int64_t b, int64_t e) {
        std::vector<T> best_v(inner);
        for (int64_t o = b; o < e; ++o) {
          const T* xo = x + o * len * inner;
          int64_t* yo = y + o * inner;
          if (inner == 1) {
            int64_t bi = 0;
            T bv = xo[0];
            for (int64_t j = 1; j < len; ++j)
              if (better<T, IsMax, Last>(xo[j], bv)) bv = xo[j], bi = j;
            yo[0] = bi;
          } else {
            for (int64_t i = 0; i < inner; ++i) best_v[i] = xo[i], yo[i] = 0;
            for (int64_t j = 1; j < len; ++j) {
              const T* row = xo + j * inner;
              for (int64_t i = 0; i < inner; ++i)
                if (better<T, IsMax, Last>(row[i], best_v[i])) best_v[i] = row[i], yo[i] = j;
            }
          }
        }
      },
      std::max<int64_t>(1, 16384 / std::max<int64_t>(1, len * inner)));
}

template <bool IsMax>
class ArgOp : public Op {
 public:
  void init(const NodeDesc& node) override {
    name_ = node.name;
    axis_ = node.attrs.get_int("axis", 0);
    keepdims_ = node.attrs.get_int("keepdims", 1) != 0;
    last_ = node.attrs.get_int("select_last_index", 0) != 0;
  }

  void forward(OpContext&, const std::vector<const Tensor*>& in, std::vector<Tensor>& out) override {
    const char* op = IsMax ? "ArgMax" : "ArgMin";
    const Tensor& x = *in[0];
    const int r = x.rank();
    const int64_t axis = axis_ < 0 ? axis_ + r : axis_;
    DPL_CHECK(axis >= 0 && axis < r, "{} '{}': axis {} out of range for rank {}", op, name_, axis_, r);
    int64_t outer = 1, inner = 1;
    const int64_t len = x.shape()[axis];
    for (int i = 0; i < axis; ++i) outer *= x.shape()[i];
    for (int i = static_cast<int>(axis) + 1; i < r; ++i) inner *= x.shape()[i];
    Shape ys = x.shape();
    if (keepdims_) ys[axis] = 1;
    else ys.erase(ys.begin() + axis);
    out[0] = Tensor(DType::I64, ys);
    if (out[0].numel() == 0) return;
    DPL_CHECK(len > 0, "{} '{}': cannot reduce an empty axis (shape {})", op, name_, shape_str(x.shape()));
    dispatch_dtype(x.dtype(), [&](auto tag) {
      using T = decltype(tag);
      if constexpr (std::is_same_v<T, bool>) {
        fail("{} '{}': bool input is not supported", op, name_);
      } else {
        if (last_) arg_reduce<T, IsMax, true>(x.data<T>(), out[0].data<int64_t>(), outer, len, inner);
        else arg_reduce<T, IsMax, false>(x.data<T>(), out[0].data<int64_t>(), outer, len, inner);
      }
    });
  }

 private:
  std::string name_;
  int64_t axis_ = 0;
  bool keepdims_ = true, last_ = false;
};

}  // namespace

DPL_REGISTER_OP("ArgMax", ArgOp<true>);
DPL_REGISTER_OP("ArgMin", ArgOp<false>);

}  // namespace dpl
