// Network policy for runs: one check for every way a container's network can
// be named.
//
// A run names networks in two places, `network_mode` and the ContainerConfig
// `networks` list (the first becomes the engine's NetworkMode, the rest are
// connected after create). Both go through CheckNetworkName, which handles
// the literal modes ("host", "container:<id>", "none", "bridge", "default").
// Every other name is resolved by the engine, which matches a full id, a full
// name or an id prefix; ResolvedNetwork judges the network that lookup found
// by its driver, so a name or id prefix that reaches the host network is
// refused like "host" itself, and returns the network's full id for the
// engine, so the engine attaches exactly the network dkd checked. Pure
// functions; thread-safe.
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "core/engine/engine_types.h"
#include "core/policy/run_policy.h"
#include "nlohmann/json.hpp"

namespace dkd::core {

// What a network name means before any engine lookup.
enum class NetworkNameKind {
  kLiteral,  // A mode the engine understands without lookup; pass it as is.
  kLookup,   // A network name or id; resolve it with the engine.
};

// Validates `name` (given in `field`) and applies the policy to the literal
// modes: "host" and "container:<name|id>" need run.allow_host_network
// (PermissionDenied otherwise); "none", "bridge" and "default" are literal.
// InvalidArgument for a malformed name.
absl::StatusOr<NetworkNameKind> CheckNetworkName(const std::string& field, const std::string& name,
                                                 const RunPolicy& policy);

// Judges `inspected` (the engine's GET /networks/{name} answer for `name`)
// and returns what to hand the engine: "host" for the host network (only with
// run.allow_host_network, else PermissionDenied naming the field), "none" for
// the null network, "bridge" for the default bridge, and the full network id
// for every other network. InvalidArgument when the answer has no id.
absl::StatusOr<std::string> ResolvedNetwork(const std::string& field, const std::string& name,
                                            const NetworkDetails& inspected,
                                            const RunPolicy& policy);
// As above for the engine's answer as JSON.
absl::StatusOr<std::string> ResolvedNetwork(const std::string& field, const std::string& name,
                                            const nlohmann::json& inspected,
                                            const RunPolicy& policy);

}  // namespace dkd::core
