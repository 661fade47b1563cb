// Where the Docker Engine listens, parsed from a DOCKER_HOST-style string.
//
// Accepted forms: "unix:///path/to.sock", "/path/to.sock" (shorthand),
// "tcp://host:port", "tcp://[v6addr]:port". TLS for tcp:// follows the docker
// CLI's DOCKER_TLS_VERIFY / DOCKER_CERT_PATH convention (ca.pem, cert.pem,
// key.pem in one directory). Plain values; thread-compatible.
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace dkd::core {

struct EngineAddress {
  enum class Scheme { kUnix, kTcp };
  Scheme scheme = Scheme::kUnix;
  // kUnix: the socket path.
  std::string socket_path;
  // kTcp: host (without brackets) and port.
  std::string host;
  int port = 0;
  // kTcp only: speak TLS, with client certificates from cert_dir when set.
  bool tls = false;
  bool tls_verify = false;
  std::string cert_dir;

  // The address as DOCKER_HOST would spell it, for logs and messages.
  std::string ToString() const;
};

// Parses `docker_host`. Returns InvalidArgument naming the rule on a bad
// scheme, a missing path/port, or a port outside 1-65535.
absl::StatusOr<EngineAddress> ParseEngineAddress(absl::string_view docker_host);

// The default engine address: $DOCKER_HOST if set, else the standard socket.
// TLS settings come from $DOCKER_TLS_VERIFY and $DOCKER_CERT_PATH.
std::string DefaultEngineHost();

// Applies $DOCKER_TLS_VERIFY / $DOCKER_CERT_PATH to a tcp:// address.
void ApplyTlsEnvironment(EngineAddress& address);

}  // namespace dkd::core
