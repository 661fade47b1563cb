// Listener addresses (listen_address.h): parsing, loopback detection and the
// rule on plain TCP.
#include "server/listen_address.h"

#include <arpa/inet.h>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"

namespace dkd::server {

std::string ListenAddress::GrpcUri() const {
  if (is_unix) return absl::StrCat("unix:", path);
  const bool v6 = host.find(':') != std::string::npos;
  return absl::StrCat(v6 ? "[" : "", host, v6 ? "]" : "", ":", port);
}

absl::StatusOr<ListenAddress> ParseListenAddress(absl::string_view flag, absl::string_view value) {
  ListenAddress out;
  if (absl::ConsumePrefix(&value, "unix://") || absl::StartsWith(value, "/")) {
    if (value.empty() || value.front() != '/') {
      return absl::InvalidArgumentError(absl::StrCat(flag, ": unix socket path must be absolute"));
    }
    if (value.size() >= 108) {
      return absl::InvalidArgumentError(
          absl::StrCat(flag, ": unix socket path must be shorter than 108 bytes"));
    }
    out.is_unix = true;
    out.path = std::string(value);
    return out;
  }
  absl::ConsumePrefix(&value, "tcp://");
  absl::string_view host, port;
  if (absl::StartsWith(value, "[")) {
    const size_t close = value.find(']');
    if (close == absl::string_view::npos || close + 1 >= value.size() || value[close + 1] != ':') {
      return absl::InvalidArgumentError(absl::StrCat(flag, ": expected [v6-address]:port"));
    }
    host = value.substr(1, close - 1);
    port = value.substr(close + 2);
  } else {
    const size_t colon = value.rfind(':');
    if (colon == absl::string_view::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat(flag, ": expected host:port or unix:///path, got \"", value, "\""));
    }
    host = value.substr(0, colon);
    port = value.substr(colon + 1);
  }
  if (host.empty() || !absl::SimpleAtoi(port, &out.port) || out.port < 0 || out.port > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat(flag, ": needs a host and a port between 0 and 65535"));
  }
  out.host = std::string(host);
  return out;
}

bool IsLoopbackHost(absl::string_view host) {
  if (host == "localhost") return true;
  const std::string h(host);
  in_addr v4{};
  if (inet_pton(AF_INET, h.c_str(), &v4) == 1) {
    return (ntohl(v4.s_addr) >> 24) == 127;
  }
  in6_addr v6{};
  if (inet_pton(AF_INET6, h.c_str(), &v6) == 1) {
    return IN6_IS_ADDR_LOOPBACK(&v6);
  }
  return false;
}

absl::Status CheckPlainTcpAllowed(const ListenAddress& address, bool tls_enabled) {
  if (address.is_unix || tls_enabled || IsLoopbackHost(address.host)) return absl::OkStatus();
  return absl::FailedPreconditionError(
      absl::StrCat("refusing to serve plain TCP on ", address.GrpcUri(),
                   ": the Docker socket is root on this host. Listen on a loopback address "
                   "(127.0.0.1) or a unix socket, or configure TLS with client authentication"));
}

absl::Status CheckTcpListenerAllowed(const ListenAddress& address, bool tls_enabled,
                                     bool client_auth_configured, bool insecure) {
  if (address.is_unix || IsLoopbackHost(address.host) || insecure) return absl::OkStatus();
  if (!tls_enabled) return CheckPlainTcpAllowed(address, false);
  if (!client_auth_configured) {
    return absl::FailedPreconditionError(absl::StrCat(
        "refusing to serve ", address.GrpcUri(),
        " without client authentication: set tls.client_ca (mutual TLS) and/or auth.tokens"));
  }
  return absl::OkStatus();
}

}  // namespace dkd::server
