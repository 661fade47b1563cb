// Bind-mount nesting (bind_nesting.h): the binds of existing containers, and the
// check of a new container's binds against them.
#include "core/policy/bind_nesting.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "core/engine/engine_json.h"
#include "core/policy/ownership.h"

namespace dkd::core {
namespace {

std::string ContainerLabel(const ContainerSummary& c) {
  if (!c.name.empty()) return c.name;
  return c.id.substr(0, 12);
}

absl::Status Refuse(const HostBind& inner, const HostBind& outer) {
  return absl::PermissionDeniedError(absl::StrCat(
      "policy: ", inner.field.empty() ? "bind mount" : inner.field, ": bind source \"",
      inner.source, "\" lies inside \"", outer.source, "\", which ", outer.owner,
      " can write through a bind mount; a container could replace a directory on the path with "
      "a symbolic link and redirect this mount at its next start. Mount a directory that no "
      "container can write through another bind (or mount the parent read-only)"));
}

}  // namespace

bool StrictlyInside(const std::string& path, const std::string& dir) {
  if (path.size() <= dir.size() || !absl::StartsWith(path, dir)) return false;
  return dir == "/" || path[dir.size()] == '/';
}

std::vector<HostBind> BindsFromContainerList(const nlohmann::json& containers) {
  return BindsFromContainers(DecodeContainerList(containers));
}

std::vector<HostBind> BindsFromContainers(const std::vector<ContainerSummary>& containers) {
  std::vector<HostBind> out;
  for (const ContainerSummary& c : containers) {
    for (const ContainerMount& m : c.mounts) {
      if (m.type != "bind" && m.type != "volume") continue;
      HostBind b;
      b.source = m.source;
      if (b.source.empty() || b.source[0] != '/') continue;
      while (b.source.size() > 1 && b.source.back() == '/') b.source.pop_back();
      b.writable = m.rw.value_or(false);
      b.owner = absl::StrCat("container ", ContainerLabel(c));
      b.owner_identity = OwnerOf(c.labels);
      out.push_back(std::move(b));
    }
  }
  return out;
}

absl::Status CheckBindNesting(const std::vector<HostBind>& proposed,
                              const std::vector<HostBind>& existing, const Owner& owner) {
  std::vector<HostBind> seen = existing;
  for (HostBind& e : seen) {
    if (owner.enforced && e.owner_identity != owner.identity) e.owner = "another container";
  }
  for (const HostBind& p : proposed) {
    for (const HostBind& q : proposed) {
      if (q.writable && StrictlyInside(p.source, q.source)) return Refuse(p, q);
    }
    for (const HostBind& e : seen) {
      if (e.writable && StrictlyInside(p.source, e.source)) return Refuse(p, e);
    }
  }
  for (const HostBind& p : proposed) {
    if (!p.writable) continue;
    for (const HostBind& e : seen) {
      if (StrictlyInside(e.source, p.source)) {
        return absl::PermissionDeniedError(absl::StrCat(
            "policy: ", p.field, ": writable bind source \"", p.source, "\" contains \"", e.source,
            "\", which ", e.owner,
            " mounts; this container could replace a directory on that path with a symbolic link "
            "and redirect the other container's mount at its next start. Mount it read-only, or "
            "a directory that does not contain another container's bind source"));
      }
    }
  }
  return absl::OkStatus();
}

}  // namespace dkd::core
