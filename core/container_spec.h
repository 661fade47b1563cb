// Turns a RunRequest into the engine's container-create body, validating every
// field and applying the run policy first. Pure: no engine access, so each
// rule is unit-tested and a rejected request never reaches the engine.
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "core/docker_manager.h"
#include "core/reference.h"
#include "nlohmann/json.hpp"

namespace dkd::core {

struct ContainerSpec {
  ImageReference image;   // Normalised, tag defaulted to "latest".
  std::string image_ref;  // Familiar form passed to the engine, e.g. "app:1".
  nlohmann::json create_body;
  // Networks to connect after create (all but the first).
  std::vector<std::string> extra_networks;
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

// The spec's default container name: "<image>_<YYYYmmdd_HHMMSS>", with the
// image's path made name-safe.
std::string DefaultContainerName(const ImageReference& image, absl::Time now);

}  // namespace dkd::core
