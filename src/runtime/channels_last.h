// Channels-last tensors between integer convolutions (docs/architecture.md, "Channels-last
// tensors"). oneDNN's int8 convolutions read and write NHWC; with plain NCHW tensors every
// QLinearConv paid a reorder of its input and of its int32 output, twice the time of the
// convolution itself on a uint8 YOLOX-Nano. A session lets a QLinearConv leave its output
// channels-last (same logical shape [N, C, spatial...], memory [N, spatial..., C]) and passes
// such a tensor on through element-wise nodes, whose result does not depend on memory order,
// to the next QLinearConv. Every other consumer, a fetched output and a hook get it converted
// back to plain first, once per tensor.
#pragma once
#include <optional>
#include <string>
#include <vector>

#include "core/tensor.h"
#include "runtime/node_desc.h"

namespace dpl {

// The plain (row-major) tensor of a channels-last one of logical shape t.shape(), and back.
Tensor channels_last_to_plain(const Tensor& t);
Tensor plain_to_channels_last(const Tensor& t);

// The memory shape [N, spatial..., C] of a channels-last tensor of logical shape s (rank >= 3),
// and back.
Shape channels_last_memory_shape(const Shape& s);
Shape channels_last_logical_shape(const Shape& mem);
// An operand of shape s broadcast against a channels-last tensor of rank r: its shape in that
// memory order when it varies along N and C only (its bytes are then the same in both
// orders: a per-channel scale or bias); none when it varies along a spatial axis.
std::optional<Shape> per_channel_memory_shape(const Shape& s, int r);

// Whether `op_type` is an element-wise operator: one output element from the same element of
// each input (the code lookup of runtime/fusion.h takes the same set).
bool elementwise_op(const std::string& op_type);
// Whether plan node `n` is element-wise with all it absorbed (the synthetic SiLU, QDQ, code
// lookup and island nodes of runtime/fusion.h included).
bool elementwise_node(const NodeDesc& n);

// Whether node `n` computes the same values whatever the memory order of `inputs`, so that
// channels-last inputs give channels-last outputs: element-wise operators whose tensor
// inputs all have one shape (or a single element), with per-tensor parameters.
bool runs_on_any_layout(const NodeDesc& n, const std::vector<const Tensor*>& inputs);

}  // namespace dpl
