// Bind-mount nesting (bind_nesting.h): the binds of existing containers, and the
// check of a new container's binds against them.
#include "core/policy/bind_nesting.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "core/policy/ownership.h"

namespace dkd::core {
namespace {

std::string ContainerLabel(const nlohmann::json& c) {
  if (auto names = c.find("Names");
      names != c.end() && names->is_array() && !names->empty() && (*names)[0].is_string()) {
    std::string n = (*names)[0].get<std::string>();
    if (absl::StartsWith(n, "/")) n = n.substr(1);
    if (!n.empty()) return n;
  }
  return c.value("Id", "").substr(0, 12);
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
  std::vector<HostBind> out;
  if (!containers.is_array()) return out;
  for (const auto& c : containers) {
    if (!c.is_object()) continue;
    auto mounts = c.find("Mounts");
    if (mounts == c.end() || !mounts->is_array()) continue;
    for (const auto& m : *mounts) {
      if (!m.is_object()) continue;
      const std::string type = m.value("Type", "");
      if (type != "bind" && type != "volume") continue;
      HostBind b;
      b.source = m.value("Source", "");
      if (b.source.empty() || b.source[0] != '/') continue;
      while (b.source.size() > 1 && b.source.back() == '/') b.source.pop_back();
      b.writable = m.value("RW", false);
      b.owner = absl::StrCat("container ", ContainerLabel(c));
      if (auto labels = c.find("Labels"); labels != c.end()) b.owner_identity = OwnerOf(*labels);
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
