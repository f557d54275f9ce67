// The options table: every STRATA_* variable strata reads, with its type,
// default, accepted values, what a secure-execution program does with it, the
// error text for a bad value and what happens then. It drives the reading of
// the environment (src/runtime/config_load.cc: defaults are applied from it,
// error lines are built from it), strata-run --options-table and --explain, and
// docs/configuration.md (checked against it by a test).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace strata {

enum class OptType : uint8_t { kBool, kSize, kEnum, kString, kSpec };

// The options, in table order (options.cc checks the order at compile time).
enum class Opt : uint8_t {
  kTiers,
  kPolicy,
  kMigrate,
  kSampler,
  kProfile,
  kProfileRate,
  kMetrics,
  kPmemDir,
  kStrict,
  kStats,
  kLog,
  kSysfsRoot,
};
inline constexpr size_t kOptCount = static_cast<size_t>(Opt::kSysfsRoot) + 1;

// What a secure-execution program (setuid/setgid, AT_SECURE) does with a variable.
enum class SecureMode : uint8_t {
  kIgnored,  // not read: the invoking user must not steer a privileged program
};

struct OptionDef {
  Opt id;
  const char* name;  // STRATA_...
  OptType type;
  const char* def;    // default, as the user would write it ("" = unset)
  const char* range;  // accepted values, for the docs
  const char* doc;    // one line
  SecureMode secure;
  // A bad value: "expected <expected>; <otherwise>". `expected` is empty for
  // the grammars (they say what they expected themselves); `otherwise` is
  // what strata does instead, empty for "using <def>".
  const char* expected;
  const char* otherwise;
};

// Every STRATA_* variable strata reads, in the order of Opt.
const OptionDef* options_table(size_t* count);
const OptionDef& option(Opt id);
const OptionDef* find_option(std::string_view name);
// What strata does after a bad value of `o` ("using 512K", "migration off").
std::string option_otherwise(const OptionDef& o);
// The error text for a bad value of a variable without a grammar:
// "expected <expected>; <otherwise>".
std::string option_error(const OptionDef& o);
// The table in markdown (strata-run --options-table, docs/configuration.md).
std::string options_markdown();

}  // namespace strata
