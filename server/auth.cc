#include "server/auth.h"

#include <openssl/crypto.h>
#include <openssl/sha.h>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"

namespace dkd::server {
namespace {

constexpr const char kDm[] = "/dkd.v1.DockerManager/";
constexpr const char kBg[] = "/dkd.v1.BuildGenerator/";
constexpr const char kIo[] = "/dkd.v1.ImageOptimizer/";

absl::Status Unauthenticated(absl::string_view why) {
  return absl::UnauthenticatedError(absl::StrCat("authentication failed: ", why));
}

Role RoleOf(const AuthSettings& auth, const std::string& identity) {
  auto it = auth.roles.find(identity);
  return it == auth.roles.end() ? Role::kNone : it->second;
}

}  // namespace

const std::map<std::string, MethodRule>& MethodRules() {
  static const auto* kRules = [] {
    auto* m = new std::map<std::string, MethodRule>();
    const MethodRule read{Role::kRead, false, false, false};
    const MethodRule read_stream{Role::kRead, false, true, false};
    for (const char* rpc : {"Ping", "GetEngineInfo", "ListContainers", "InspectContainer",
                            "WaitContainer", "ListImages", "InspectImage"}) {
      (*m)[absl::StrCat(kDm, rpc)] = read;
    }
    (*m)[absl::StrCat(kDm, "ContainerLogs")] = read_stream;
    (*m)[absl::StrCat(kDm, "StreamEvents")] = read_stream;
    for (const char* rpc : {"BuildImage", "PushImage", "PullImage"}) {
      (*m)[absl::StrCat(kDm, rpc)] = MethodRule{Role::kBuild, true, true, false};
    }
    for (const char* rpc : {"RunContainer", "StopContainer", "RemoveContainer"}) {
      (*m)[absl::StrCat(kDm, rpc)] = MethodRule{Role::kAdmin, true, false, true};
    }
    (*m)[absl::StrCat(kDm, "RemoveImage")] = MethodRule{Role::kAdmin, true, false, false};
    for (const char* rpc : {"CreateMultiStageBuild", "GenerateDockerfile", "GenerateBuildScript",
                            "LintDockerfile", "OptimizeDockerfile"}) {
      (*m)[absl::StrCat(kBg, rpc)] = read;
    }
    for (const char* rpc : {"AnalyzeImage", "OptimizeImage", "SuggestOptimizations",
                            "CompareImages", "GetOptimizationReport"}) {
      (*m)[absl::StrCat(kIo, rpc)] = read;
    }
    return m;
  }();
  return *kRules;
}

const MethodRule* FindMethodRule(absl::string_view full_method) {
  auto it = MethodRules().find(std::string(full_method));
  return it == MethodRules().end() ? nullptr : &it->second;
}

Role RequiredRole(const MethodRule& rule, bool ownership) {
  if (ownership && rule.owner_scoped) return Role::kBuild;
  return rule.role;
}

std::string ShortMethodName(absl::string_view full_method) {
  const size_t slash = full_method.rfind('/');
  return std::string(slash == absl::string_view::npos ? full_method
                                                      : full_method.substr(slash + 1));
}

absl::StatusOr<std::string> MatchToken(absl::string_view token, const AuthSettings& auth) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(token.data()), token.size(), digest);
  const TokenEntry* match = nullptr;
  for (const TokenEntry& t : auth.tokens) {
    if (CRYPTO_memcmp(digest, t.sha256.data(), sizeof(digest)) == 0 && match == nullptr) {
      match = &t;
    }
  }
  OPENSSL_cleanse(digest, sizeof(digest));
  if (match == nullptr) return Unauthenticated("the bearer token is not valid");
  return match->identity;
}

