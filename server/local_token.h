// The local token: the credential that lets loopback TCP callers have what
// the unix socket would give them, and nothing more.
//
// Plain TCP on 127.0.0.1 cannot tell one local user from another, so an
// anonymous loopback caller gets no role. Instead dkd keeps a random token in
// a file (auth.local_token_file, by default next to the unix socket) that
// only root and the socket's group can read: mode 0640, owner dkd's user,
// group listen.unix_socket_group. Whoever can read it could also connect to
// the socket, so presenting it as a bearer token gives the socket's role
// (listen.unix_socket_role), and a user outside the group gets nothing.
// dkctl reads the file by itself when it talks to a loopback address.
//
// Functions are stateless and thread-compatible; they touch only the file.
#pragma once

#include <sys/types.h>

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace dkd::server {

// The gid for listen.unix_socket_group (`group`: a name or a number); dkd's
// own effective gid when `group` is empty. InvalidArgument naming the key
// when no such group exists.
absl::StatusOr<gid_t> ResolveSocketGroup(const std::string& group);

// Gives the unix socket at `path` to group `group` (see ResolveSocketGroup).
absl::Status SetSocketGroup(const std::string& path, const std::string& group);

// Returns the token kept in `path`, creating the file (and its directory)
// with a fresh random token when it is missing. The file ends up mode 0640,
// owned by dkd's effective uid and by `gid`. A file that is not a regular
// file (a symlink included), is owned by another user, or holds no valid
// token is refused with FailedPrecondition naming auth.local_token_file,
// since someone else may know its content. A valid file that others could
// read or write is replaced by a new token, as the old one may have leaked.
absl::StatusOr<std::string> LoadOrCreateLocalToken(const std::string& path, gid_t gid);

// The default auth.local_token_file: "local-token" next to the unix socket,
// else /run/dkd/local-token.
std::string DefaultLocalTokenFile(absl::string_view unix_socket);

}  // namespace dkd::server
