// Listener addresses for dkd's gRPC server and the rule on plain TCP.
//
// A unix socket is given as "unix:///path" or an absolute path; TCP as
// "host:port" or "tcp://host:port". Plain (non-TLS) TCP is allowed only on
// loopback addresses: anything else is refused before the server starts.
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace dkd::server {

struct ListenAddress {
  bool is_unix = false;
  std::string path;  // Unix socket path.
  std::string host;  // TCP host without brackets.
  int port = 0;      // 0 = pick a free port.
  // The address in the form gRPC's AddListeningPort expects.
  std::string GrpcUri() const;
};

// Parses a listener address. InvalidArgument naming the flag on bad syntax.
absl::StatusOr<ListenAddress> ParseListenAddress(absl::string_view flag, absl::string_view value);

// True for 127.0.0.0/8, ::1 and "localhost".
bool IsLoopbackHost(absl::string_view host);

// FailedPrecondition when `address` is TCP on a non-loopback host and TLS is off.
absl::Status CheckPlainTcpAllowed(const ListenAddress& address, bool tls_enabled);

// The start-up rule for a TCP listener: loopback may be plain; any other
// address needs TLS and a way to authenticate clients (a client CA or bearer
// tokens), unless `insecure` (listen.insecure_tcp) is set. FailedPrecondition
// explaining what is missing otherwise.
absl::Status CheckTcpListenerAllowed(const ListenAddress& address, bool tls_enabled,
                                     bool client_auth_configured, bool insecure);

}  // namespace dkd::server
