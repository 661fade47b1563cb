// Engine addresses (engine_address.h): parsing DOCKER_HOST forms, the default
// host, and TLS settings from the docker environment.
#include "core/engine/engine_address.h"

#include <cstdlib>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"

namespace dkd::core {
namespace {
constexpr absl::string_view kDefaultSocket = "/var/run/docker.sock";
}  // namespace

std::string EngineAddress::ToString() const {
  if (scheme == Scheme::kUnix) return absl::StrCat("unix://", socket_path);
  const bool v6 = host.find(':') != std::string::npos;
  return absl::StrCat("tcp://", v6 ? "[" : "", host, v6 ? "]" : "", ":", port);
}

absl::StatusOr<EngineAddress> ParseEngineAddress(absl::string_view docker_host) {
  EngineAddress out;
  if (docker_host.empty()) docker_host = "unix:///var/run/docker.sock";
  if (absl::ConsumePrefix(&docker_host, "unix://") || absl::StartsWith(docker_host, "/")) {
    if (docker_host.empty() || docker_host.front() != '/') {
      return absl::InvalidArgumentError(
          "engine address: unix:// needs an absolute socket path, e.g. "
          "unix:///var/run/docker.sock");
    }
    if (docker_host.size() >= 108) {
      return absl::InvalidArgumentError(
          "engine address: unix socket path must be shorter than 108 bytes");
    }
    out.scheme = EngineAddress::Scheme::kUnix;
    out.socket_path = std::string(docker_host);
    return out;
  }
  if (!absl::ConsumePrefix(&docker_host, "tcp://")) {
    return absl::InvalidArgumentError(
        absl::StrCat("engine address: unsupported scheme in \"", docker_host,
                     "\"; use unix:///path/to/docker.sock or tcp://host:port"));
  }
  // Drop a trailing slash, as the docker CLI tolerates it.
  if (absl::EndsWith(docker_host, "/")) docker_host.remove_suffix(1);
  absl::string_view host, port;
  if (absl::StartsWith(docker_host, "[")) {
    const size_t close = docker_host.find(']');
    if (close == absl::string_view::npos || close + 1 >= docker_host.size() ||
        docker_host[close + 1] != ':') {
      return absl::InvalidArgumentError("engine address: tcp://[v6]:port expected");
    }
    host = docker_host.substr(1, close - 1);
    port = docker_host.substr(close + 2);
  } else {
    const size_t colon = docker_host.rfind(':');
    if (colon == absl::string_view::npos) {
      return absl::InvalidArgumentError("engine address: tcp:// needs host:port");
    }
    host = docker_host.substr(0, colon);
    port = docker_host.substr(colon + 1);
  }
  int port_number = 0;
  if (host.empty() || !absl::SimpleAtoi(port, &port_number) || port_number < 1 ||
      port_number > 65535) {
    return absl::InvalidArgumentError(
        "engine address: tcp:// needs a host and a port between 1 and 65535");
  }
  out.scheme = EngineAddress::Scheme::kTcp;
  out.host = std::string(host);
  out.port = port_number;
  return out;
}

std::string DefaultEngineHost() {
  const char* env = std::getenv("DOCKER_HOST");
  if (env != nullptr && *env != '\0') return env;
  return absl::StrCat("unix://", kDefaultSocket);
}

void ApplyTlsEnvironment(EngineAddress& address) {
  if (address.scheme != EngineAddress::Scheme::kTcp) return;
  const char* verify = std::getenv("DOCKER_TLS_VERIFY");
  const char* cert_path = std::getenv("DOCKER_CERT_PATH");
  if (verify != nullptr && *verify != '\0' && absl::string_view(verify) != "0") {
    address.tls = true;
    address.tls_verify = true;
  }
  if (cert_path != nullptr && *cert_path != '\0') {
    address.tls = true;
    address.cert_dir = cert_path;
  }
}

}  // namespace dkd::core
