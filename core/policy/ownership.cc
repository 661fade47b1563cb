// Ownership (ownership.h): owner labels, tag reservations and the checks before
// a tag or named volume is written.
#include "core/policy/ownership.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "core/base/status_macros.h"

namespace dkd::core {

std::string OwnerOf(const nlohmann::json& labels) {
  if (!labels.is_object()) return "";
  auto it = labels.find(kOwnerLabel);
  if (it == labels.end() || !it->is_string()) return "";
  return it->get<std::string>();
}

std::string OwnerOf(const std::map<std::string, std::string>& labels) {
  auto it = labels.find(kOwnerLabel);
  return it == labels.end() ? "" : it->second;
}

TagReservations::Hold::~Hold() {
  absl::MutexLock lock(&r_->mu_);
  for (const std::string& t : tags_) {
    auto it = r_->held_.find(t);
    if (it != r_->held_.end() && --it->second.second == 0) r_->held_.erase(it);
  }
}

absl::StatusOr<std::unique_ptr<TagReservations::Hold>> TagReservations::Reserve(
    const std::vector<std::string>& tags, const std::string& identity) {
  absl::MutexLock lock(&mu_);
  for (const std::string& t : tags) {
    auto it = held_.find(t);
    if (it != held_.end() && it->second.first != identity) {
      return absl::AbortedError(absl::StrCat(
          "tag ", t, " is being written by another call right now; retry when it has finished"));
    }
  }
  for (const std::string& t : tags) {
    auto& slot = held_[t];
    slot.first = identity;
    ++slot.second;
  }
  return std::make_unique<Hold>(this, tags);
}

absl::Status CheckTagWritable(DockerEngine& engine, const std::string& field,
                              const std::string& ref, const Owner& owner, bool allow_unowned) {
  if (!owner.enforced) return absl::OkStatus();
  auto image = engine.InspectImage(ref);
  if (!image.ok()) {
    if (image.status().code() == absl::StatusCode::kNotFound) return absl::OkStatus();
    return image.status();
  }
  // The engine also resolves ids and id prefixes here; only a tag match counts.
  const bool tagged =
      std::find(image->repo_tags.begin(), image->repo_tags.end(), ref) != image->repo_tags.end();
  if (!tagged) return absl::OkStatus();
  const std::string holder = OwnerOf(image->labels);
  if (holder == owner.identity) return absl::OkStatus();
  if (holder.empty() && allow_unowned) return absl::OkStatus();
  return absl::PermissionDeniedError(absl::StrCat(
      "ownership: ", field, ": tag ", ref,
      " already names an image this identity did not build (ownership.enabled); choose another "
      "tag"));
}

absl::Status EnsureVolume(DockerEngine& engine, const std::string& field, const std::string& name,
                          const Owner& owner) {
  if (owner.identity.empty()) return absl::OkStatus();
  auto volume = engine.InspectVolume(name);
  if (!volume.ok() && volume.status().code() == absl::StatusCode::kNotFound) {
    // Creating a volume that appeared meanwhile returns the existing one, so
    // its owner is judged below either way.
    volume = engine.CreateVolume(name, {{kOwnerLabel, owner.identity}});
  }
  if (!volume.ok()) return volume.status();
  if (!owner.enforced) return absl::OkStatus();
  if (OwnerOf(volume->labels) == owner.identity) return absl::OkStatus();
  return absl::PermissionDeniedError(
      absl::StrCat("ownership: ", field, ": volume \"", name,
                   "\" belongs to another identity (ownership.enabled); choose another name"));
}

}  // namespace dkd::core
