// The most memory one tensor may take (docs/reliability.md, "Limits"). A model is untrusted
// input: a ConstantOfShape of 10^12 elements or an initializer declaring huge dims with no
// data must end in one clear error naming the tensor or node, not in the kernel's
// out-of-memory killer. Every Tensor allocation is checked against it; preparation checks
// inferred shapes against it before anything runs (optimizer/tensor_limits.h). The commands
// set it from --max_tensor_mb.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace dpl {

// Half of the machine's memory (physical memory, or a smaller cgroup limit), at least 1 GiB.
size_t default_tensor_budget_bytes();
// The budget in force (the default until set); 0 given to the setter restores the default.
size_t tensor_budget_bytes();
void set_tensor_budget_bytes(size_t bytes);

// Bytes of `elem_size`-byte elements of `dims` (negative dims count as 1, unknown), saturating
// at SIZE_MAX instead of overflowing.
size_t saturated_bytes(const std::vector<int64_t>& dims, size_t elem_size);
// Throws dpl::Error "<what> needs N MB, over the limit of M MB per tensor (--max_tensor_mb)"
// when `bytes` exceeds the budget.
void check_tensor_budget(const std::string& what, size_t bytes);

}  // namespace dpl
