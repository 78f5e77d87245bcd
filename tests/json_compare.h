// Comparing JSON documents in tests: the same structure, numbers within 1e-6 relative
// (integers equal), each difference reported with its path. Used by the deploy-file tests and
// the distributed runs' comparisons with one process.
#pragma once
#include <gtest/gtest.h>

#include <cmath>
#include <nlohmann/json.hpp>
#include <string>

namespace dpl::test {

// Same keys, same array lengths, same strings and booleans; numbers within 1e-6 relative
// (integers equal). Every difference is reported with its path.
inline void expect_json_near(const nlohmann::json& actual, const nlohmann::json& expected, const std::string& path = "$") {
  if (expected.is_number() && actual.is_number()) {
    if (expected.is_number_integer() && actual.is_number_integer()) {
      EXPECT_EQ(actual.get<int64_t>(), expected.get<int64_t>()) << "at " << path;
      return;
    }
    const double a = actual.get<double>(), e = expected.get<double>();
    EXPECT_LE(std::fabs(a - e), 1e-6 * std::fabs(e) + 1e-30) << "at " << path << ": " << a << " vs expected " << e;
    return;
  }
  ASSERT_EQ(actual.type_name(), std::string(expected.type_name()))
      << "at " << path << ": " << actual.dump() << " vs expected " << expected.dump();
  if (expected.is_object()) {
    for (const auto& [k, v] : expected.items())
      if (!actual.contains(k)) ADD_FAILURE() << "at " << path << ": key '" << k << "' is missing";
    for (const auto& [k, v] : actual.items()) {
      if (!expected.contains(k)) {
        ADD_FAILURE() << "at " << path << ": unexpected key '" << k << "'";
        continue;
      }
      expect_json_near(v, expected.at(k), path + "[" + k + "]");
    }
  } else if (expected.is_array()) {
    ASSERT_EQ(actual.size(), expected.size()) << "at " << path << ": " << actual.dump();
    for (size_t i = 0; i < expected.size(); ++i)
      expect_json_near(actual[i], expected[i], path + "[" + std::to_string(i) + "]");
  } else {
    EXPECT_EQ(actual, expected) << "at " << path;
  }
}

}  // namespace dpl::test
