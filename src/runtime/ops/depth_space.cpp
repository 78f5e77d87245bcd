// DepthToSpace (DCR and CRD) and SpaceToDepth: a 6-D view of the NCHW input, permuted and
// copied by strided_copy.
#include "runtime/op_registry.h"
#include "runtime/ops/data_movement.h"

namespace dpl {
namespace {

// Copies the permutation `perm` of `in` viewed as `view` into a tensor of shape `out_shape`.
Tensor permuted_copy(const Tensor& in, const Shape& view, const std::vector<int>& perm, const Shape& out_shape) {
  const auto vst = shape_strides(view);
  Shape shape(perm.size());
  std::vector<int64_t> st(perm.size());
  for (size_t i = 0; i < perm.size(); ++i) {
    shape[i] = view[perm[i]];
    st[i] = vst[perm[i]];
  }
  Tensor y(in.dtype(), out_shape);
  ops::strided_copy(y.raw(), in.raw(), shape, st, dtype_size(in.dtype()));
  return y;
}

class DepthToSpaceOp : public Op {
 public:
  void init(const NodeDesc& node) override {
    bs_ = node.attrs.get_int("blocksize", 0);
    DPL_CHECK(bs_ > 0 && bs_ < (int64_t{1} << 31), "DepthToSpace needs a 'blocksize' in [1, 2^31), got {}", bs_);
    const std::string mode = node.attrs.get_string("mode", "DCR");
    DPL_CHECK(mode == "DCR" || mode == "CRD", "DepthToSpace mode '{}' is not DCR or CRD", mode);
    crd_ = mode == "CRD";
  }
  void forward(OpContext&, const std::vector<const Tensor*>& in, std::vector<Tensor>& out) override {
    const Tensor& x = *in[0];
    DPL_CHECK(x.rank() == 4, "DepthToSpace needs a 4-D input, got {}", shape_str(x.shape()));
    const int64_t N = x.dim(0), C = x.dim(1), H = x.dim(2), W = x.dim(3), b = bs_;
    DPL_CHECK(C % (b * b) == 0, "DepthToSpace: {} channels are not divisible by blocksize^2 = {}", C, b * b);
    const int64_t c = C / (b * b);
    const Shape out_shape{N, c, H * b, W * b};
    if (crd_)  // [N, c, b, b, H, W] -> [N, c, H, b, W, b]
      out[0] = permuted_copy(x, {N, c, b, b, H, W}, {0, 1, 4, 2, 5, 3}, out_shape);
    else  // DCR: [N, b, b, c, H, W] -> [N, c, H, b, W, b]
      out[0] = permuted_copy(x, {N, b, b, c, H, W}, {0, 3, 4, 1, 5, 2}, out_shape);
  }

 private:
  int64_t bs_ = 0;
  bool crd_ = false;
};

class SpaceToDepthOp : public Op {
 public:
  void init(const NodeDesc& node) override {
    bs_ = node.attrs.get_int("blocksize", 0);
    DPL_CHECK(bs_ > 0 && bs_ < (int64_t{1} << 31), "SpaceToDepth needs a 'blocksize' in [1, 2^31), got {}", bs_);
  }
  void forward(OpContext&, const std::vector<const Tensor*>& in, std::vector<Tensor>& out) override {
    const Tensor& x = *in[0];
    DPL_CHECK(x.rank() == 4, "SpaceToDepth needs a 4-D input, got {}", shape_str(x.shape()));
    const int64_t N = x.dim(0), C = x.dim(1), H = x.dim(2), W = x.dim(3), b = bs_;
    DPL_CHECK(H % b == 0 && W % b == 0, "SpaceToDepth: spatial size {}x{} is not divisible by blocksize {}", H, W, b);
    // [N, C, H/b, b, W/b, b] -> [N, b, b, C, H/b, W/b]
    out[0] = permuted_copy(x, {N, C, H / b, b, W / b, b}, {0, 3, 5, 1, 2, 4}, {N, C * b * b, H / b, W / b});
  }

 private:
  int64_t bs_ = 0;
};

}  // namespace

DPL_REGISTER_OP("DepthToSpace", DepthToSpaceOp);
DPL_REGISTER_OP("SpaceToDepth", SpaceToDepthOp);

}  // namespace dpl
