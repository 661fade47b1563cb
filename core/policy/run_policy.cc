// RunPolicy (run_policy.h): the bind roots a run may use and the registry
// check.
#include "core/policy/run_policy.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace dkd::core {

std::vector<std::string> BindRootsFor(const RunPolicy& policy, const std::string& identity,
                                      bool enforced) {
  if (!policy.bind_roots_per_identity || !enforced) return policy.bind_roots;
  const bool plain = !identity.empty() && identity != "." && identity != ".." &&
                     identity.find_first_not_of(
                         "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                         "0123456789._-@") == std::string::npos;
  std::vector<std::string> roots;
  if (!plain) return roots;
  for (const std::string& root : policy.bind_roots) {
    roots.push_back(absl::StrCat(root, root.size() > 1 && root.back() == '/' ? "" : "/", identity));
  }
  return roots;
}

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
