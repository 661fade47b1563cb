// Where dkd is and how to authenticate to it: host addresses, TLS files and
// tokens, and the local token that loopback TCP callers may present.
//
// Functions here are thread-safe.
#pragma once

#include <grpcpp/security/credentials.h>

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace dkd::client {

// The default dkd address: $DKD_HOST, else unix:///run/dkd/dkd.sock.
std::string DefaultHost();

// Turns a DKD_HOST-style address ("unix:///path", "/path", "tcp://h:p",
// "h:p") into a gRPC target. InvalidArgument on anything else.
absl::StatusOr<std::string> GrpcTarget(absl::string_view host);

// How to reach a dkd that wants TLS or a token. Like docker's flags: any TLS
// file (or `tls`) turns TLS on; the server certificate is always verified,
// against `tls_ca` or else the system roots.
struct ConnectOptions {
  bool tls = false;
  std::string tls_ca;    // PEM file: CA that signed dkd's certificate.
  std::string tls_cert;  // PEM file: client certificate (mutual TLS).
  std::string tls_key;   // PEM file: its key.
  std::string token;     // Bearer token, sent as `authorization` metadata.
  // dkd's local token file, read when `token` is empty, TLS is off and the
  // host is a loopback TCP address (tcp://127.0.0.1, localhost, [::1]): it
  // gives such callers the unix socket's role, if they may read it.
  std::string local_token_file = kDefaultLocalTokenFile;
  bool UsesTls() const { return tls || !tls_ca.empty() || !tls_cert.empty() || !tls_key.empty(); }
  static constexpr const char* kDefaultLocalTokenFile = "/run/dkd/local-token";
};

// True when the gRPC `target` ("127.0.0.1:7575") is a loopback TCP address.
bool IsLoopbackTarget(absl::string_view target);

// The options DkdClient::Connect(host) uses, from the environment:
// DKD_TOKEN, DKD_TOKEN_FILE, DKD_TLS_CA, DKD_TLS_CERT, DKD_TLS_KEY and
// DKD_TLS=1.
ConnectOptions DefaultConnectOptions();

// What a channel to dkd is made of, resolved from a host and options.
struct Connection {
  std::string target;  // gRPC target, see GrpcTarget.
  std::shared_ptr<grpc::ChannelCredentials> credentials;
  std::string token;  // Bearer token for every call; "" for none.
  // Why no local token is sent to a loopback dkd ("" when one is, or none
  // is needed).
  std::string auth_hint;
};

// Resolves `host` and `options`: reads the TLS files and, for a loopback
// TCP host without a token, the local token when the port belongs to its
// owner. InvalidArgument naming the flag when a TLS file cannot be read or
// the host is malformed.
absl::StatusOr<Connection> ResolveConnection(absl::string_view host, const ConnectOptions& options);

}  // namespace dkd::client
