// Helpers the DockerManager's source files share.
#include "core/docker/docker_internal.h"

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "core/base/status_macros.h"
#include "core/base/validation.h"
#include "core/engine/engine_client.h"

namespace dkd::core::internal {

absl::Status ValidateContainerRef(const std::string& field, const std::string& id) {
  if (id.empty()) return absl::InvalidArgumentError(absl::StrCat(field, ": required"));
  if (id.size() > 256) return absl::InvalidArgumentError(absl::StrCat(field, ": too long"));
  for (char c : id) {
    const bool ok = absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' ||
                    c == '-' || c == '/';
    if (!ok) {
      return absl::InvalidArgumentError(
          absl::StrCat(field, ": must be a container id or name ([a-zA-Z0-9_.-])"));
    }
  }
  return absl::OkStatus();
}

std::string ContainerPath(const std::string& id, absl::string_view suffix) {
  std::string name = id;
  if (absl::StartsWith(name, "/")) name = name.substr(1);
  return absl::StrCat("/containers/", UrlEncode(name), suffix);
}

nlohmann::json FiltersJson(const std::map<std::string, std::vector<std::string>>& f) {
  nlohmann::json j = nlohmann::json::object();
  for (const auto& [k, vs] : f) {
    if (!vs.empty()) j[k] = vs;
  }
  return j;
}

std::map<std::string, std::string> StringMap(const nlohmann::json& j) {
  std::map<std::string, std::string> out;
  if (!j.is_object()) return out;
  for (auto it = j.begin(); it != j.end(); ++it) {
    if (it.value().is_string()) out[it.key()] = it.value().get<std::string>();
  }
  return out;
}

Progress ToProgress(const JsonMessage& m) {
  Progress p;
  p.id = m.id;
  p.status = m.status;
  p.current = m.current;
  p.total = m.total;
  if (m.aux.is_object()) {
    p.tag = m.aux.value("Tag", "");
    p.digest = m.aux.value("Digest", "");
    p.size = m.aux.value("Size", int64_t{0});
  }
  // Pulls report the digest only in a status line.
  if (p.digest.empty() && absl::StartsWith(m.status, "Digest: ")) p.digest = m.status.substr(8);
  return p;
}

absl::Status ValidateSimpleName(const std::string& field, const std::string& v) {
  for (char c : v) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '.' && c != '-') {
      return absl::InvalidArgumentError(absl::StrCat(field, ": must match [a-zA-Z0-9_.-]+"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<ImageReference> ParseImageArg(const std::string& field, const std::string& image) {
  ASSIGN_OR_RETURN(ImageReference ref, ParseImageField(field, image));
  return ref.WithDefaultTag();
}

}  // namespace dkd::core::internal
