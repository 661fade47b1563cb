// Bind-mount nesting: the rule that keeps a bind source from being redirected
// after dkd checked it.
//
// The engine resolves a bind source path again at every container start. If a
// directory on that path can be written by some container (through a writable
// bind of that directory or of one of its parents), the container can replace
// a path component with a symbolic link, and at the next start the mount
// resolves wherever the link points -- the host's "/" included. dkd's realpath
// check at create time cannot see that future. So dkd refuses the layout
// itself: no bind source may lie strictly inside a directory that any
// container (the new one included, running or stopped, since stopped ones can
// restart) can write through a bind. Equal paths are fine: a container cannot
// replace its own mount point, only what lies below it. Paths are compared
// component-wise on the resolved sources the engine holds.
//
// The rule is checked against the engine's list of all containers while the
// caller holds a lock that also covers the create, so two concurrent runs
// cannot each pass the check and together build the forbidden layout.
// Pure functions; thread-safe.
#pragma once

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "core/engine/engine_types.h"
#include "core/policy/ownership.h"
#include "nlohmann/json.hpp"

namespace dkd::core {

struct HostBind {
  std::string source;          // Resolved absolute host path.
  bool writable = false;       // The container can write through it.
  std::string owner;           // For messages: "this container" or the container's name/id.
  std::string owner_identity;  // The container's dkd.owner label, if any.
  std::string field;           // For the new container's binds: the request field.
};

// The bind mounts of every container in the engine's GET /containers/json?all=1
// answer (its "Mounts" entries of type bind, and volumes, whose sources are
// host directories too).
std::vector<HostBind> BindsFromContainerList(const nlohmann::json& containers);
// As above for the decoded list (listed with its mounts).
std::vector<HostBind> BindsFromContainers(const std::vector<ContainerSummary>& containers);

// PermissionDenied naming the field and the container that could redirect it
// when a bind in `proposed` lies strictly inside a writable bind of `proposed`
// or `existing`, or a writable bind in `proposed` strictly contains a bind of
// `existing`. For an enforced `owner`, another owner's container is called
// "another container", never by name.
absl::Status CheckBindNesting(const std::vector<HostBind>& proposed,
                              const std::vector<HostBind>& existing, const Owner& owner = {});

// True when `path` lies strictly inside `dir` (component-wise; both absolute
// and clean).
bool StrictlyInside(const std::string& path, const std::string& dir);

}  // namespace dkd::core
