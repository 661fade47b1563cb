// Quote: client values in error messages.
#include "core/base/strings.h"

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"

namespace dkd::core {

std::string Quote(std::string_view s, size_t max_shown) {
  if (s.size() > max_shown) {
    return absl::StrCat("\"", absl::CHexEscape(Sv(s.substr(0, max_shown))), "\"…");
  }
  return absl::StrCat("\"", absl::CHexEscape(Sv(s)), "\"");
}

}  // namespace dkd::core
