// Ownership of what callers create or overwrite on the engine: containers,
// image tags and named volumes.
//
// With ownership on, everything dkd creates for an identity carries the
// label `dkd.owner=<identity>` (containers and volumes at create, images
// through the build's labels, which the engine applies last so a Dockerfile
// LABEL cannot claim another identity). An enforced Owner -- ownership on and
// the caller not an admin -- may only write what it owns:
//   - an image tag that does not exist yet or whose image it built; a tag
//     held by another identity's image or by an image dkd did not build (a
//     shared base, say) is refused, so no caller can swap what another runs
//     or builds FROM. Pulls may also refresh a tag that nobody owns, since
//     the registry is the source of truth for those;
//   - a named volume that does not exist yet (dkd creates it, labelled) or
//     that it owns.
// Tags being written by a build or pull are reserved in dkd for the length of
// the call, so two identities cannot both pass the check and race to write
// the same tag. Refusals name the resource the caller gave, never another
// owner's ids. Thread-safe.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "core/engine/docker_engine.h"
#include "nlohmann/json.hpp"

namespace dkd::core {

inline constexpr char kOwnerLabel[] = "dkd.owner";

struct Owner {
  std::string identity;   // "" = ownership off: nothing is labelled or checked.
  bool enforced = false;  // The caller may only write what it owns.
};

// The dkd.owner label of an engine object's labels (inspect's Config.Labels
// or a volume's Labels), or "" when absent.
std::string OwnerOf(const nlohmann::json& labels);
std::string OwnerOf(const std::map<std::string, std::string>& labels);

// Tags being written, and by whom.
class TagReservations {
 public:
  // Released when destroyed.
  class Hold {
   public:
    Hold(TagReservations* r, std::vector<std::string> tags) : r_(r), tags_(std::move(tags)) {}
    ~Hold();
    Hold(const Hold&) = delete;
    Hold& operator=(const Hold&) = delete;

   private:
    TagReservations* r_;
    std::vector<std::string> tags_;
  };

  // Reserves `tags` (normalised references) for `identity`. Aborted naming
  // the tag when another identity is writing it now; a client may retry.
  absl::StatusOr<std::unique_ptr<Hold>> Reserve(const std::vector<std::string>& tags,
                                                const std::string& identity);

 private:
  absl::Mutex mu_;
  std::map<std::string, std::pair<std::string, int>> held_ ABSL_GUARDED_BY(mu_);
};

// OK when `owner` may make `ref` (a tag) point at a new image. `field` names
// the request field for the message. With `allow_unowned`, a tag held by an
// image without an owner label is writable too (pulls).
absl::Status CheckTagWritable(DockerEngine& engine, const std::string& field,
                              const std::string& ref, const Owner& owner, bool allow_unowned);

// Makes sure the named volume `name` exists and may be used by `owner`:
// creates it labelled when absent; PermissionDenied when it belongs to
// someone else (or to nobody) and `owner` is enforced.
absl::Status EnsureVolume(DockerEngine& engine, const std::string& field, const std::string& name,
                          const Owner& owner);

}  // namespace dkd::core
