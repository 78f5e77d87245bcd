// Flat registry: ONNX op type -> factory. Each ops/*.cpp registers its types with
// DPL_REGISTER_OP at static-initialization time (the library is linked whole-archive).
#pragma once
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "runtime/op.h"

namespace dpl {

class OpRegistry {
 public:
  using Factory = std::function<std::unique_ptr<Op>()>;
  static OpRegistry& instance();
  bool add(const std::string& op_type, Factory f);
  bool has(const std::string& op_type) const { return map_.count(op_type) != 0; }
  std::unique_ptr<Op> create(const std::string& op_type) const;
  std::vector<std::string> names() const;

 private:
  std::map<std::string, Factory> map_;
};

}  // namespace dpl

#define DPL_CONCAT_INNER(a, b) a##b
#define DPL_CONCAT(a, b) DPL_CONCAT_INNER(a, b)
// DPL_REGISTER_OP("Relu", ReluOp);  The class must be default-constructible.
#define DPL_REGISTER_OP(OP_TYPE, CLASS)                                          \
  static const bool DPL_CONCAT(dpl_registered_, __COUNTER__) =                   \
      ::dpl::OpRegistry::instance().add(OP_TYPE, [] { return std::make_unique<CLASS>(); })
// DPL_REGISTER_OP_FACTORY("Sigmoid", [] { return std::make_unique<Unary>(...); });
#define DPL_REGISTER_OP_FACTORY(OP_TYPE, FACTORY) \
  static const bool DPL_CONCAT(dpl_registered_, __COUNTER__) = ::dpl::OpRegistry::instance().add(OP_TYPE, FACTORY)
