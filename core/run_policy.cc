#include "core/run_policy.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace dkd::core {

absl::Status CheckRegistryAllowed(const std::vector<std::string>& allowed,
                                  const std::string& registry, const std::string& what,
                                  const std::string& key) {
  if (allowed.empty()) return absl::OkStatus();
  for (const auto& a : allowed) {
    if (a == registry) return absl::OkStatus();
  }
  return absl::PermissionDeniedError(absl::StrCat("policy: ", what, " to registry \"", registry,
                                                  "\" is not allowed (", key, ": ",
                                                  absl::StrJoin(allowed, ", "), ")"));
}

}  // namespace dkd::core
