// Network policy (network_policy.h): the checks on network names and on
// networks the engine resolved.
#include "core/policy/network_policy.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "core/base/status_macros.h"
#include "core/base/validation.h"
#include "core/engine/engine_json.h"

namespace dkd::core {
namespace {

absl::Status DenyHostNetwork(const std::string& field, const std::string& what) {
  return absl::PermissionDeniedError(
      absl::StrCat("policy: ", field, ": ", what,
                   " is not allowed on this host (enable with run.allow_host_network)"));
}

}  // namespace

absl::StatusOr<NetworkNameKind> CheckNetworkName(const std::string& field, const std::string& name,
                                                 const RunPolicy& policy) {
  if (name == "host") {
    if (!policy.allow_host_network) return DenyHostNetwork(field, "the host network");
    return NetworkNameKind::kLiteral;
  }
  if (absl::StartsWith(name, "container:")) {
    // Another container's namespace may be the host's; it is never checked
    // further, so it needs the same permission as the host network.
    if (!policy.allow_host_network) {
      return DenyHostNetwork(field, "sharing another container's network (container:...)");
    }
    RETURN_IF_ERROR(ValidateContainerName(field, name.substr(strlen("container:"))));
    return NetworkNameKind::kLiteral;
  }
  RETURN_IF_ERROR(ValidateNetworkName(field, name));
  if (name == "none" || name == "bridge" || name == "default") return NetworkNameKind::kLiteral;
  return NetworkNameKind::kLookup;
}

absl::StatusOr<std::string> ResolvedNetwork(const std::string& field, const std::string& name,
                                            const NetworkDetails& inspected,
                                            const RunPolicy& policy) {
  if (inspected.id.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ": the engine's answer for network \"", name, "\" has no id"));
  }
  const std::string& driver = inspected.driver;
  const std::string& net_name = inspected.name;
  if (driver == "host" || net_name == "host") {
    if (!policy.allow_host_network) {
      return DenyHostNetwork(field, absl::StrCat("the host network (as \"", name, "\")"));
    }
    return std::string("host");
  }
  if (driver == "null" || net_name == "none") return std::string("none");
  if (net_name == "bridge" && driver == "bridge") return std::string("bridge");
  return inspected.id;
}

absl::StatusOr<std::string> ResolvedNetwork(const std::string& field, const std::string& name,
                                            const nlohmann::json& inspected,
                                            const RunPolicy& policy) {
  return ResolvedNetwork(field, name, DecodeNetwork(inspected), policy);
}

}  // namespace dkd::core