absl::StatusOr<Caller> Authenticate(const grpc::ServerContextBase& context,
                                    const AuthSettings& auth) {
  Caller caller;
  caller.peer = context.peer();
  const bool via_unix = absl::StartsWith(caller.peer, "unix:");
  std::shared_ptr<const grpc::AuthContext> auth_context = context.auth_context();
  bool tls = false;
  if (auth_context != nullptr) {
    for (const auto& v : auth_context->FindPropertyValues("transport_security_type")) {
      tls = tls || v == "ssl";
    }
  }

  const auto& md = context.client_metadata();
  auto header = md.find("authorization");
  if (header != md.end()) {
    absl::string_view value(header->second.data(), header->second.size());
    if (value.size() < 7 || !absl::EqualsIgnoreCase(value.substr(0, 7), "bearer ")) {
      return Unauthenticated("the authorization metadata must be \"Bearer TOKEN\"");
    }
    const absl::string_view token = absl::StripAsciiWhitespace(value.substr(7));
    if (MatchesLocalToken(token, auth)) {
      // Only a caller on this host can have read the file; elsewhere it is
      // refused even when it matches.
      if (!via_unix && !IsLoopbackPeer(caller.peer)) {
        return Unauthenticated(
            "the local token is accepted only from loopback and the unix socket");
      }
      caller.identity = kUnixIdentity;
      caller.role = auth.unix_socket_role;
      caller.method = "local-token";
      return caller;
    }
    auto identity = MatchToken(token, auth);
    if (!identity.ok()) return identity.status();
    caller.identity = *identity;
    caller.role = RoleOf(auth, caller.identity);
    caller.method = "token";
    return caller;
  }
  if (tls && auth_context != nullptr && auth_context->IsPeerAuthenticated()) {
    auto identity = CertificateIdentity(*auth_context);
    if (!identity.ok()) return identity.status();
    caller.identity = *identity;
    caller.role = RoleOf(auth, caller.identity);
    caller.method = "mtls";
    return caller;
  }
  if (via_unix) {
    caller.identity = kUnixIdentity;
    caller.role = auth.unix_socket_role;
    caller.method = "unix";
    return caller;
  }
  if (!tls && auth.anonymous_role != Role::kNone) {
    caller.identity = "anonymous";
    caller.role = auth.anonymous_role;
    caller.method = "anonymous";
    return caller;
  }
  if (!tls && auth.has_local_token) {
    return Unauthenticated(absl::StrCat(
        "credentials required: anonymous TCP callers have no role (auth.anonymous_role is none). "
        "On this host, send the local token in ",
        auth.local_token_file,
        " (readable by root and the unix socket's group) as \"authorization: Bearer TOKEN\" "
        "(dkctl does so by itself for loopback addresses), or use the unix socket, a configured "
        "token or a client certificate"));
  }
  return Unauthenticated(
      "credentials required: a client certificate, or a bearer token in the authorization "
      "metadata");
}

absl::StatusOr<std::string> CertificateIdentity(const grpc::AuthContext& auth_context) {
  for (const auto& v : auth_context.FindPropertyValues("x509_common_name")) {
    if (!v.empty()) return std::string(v.data(), v.size());
  }
  for (const auto& v : auth_context.FindPropertyValues("x509_subject_alternative_name")) {
    if (!v.empty()) return std::string(v.data(), v.size());
  }
  return Unauthenticated("the client certificate names no CN or SAN");
}

bool MatchesLocalToken(absl::string_view token, const AuthSettings& auth) {
  if (!auth.has_local_token) return false;
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(token.data()), token.size(), digest);
  const bool match = CRYPTO_memcmp(digest, auth.local_token_sha256.data(), sizeof(digest)) == 0;
  OPENSSL_cleanse(digest, sizeof(digest));
  return match;
}

bool IsLoopbackPeer(absl::string_view peer) {
  if (absl::ConsumePrefix(&peer, "ipv4:")) return absl::StartsWith(peer, "127.");
  if (absl::ConsumePrefix(&peer, "ipv6:")) {
    return absl::StartsWith(peer, "[::1]:") || absl::StartsWith(peer, "[::ffff:127.");
  }
  return false;
}

}  // namespace dkd::server
