// The lexing helpers the policy grammars share (policy/lex.cc). Internal to
// policy/: other folders use the grammars' entry points in policy/config.h.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace strata::lex {

bool is_space(char c);

std::string_view trim(std::string_view s);

// Column (1-based) of `part` inside `whole` (part must be a view into whole).
size_t col(std::string_view whole, std::string_view part);

bool valid_name(std::string_view s);

// Splits on `sep` (not inside nothing fancy); keeps views into the original.
std::vector<std::string_view> split(std::string_view s, char sep);

std::string quote(std::string_view s);

// Decimal digits only (no sign, at most 10), value at most `max`.
bool parse_uint(std::string_view s, uint64_t max, uint64_t* out);

}  // namespace strata::lex
