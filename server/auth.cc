// Authentication and roles (auth.h): the per-RPC role table, token matching,
// client-certificate identities and the local-token check on loopback.
#include "server/auth.h"

#include <arpa/inet.h>
#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/pem.h>
#include <openssl/sha.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

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
  // Read from the verified certificate itself rather than gRPC's summary
  // properties, which take the first of several CNs and any kind of SAN.
  const auto pems = auth_context.FindPropertyValues("x509_pem_cert");
  if (pems.empty()) return Unauthenticated("the client certificate could not be read");
  const std::string pem(pems[0].data(), pems[0].size());
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(
      BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())), &BIO_free);
  std::unique_ptr<X509, decltype(&X509_free)> cert(
      bio ? PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr) : nullptr, &X509_free);
  if (cert == nullptr) return Unauthenticated("the client certificate could not be read");
  auto utf8 = [](const ASN1_STRING* value) -> std::string {
    unsigned char* out = nullptr;
    const int n = ASN1_STRING_to_UTF8(&out, value);
    if (n < 0) return "";
    std::string text(reinterpret_cast<char*>(out), static_cast<size_t>(n));
    OPENSSL_free(out);
    return text;
  };
  X509_NAME* subject = X509_get_subject_name(cert.get());
  std::vector<std::string> cns;
  for (int i = X509_NAME_get_index_by_NID(subject, NID_commonName, -1); i >= 0;
       i = X509_NAME_get_index_by_NID(subject, NID_commonName, i)) {
    cns.push_back(utf8(X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, i))));
  }
  if (cns.size() > 1) {
    return Unauthenticated(absl::StrCat("the client certificate's subject has ", cns.size(),
                                        " CNs; dkd takes exactly one identity per certificate"));
  }
  if (cns.size() == 1) {
    if (cns[0].empty()) return Unauthenticated("the client certificate's CN is empty");
    return cns[0];
  }
  // No CN: the first SAN. A DNS name stands for itself; other kinds are
  // qualified ("uri:…", "email:…", "ip:…"), so a URI or e-mail SAN can never
  // pass for the identity of the same text as a DNS name or CN.
  std::unique_ptr<GENERAL_NAMES, void (*)(GENERAL_NAMES*)> sans(
      static_cast<GENERAL_NAMES*>(
          X509_get_ext_d2i(cert.get(), NID_subject_alt_name, nullptr, nullptr)),
      [](GENERAL_NAMES* g) { GENERAL_NAMES_free(g); });
  if (sans == nullptr || sk_GENERAL_NAME_num(sans.get()) == 0) {
    return Unauthenticated("the client certificate names no CN or SAN");
  }
  const GENERAL_NAME* first = sk_GENERAL_NAME_value(sans.get(), 0);
  std::string identity;
  switch (first->type) {
    case GEN_DNS:
      identity = utf8(first->d.dNSName);
      break;
    case GEN_URI:
      identity = absl::StrCat("uri:", utf8(first->d.uniformResourceIdentifier));
      break;
    case GEN_EMAIL:
      identity = absl::StrCat("email:", utf8(first->d.rfc822Name));
      break;
    case GEN_IPADD: {
      const ASN1_OCTET_STRING* ip = first->d.iPAddress;
      char text[INET6_ADDRSTRLEN] = {0};
      const int family = ASN1_STRING_length(ip) == 4 ? AF_INET : AF_INET6;
      if ((ASN1_STRING_length(ip) == 4 || ASN1_STRING_length(ip) == 16) &&
          inet_ntop(family, ASN1_STRING_get0_data(ip), text, sizeof text) != nullptr) {
        identity = absl::StrCat("ip:", text);
      }
      break;
    }
    default:
      break;
  }
  if (identity.empty() || absl::EndsWith(identity, ":")) {
    return Unauthenticated(
        "the client certificate has no CN, and its first SAN is not a DNS name, URI, e-mail "
        "address or IP address");
  }
  return identity;
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
