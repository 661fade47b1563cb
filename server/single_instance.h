// One dkd per address. Two daemons on one unix socket, TCP port or HTTP port
// would split connections between them (SO_REUSEPORT) or delete each other's
// socket; these checks make the second refuse to start instead, naming the
// holder.
//
// The unix socket is claimed with an exclusive flock(2) on "<socket>.lock",
// held for the life of the process: only the holder may remove or replace
// the socket file. A socket file nobody holds the lock for is removed only
// when nothing answers on it (an older dkd, or another program, may be
// serving it without a lock). TCP ports are probed with a bind that does not
// share (SO_REUSEADDR for TIME_WAIT only, never SO_REUSEPORT); the listeners
// themselves are then opened without SO_REUSEPORT too.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "server/listen_address.h"

namespace dkd::server {

class UnixSocketClaim {
 public:
  // Claims `socket_path` (whose directory must exist) for this process and
  // removes a stale socket file there. FailedPrecondition naming `flag`, the
  // path and the holder when another process holds the lock or answers on
  // the socket, or when the path is not a socket.
  static absl::StatusOr<std::unique_ptr<UnixSocketClaim>> Claim(absl::string_view flag,
                                                                const std::string& socket_path);
  // Releases the lock (the lock file stays: removing it would let a third
  // process lock a new file while a second still holds the old one).
  ~UnixSocketClaim();
  UnixSocketClaim(const UnixSocketClaim&) = delete;
  UnixSocketClaim& operator=(const UnixSocketClaim&) = delete;

  const std::string& lock_path() const { return lock_path_; }

 private:
  UnixSocketClaim(int fd, std::string lock_path) : fd_(fd), lock_path_(std::move(lock_path)) {}
  int fd_;
  std::string lock_path_;
};

// OK when a listener could bind `host`:`port` without sharing it (port 0 is
// always free). FailedPrecondition naming `flag`, the address and, where
// /proc shows it, the listening process, when the port is taken. Other bind
// errors are left to the listener that follows.
absl::Status CheckTcpPortFree(absl::string_view flag, const std::string& host, int port);

// Claims every gRPC listener in `listeners` (the unix socket into
// `unix_claim`) and checks the HTTP port `http_listen` ("" = none), before
// any of them is opened. The first refusal, as above.
absl::Status ClaimListenAddresses(const std::vector<ListenAddress>& listeners,
                                  const std::string& http_listen,
                                  std::unique_ptr<UnixSocketClaim>* unix_claim);

// "pid 1234 (dkd)" for the processes listening on TCP `port`, from
// /proc/net/tcp{,6} and /proc/*/fd; "" when none can be seen.
std::string TcpPortHolder(int port);

}  // namespace dkd::server
