// The op schemas ONNX's shape inference runs with, some of whose inference functions are
// guarded (docs/fuzzing.md). Debian's libonnx reads what a malformed node points at without
// checking it: a convolution's weight rank (ConvTranspose, QLinearConv: SIGSEGV), MaxUnpool's
// indices' rank, an `axis` out of range (any op), the type of a Shape's
// input that upstream inference could not type (its data propagation: SIGSEGV; both found by
// fuzz_model). A check before the graph is inferred sees only declared types and ranks; a
// guard sees what the inference function would, ranks inference worked out for
// intermediates included: when the node's inputs are not what the function assumes, it is
// not called and the outputs stay without a shape (the first keeps the first input's
// element type); the runtime's kernel then names the node when it runs.
#pragma once
#include <onnx/defs/schema.h>

namespace dpl {

// OpSchemaRegistry's schemas, with the guarded ops' inference functions wrapped.
const onnx::ISchemaRegistry& guarded_schemas();

}  // namespace dpl
