// Host-path policy: which daemon-host paths a client may name.
//
// Two callers need it. A build may name a context directory on the daemon's
// host instead of uploading one; it must lie under a configured root. A run
// may bind-mount host paths; they must lie under configured roots and must
// never expose the engine socket, since that socket is root on the host.
//
// Paths are checked after resolving every symbolic link (realpath), and roots
// are resolved the same way, so a link inside a root that points outside is
// refused. "Under" is component-wise: "/srv/ctx-evil" is not under "/srv/ctx".
// A requested path with a ".." component is refused before any resolution.
// A path that does not exist yet is judged by its longest existing prefix
// (resolved) plus the remaining components; a dangling symbolic link on the
// way is refused, because the engine would create its target.
//
// These checks read the filesystem at call time. Callers should hand the
// engine the returned resolved path, not the requested one; a local user who
// can write under an allowed root can still race the check, so roots should
// not be writable by untrusted users.
//
// All functions are thread-safe (they keep no state and use realpath(3)).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace dkd::core {

// The configuration key that lists the allowed daemon-local context roots.
inline constexpr std::string_view kContextRootsConfigKey = "build.context_roots";

// Returns the resolved absolute path of the directory `requested` names.
// InvalidArgument: empty, relative, a ".." component or control characters.
// PermissionDenied: no roots configured (daemon-local contexts disabled), the
// resolved path is outside every root, or it passes a dangling symlink.
// NotFound: it does not exist (only reported for paths under a root).
// FailedPrecondition: it is not a directory, or no configured root exists.
absl::StatusOr<std::string> ResolveContextDirectory(std::string_view requested,
                                                    const std::vector<std::string>& allowed_roots);

// Returns the resolved path to bind-mount for `host_path`, or an error:
// InvalidArgument as above; PermissionDenied when the resolved source is, lies
// inside, or is a parent directory of any `forbidden_paths` entry (compared
// both as written and resolved, and by inode when both exist), whatever the
// roots say; when it passes a dangling symlink; when no roots are configured;
// or when it is outside every allowed root. Callers list the engine socket
// (and its well-known aliases) in `forbidden_paths`.
absl::StatusOr<std::string> ResolveBindMountSource(std::string_view host_path,
                                                   const std::vector<std::string>& allowed_roots,
                                                   const std::vector<std::string>& forbidden_paths);

// ResolveBindMountSource without the resolved path.
absl::Status CheckBindMountSource(std::string_view host_path,
                                  const std::vector<std::string>& allowed_roots,
                                  const std::vector<std::string>& forbidden_paths);

}  // namespace dkd::core
