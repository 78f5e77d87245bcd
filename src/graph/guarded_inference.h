// The op schemas ONNX's shape inference runs with, some of whose inference functions are
// guarded (docs/fuzzing.md). Debian's libonnx reads what a malformed node points at without
// checking it (a Reshape shape entry 0 that copies an input dimension the input does not
// have crashed it: fuzz_model); a check before the graph is inferred sees only declared
// ranks, not the ranks inference itself works out for intermediate tensors. A guard sees
// what the inference function would: when the node's inputs are not what it assumes, the
// function is not called and the outputs stay without a shape (the first keeps the first
// input's element type); the runtime's kernel then names the node when it runs.
#pragma once
#include <onnx/defs/schema.h>

namespace dpl {

// OpSchemaRegistry's schemas, with the guarded ops' inference functions wrapped.
const onnx::ISchemaRegistry& guarded_schemas();

}  // namespace dpl
