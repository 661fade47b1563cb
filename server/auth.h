// Authentication and the per-RPC role table.
//
// Who is calling is decided per call, from what the transport proved and
// what the call carries:
//   - a bearer token in the `authorization` metadata ("Bearer TOKEN"), on any
//     listener: its SHA-256 is compared in constant time with every
//     configured hash; a wrong or malformed token is UNAUTHENTICATED;
//     the local token (local_token.h) instead gives identity "unix" and
//     listen.unix_socket_role, and only from loopback or the unix socket;
//   - else a client certificate verified by the TLS handshake against
//     tls.client_ca: the identity is its subject CN when it has one, else its
//     first SAN, and the role is looked up for that one name only (a SAN
//     never lends its role to a certificate with a CN);
//   - else the unix socket: identity "unix", role listen.unix_socket_role;
//   - else plain TCP: identity "anonymous", role auth.anonymous_role (none
//     unless the operator opts in), and UNAUTHENTICATED, saying how to
//     authenticate, when that role is none. TLS connections always need a
//     certificate or a token.
// Identities map to roles through auth.roles; an identity with no entry has
// role none. Stateless functions over a settings snapshot; thread-safe.
#pragma once

#include <grpcpp/server_context.h>

#include <map>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "server/config.h"

namespace dkd::server {

struct MethodRule {
  Role role = Role::kAdmin;
  bool mutating = false;      // Audited.
  bool stream = false;        // Counted against limits.max_streams_per_identity.
  bool owner_scoped = false;  // Under ownership, the build role may call it on its own containers.
};

// Full method name ("/dkd.v1.DockerManager/RunContainer") -> rule, for every
// RPC of DockerManager, BuildGenerator and ImageOptimizer.
const std::map<std::string, MethodRule>& MethodRules();

// The rule for `full_method`; nullptr when unknown (callers deny).
const MethodRule* FindMethodRule(absl::string_view full_method);

// The role `rule` needs; with ownership on, owner-scoped RPCs need only build.
Role RequiredRole(const MethodRule& rule, bool ownership);

// "RunContainer" from "/dkd.v1.DockerManager/RunContainer".
std::string ShortMethodName(absl::string_view full_method);

struct Caller {
  std::string identity;
  Role role = Role::kNone;
  std::string method;  // "token", "local-token", "mtls", "unix" or "anonymous".
  std::string peer;
};

// Identifies the caller of `context` (see above). UNAUTHENTICATED, without
// echoing any credential, when the credentials are wrong or missing.
absl::StatusOr<Caller> Authenticate(const grpc::ServerContextBase& context,
                                    const AuthSettings& auth);

// The identity a verified client certificate stands for: its subject CN,
// else its first SAN. UNAUTHENTICATED when it names neither.
absl::StatusOr<std::string> CertificateIdentity(const grpc::AuthContext& auth_context);

// The identity of unix-socket callers and local-token holders.
inline constexpr char kUnixIdentity[] = "unix";

// Constant-time check of `token` against the local token's hash.
bool MatchesLocalToken(absl::string_view token, const AuthSettings& auth);

// True for gRPC peer strings of loopback addresses ("ipv4:127.0.0.1:5000",
// "ipv6:[::1]:5000", "ipv6:[::ffff:127.0.0.1]:5000").
bool IsLoopbackPeer(absl::string_view peer);

// Constant-time check of `token` against the configured hashes; the identity
// on a match. Every entry is compared, so timing does not reveal which failed.
absl::StatusOr<std::string> MatchToken(absl::string_view token, const AuthSettings& auth);

}  // namespace dkd::server
