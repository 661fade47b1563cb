// Turns a RunRequest into the engine's container-create body, validating every
// field and applying the run policy first. Pure: no engine access, so each
// rule is unit-tested and a rejected request never reaches the engine.
#pragma once

#include <functional>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "core/base/reference.h"
#include "core/docker/docker_manager.h"
#include "core/engine/engine_types.h"
#include "core/policy/bind_nesting.h"
#include "nlohmann/json.hpp"

namespace dkd::core {

struct ContainerSpec {
  ImageReference image;   // Normalised, tag defaulted to "latest".
  std::string image_ref;  // Familiar form passed to the engine, e.g. "app:1".
  nlohmann::json create_body;
  // Networks to connect after create (all but the first).
  std::vector<std::string> extra_networks;
  // Every network the run names, in order (the first is the NetworkMode), with
  // the request field it came from; kLookup names must be resolved by the
  // engine and replaced (PinNetworks) before create.
  struct Network {
    std::string field;
    std::string name;
    bool lookup = false;
  };
  std::vector<Network> networks;
  // Named volumes: the request field and the volume name.
  std::vector<std::pair<std::string, std::string>> volumes;
  // Bind mounts, resolved, for the nesting rule (core/policy/bind_nesting.h).
  std::vector<HostBind> binds;
  // Published ports with no host port, as keys into HostConfig.PortBindings
  // ("80/tcp") and the index in that key's list, for dkd to pick one in range.
  struct EphemeralPort {
    std::string key;
    size_t index = 0;
    std::string host_ip;
    std::string protocol;
  };
  std::vector<EphemeralPort> ephemeral_ports;
  // Remove the container after collecting output (attached --rm).
  bool remove_after = false;
};

// The image reference of a ContainerConfig: image_name (required) plus tag.
// InvalidArgument naming config.image_name / config.tag.
absl::StatusOr<ImageReference> ConfigImageReference(const ContainerConfig& config);

// Validates `request` against the grammar of every field and `policy`.
// InvalidArgument names the field ("config.ports[\"8080/tcp\"]"); policy
// refusals are PermissionDenied naming the rule.
absl::StatusOr<ContainerSpec> BuildContainerSpec(const RunRequest& request,
                                                 const RunPolicy& policy);

// Replaces the networks that need an engine lookup by what the engine should
// be handed (see core/policy/network_policy.h): `resolve(name)` returns the engine's
// GET /networks/{name} answer. Errors name the request field.
absl::Status PinNetworks(
    ContainerSpec* spec, const RunPolicy& policy,
    const std::function<absl::StatusOr<nlohmann::json>(const std::string&)>& resolve);
// As above, `resolve(name)` returning the decoded answer.
absl::Status PinResolvedNetworks(
    ContainerSpec* spec, const RunPolicy& policy,
    const std::function<absl::StatusOr<NetworkDetails>(const std::string&)>& resolve);

// Fills every ephemeral published port with a free port in the policy's range
// when that range is restricted (core/policy/host_ports.h); `avoid` are ports not to
// use (e.g. ones the engine just refused).
absl::Status PickEphemeralPorts(ContainerSpec* spec, const RunPolicy& policy,
                                const std::set<int>& avoid);

// The spec's default container name: "<image>_<YYYYmmdd_HHMMSS>", with the
// image's path made name-safe.
std::string DefaultContainerName(const ImageReference& image, absl::Time now);

}  // namespace dkd::core
