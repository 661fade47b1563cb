// Host-path policy (context_path.h): resolving context directories and bind
// sources under the configured roots, and the engine socket never exposed.
#include "core/context/context_path.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <algorithm>
#include <string>
#include <string_view>
#include <vector>

#include "absl/strings/str_cat.h"
#include "core/base/status_macros.h"
#include "core/base/strings.h"
#include "core/base/validation.h"

namespace dkd::core {
namespace {

// Paths are quoted whole: the message names exactly what was refused.
std::string QuotePath(std::string_view s) { return Quote(s, std::string_view::npos); }

// CleanAbsolutePath, for an empty path too, with the path quoted whole.
absl::StatusOr<std::string> CleanAbsolute(std::string_view what, std::string_view path) {
  if (path.empty()) return absl::InvalidArgumentError(absl::StrCat(Sv(what), " must not be empty"));
  return CleanAbsolutePath(what, path, std::string_view::npos);
}

// True if `path` is `root` or lies beneath it, comparing whole components.
bool IsWithin(std::string_view path, std::string_view root) {
  if (root == "/") return true;
  return path.substr(0, root.size()) == root &&
         (path.size() == root.size() || path[root.size()] == '/');
}

struct ResolvedPath {
  std::string path;  // symlinks resolved in the existing prefix
  bool exists = false;
};

// Resolves the longest existing prefix of the clean absolute `path` and
// appends the components that do not exist yet. PermissionDenied if the first
// missing component is a dangling symlink; FailedPrecondition on other
// resolution errors (a symlink loop, a permission error).
absl::StatusOr<ResolvedPath> ResolveLongestPrefix(const std::string& path) {
  std::string prefix = path;
  std::string missing;  // "/a/b" components below `prefix`, or ""
  while (true) {
    char* real = realpath(prefix.c_str(), nullptr);
    if (real != nullptr) {
      std::string base(real);
      free(real);
      if (base == "/") base.clear();
      if (!missing.empty()) {
        std::string first = base + missing.substr(0, missing.find('/', 1));
        struct stat st;
        if (lstat(first.c_str(), &st) == 0) {
          return absl::PermissionDeniedError(absl::StrCat(
              "path ", QuotePath(path), " passes through a dangling symbolic link; refused"));
        }
      }
      ResolvedPath out{base + missing, missing.empty()};
      if (out.path.empty()) out.path = "/";
      return out;
    }
    int err = errno;
    if (err != ENOENT && err != ENOTDIR) {
      return absl::FailedPreconditionError(
          absl::StrCat("cannot resolve path ", QuotePath(path), ": ", strerror(err)));
    }
    size_t slash = prefix.rfind('/');
    missing = prefix.substr(slash) + missing;
    prefix = slash == 0 ? "/" : prefix.substr(0, slash);
  }
}

// Resolves each configured root that exists; roots that are missing or not
// absolute are skipped, since the other roots still apply.
std::vector<std::string> ResolveRoots(const std::vector<std::string>& roots) {
  std::vector<std::string> out;
  for (const std::string& root : roots) {
    if (root.empty() || root.front() != '/') continue;
    char* real = realpath(root.c_str(), nullptr);
    if (real == nullptr) continue;
    out.emplace_back(real);
    free(real);
  }
  return out;
}

bool IsUnderAny(std::string_view path, const std::vector<std::string>& roots) {
  for (const std::string& root : roots) {
    if (IsWithin(path, root)) return true;
  }
  return false;
}

// True if mounting `source` (clean, and resolved) would expose `forbidden`:
// they are the same, one contains the other, or they are the same inode.
bool Exposes(const std::string& clean, const ResolvedPath& source, const std::string& forbidden) {
  // The forbidden path as written, fully resolved, and resolved as far as it exists.
  std::vector<std::string> forms = {forbidden};
  if (char* real = realpath(forbidden.c_str(), nullptr); real != nullptr) {
    forms.emplace_back(real);
    free(real);
  }
  if (absl::StatusOr<std::string> lexical = CleanAbsolute("", forbidden); lexical.ok()) {
    if (absl::StatusOr<ResolvedPath> resolved = ResolveLongestPrefix(*lexical); resolved.ok()) {
      forms.push_back(resolved->path);
    }
    forms.push_back(*std::move(lexical));
  }
  for (const std::string& f : forms) {
    for (const std::string* s : {&clean, &source.path}) {
      if (IsWithin(f, *s) || IsWithin(*s, f)) return true;
    }
  }
  struct stat a, b;
  return source.exists && stat(source.path.c_str(), &a) == 0 && stat(forbidden.c_str(), &b) == 0 &&
         a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

}  // namespace

absl::StatusOr<std::string> ResolveContextDirectory(std::string_view requested,
                                                    const std::vector<std::string>& allowed_roots) {
  if (allowed_roots.empty()) {
    return absl::PermissionDeniedError(
        absl::StrCat("daemon-local build contexts are disabled; list allowed directories in ",
                     Sv(kContextRootsConfigKey), " in the dkd configuration to enable them"));
  }
  ASSIGN_OR_RETURN(std::string clean, CleanAbsolute("build context directory", requested));
  std::vector<std::string> roots = ResolveRoots(allowed_roots);
  if (roots.empty()) {
    return absl::FailedPreconditionError(
        absl::StrCat("none of the directories in ", Sv(kContextRootsConfigKey), " exist"));
  }
  ASSIGN_OR_RETURN(ResolvedPath resolved, ResolveLongestPrefix(clean));
  // Checked before existence, so a client cannot probe for paths outside the roots.
  if (!IsUnderAny(resolved.path, roots)) {
    return absl::PermissionDeniedError(
        absl::StrCat("build context directory ", QuotePath(requested), " is outside the roots in ",
                     Sv(kContextRootsConfigKey), " (symbolic links resolved)"));
  }
  if (!resolved.exists) {
    return absl::NotFoundError(
        absl::StrCat("build context directory ", QuotePath(requested), " does not exist"));
  }
  struct stat st;
  if (stat(resolved.path.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    return absl::FailedPreconditionError(
        absl::StrCat("build context ", QuotePath(requested), " is not a directory"));
  }
  return resolved.path;
}

absl::StatusOr<std::string> ResolveBindMountSource(
    std::string_view host_path, const std::vector<std::string>& allowed_roots,
    const std::vector<std::string>& forbidden_paths) {
  ASSIGN_OR_RETURN(std::string clean, CleanAbsolute("bind mount source", host_path));
  ASSIGN_OR_RETURN(ResolvedPath resolved, ResolveLongestPrefix(clean));
  for (const std::string& forbidden : forbidden_paths) {
    if (forbidden.empty()) continue;
    if (Exposes(clean, resolved, forbidden)) {
      return absl::PermissionDeniedError(absl::StrCat(
          "bind mount source ", QuotePath(host_path), " is refused: it would expose ",
          QuotePath(forbidden),
          ", which may never be mounted (a source may not be, contain, or lie inside it, "
          "also through symbolic links)"));
    }
  }
  if (allowed_roots.empty()) {
    return absl::PermissionDeniedError(
        "bind mounts are disabled: no allowed host roots are configured");
  }
  if (!IsUnderAny(resolved.path, ResolveRoots(allowed_roots))) {
    return absl::PermissionDeniedError(
        absl::StrCat("bind mount source ", QuotePath(host_path),
                     " is outside the allowed host roots (symbolic links resolved)"));
  }
  return resolved.path;
}

absl::Status CheckBindMountSource(std::string_view host_path,
                                  const std::vector<std::string>& allowed_roots,
                                  const std::vector<std::string>& forbidden_paths) {
  return ResolveBindMountSource(host_path, allowed_roots, forbidden_paths).status();
}

}  // namespace dkd::core
