// String helpers for messages: the bridge to Debian's Abseil string_view, and
// the one way a client value is quoted in an error. Pure and thread-safe.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "absl/strings/string_view.h"

namespace dkd::core {

// Debian's Abseil has its own string_view type; StrCat and CHexEscape take it.
inline absl::string_view Sv(std::string_view s) { return absl::string_view(s.data(), s.size()); }

// How many bytes of a value Quote shows by default.
inline constexpr size_t kQuoteMaxShown = 128;

// Quotes `s` for an error message: C-escaped so control characters cannot
// forge log lines, and cut after `max_shown` bytes (marked with "…") so a huge
// input does not flood the log. std::string_view::npos shows it whole.
std::string Quote(std::string_view s, size_t max_shown = kQuoteMaxShown);

}  // namespace dkd::core
