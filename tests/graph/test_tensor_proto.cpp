// TensorProto conversion on hostile initializers (docs/fuzzing.md): dimensions whose element
// count wraps around 64 bits made an empty raw_data look like the right size, and the tensor
// then claimed 2^64 elements over a 64-byte buffer.
#include <gtest/gtest.h>

#include "graph/tensor_proto.h"
#include "util/error.h"

namespace dpl::test {
namespace {

TEST(TensorProto, DimensionsWhoseCountWrapsAreRefused) {
  onnx::TensorProto p;
  p.set_name("w");
  p.set_data_type(onnx::TensorProto::FLOAT);
  p.add_dims(int64_t{1} << 32);
  p.add_dims(int64_t{1} << 32);
  p.set_raw_data("");
  EXPECT_THROW(tensor_from_proto(p), Error);
  p.clear_raw_data();
  EXPECT_THROW(tensor_from_proto(p), Error);
}

TEST(TensorProto, RawDataOfTheRightSizeIsRead) {  // the control
  onnx::TensorProto p;
  p.set_data_type(onnx::TensorProto::FLOAT);
  p.add_dims(2);
  const float v[2] = {1.5f, -2.f};
  p.set_raw_data(std::string(reinterpret_cast<const char*>(v), sizeof v));
  const Tensor t = tensor_from_proto(p);
  ASSERT_EQ(t.numel(), 2);
  EXPECT_EQ(t.data<float>()[1], -2.f);
}

}  // namespace
}  // namespace dpl::test
