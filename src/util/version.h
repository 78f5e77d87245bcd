#pragma once
namespace dpl {
inline constexpr const char* kVersion = "dipoorlet-cpp 0.1.0";
}
