// Helpers the DockerManager's source files share; not part of its API.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "core/base/reference.h"
#include "core/docker/docker_manager.h"
#include "core/engine/engine_streams.h"

namespace dkd::core::internal {

// Container ids and names as path components: the engine accepts ids, id
// prefixes and names; anything else is InvalidArgument naming `field` before
// it reaches a URL.
absl::Status ValidateContainerRef(const std::string& field, const std::string& id);
// Progress of a push or pull from one engine JSON message.
Progress ToProgress(const JsonMessage& m);
// InvalidArgument naming `field` unless `v` matches [a-zA-Z0-9_.-]*.
absl::Status ValidateSimpleName(const std::string& field, const std::string& v);
// Parses a reference for push/pull: tag defaults to latest.
absl::StatusOr<ImageReference> ParseImageArg(const std::string& field, const std::string& image);

}  // namespace dkd::core::internal
