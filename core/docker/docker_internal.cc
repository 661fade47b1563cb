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

Progress ToProgress(const JsonMessage& m) {
  Progress p;
  p.id = m.id;
  p.status = m.status;
  p.current = m.current;
  p.total = m.total;
  p.tag = m.aux_tag;
  p.digest = m.aux_digest;
  p.size = m.aux_size;
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
