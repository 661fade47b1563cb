// Decoders from the Docker Engine's JSON answers to the typed values of
// core/engine/engine_types.h: the one place engine JSON is read.
//
// Every decoder tolerates missing and mistyped members (they read as empty,
// as the engine's own clients do) and fails only when the answer's shape is
// wrong (Internal, naming what was expected). Pure functions; thread-safe.
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "core/engine/engine_types.h"
#include "nlohmann/json.hpp"

namespace dkd::core {

// The engine's `filters` query value; keys without values are left out.
std::string EncodeFilters(const EngineFilters& filters);

absl::StatusOr<EngineInfo> DecodeEngineInfo(const nlohmann::json& j);
// GET /containers/json. Without `mounts` the parse skips HostConfig, Mounts
// and per-network endpoint details, about a third of the work.
absl::StatusOr<std::vector<ContainerSummary>> DecodeContainerList(absl::string_view body,
                                                                  bool mounts);
std::vector<ContainerSummary> DecodeContainerList(const nlohmann::json& j);
absl::StatusOr<ContainerDetails> DecodeContainerDetails(const nlohmann::json& j);
CreatedContainer DecodeCreatedContainer(const nlohmann::json& j);
absl::StatusOr<WaitResult> DecodeWaitResult(absl::string_view body);
std::vector<ImageSummary> DecodeImageList(const nlohmann::json& j);
absl::StatusOr<ImageDetails> DecodeImageDetails(const nlohmann::json& j);
std::vector<ImageHistoryEntry> DecodeImageHistory(const nlohmann::json& j);
RemoveImageResult DecodeRemoveImage(const nlohmann::json& j);
NetworkDetails DecodeNetwork(const nlohmann::json& j);
VolumeDetails DecodeVolume(const nlohmann::json& j);
// One line of GET /events.
absl::StatusOr<EngineEvent> DecodeEvent(absl::string_view line);

// The string members of a JSON object.
std::map<std::string, std::string> StringMembers(const nlohmann::json& j);

}  // namespace dkd::core
