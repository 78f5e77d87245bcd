// Built only by the test Layering.WrongDirectionIncludeFailsToBuild, as if it were a file of
// calib/: calib sits below quant (docs/architecture.md), so this include must not resolve.
#include "quant/qdq_builder.h"
