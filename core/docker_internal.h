// Helpers the DockerManager's source files share; not part of its API.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "nlohmann/json.hpp"

namespace dkd::core::internal {

// Container ids and names as path components: the engine accepts ids, id
// prefixes and names; anything else is InvalidArgument naming `field` before
// it reaches a URL.
absl::Status ValidateContainerRef(const std::string& field, const std::string& id);
// "/containers/<id><suffix>", the id percent-encoded and without a leading "/".
std::string ContainerPath(const std::string& id, absl::string_view suffix = "");
// The engine's `filters` query value; keys without values are left out.
nlohmann::json FiltersJson(const std::map<std::string, std::vector<std::string>>& f);
// The string members of a JSON object.
std::map<std::string, std::string> StringMap(const nlohmann::json& j);

}  // namespace dkd::core::internal
