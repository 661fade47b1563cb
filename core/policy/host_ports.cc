// Host-port choice (host_ports.h): probing candidates in the allowed range from a
// random offset, by binding a socket, for the first free port.
#include "core/policy/host_ports.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <random>

#include "absl/strings/str_cat.h"

namespace dkd::core {
namespace {

// Whether `port` can be bound now on `host_ip` with `protocol`.
bool PortFree(const std::string& host_ip, const std::string& protocol, int port) {
  const bool v6 = host_ip.find(':') != std::string::npos;
  const int type = protocol == "udp" ? SOCK_DGRAM : SOCK_STREAM;
  // SCTP is probed as TCP: the engine's proxy for it needs the port free too.
  int fd = socket(v6 ? AF_INET6 : AF_INET, type | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  int rc;
  if (v6) {
    sockaddr_in6 a{};
    a.sin6_family = AF_INET6;
    a.sin6_port = htons(static_cast<uint16_t>(port));
    if (inet_pton(AF_INET6, host_ip.c_str(), &a.sin6_addr) != 1) {
      close(fd);
      return false;
    }
    rc = bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  } else {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(port));
    if (host_ip.empty() || host_ip == "0.0.0.0") {
      a.sin_addr.s_addr = htonl(INADDR_ANY);
    } else if (inet_pton(AF_INET, host_ip.c_str(), &a.sin_addr) != 1) {
      close(fd);
      return false;
    }
    rc = bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  }
  close(fd);
  return rc == 0;
}

}  // namespace

bool PortRangeUnrestricted(int min_port, int max_port) {
  return min_port <= 1 && max_port >= 65535;
}

absl::StatusOr<int> PickHostPort(const std::string& host_ip, const std::string& protocol,
                                 int min_port, int max_port, const std::set<int>& avoid) {
  const int lo = std::max(1, min_port);
  const int hi = std::min(65535, max_port);
  if (lo > hi) {
    return absl::ResourceExhaustedError(absl::StrCat("run.published_ports: the allowed range ",
                                                     min_port, "-", max_port,
                                                     " has no port to publish on"));
  }
  const int span = hi - lo + 1;
  static thread_local std::mt19937 rng(std::random_device{}());
  const int start = std::uniform_int_distribution<int>(0, span - 1)(rng);
  for (int i = 0; i < span; ++i) {
    const int port = lo + (start + i) % span;
    if (avoid.count(port) != 0) continue;
    if (PortFree(host_ip, protocol, port)) return port;
  }
  return absl::ResourceExhaustedError(
      absl::StrCat("run.published_ports: no free ", protocol, " port in ", lo, "-", hi, " on ",
                   host_ip.empty() ? "0.0.0.0" : host_ip, "; free one or widen the range"));
}

}  // namespace dkd::core
