// HijackEngineConnection (engine_hijack.h): connect, upgrade, read the head.
#include "core/engine/engine_hijack.h"

#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "core/base/fd_limit.h"
#include "core/base/status_macros.h"

namespace dkd::core {
namespace {

constexpr size_t kMaxHead = 64 * 1024;

absl::Status Unreachable(const EngineAddress& a, absl::string_view why) {
  return absl::UnavailableError(
      absl::StrCat("Docker Engine is unreachable at ", a.ToString(), " (", why, ")"));
}

// Waits until `fd` is ready for `events` or `deadline` passes.
absl::Status WaitFor(int fd, short events, absl::Time deadline, const EngineAddress& a) {
  for (;;) {
    const int64_t ms = absl::ToInt64Milliseconds(deadline - absl::Now());
    if (ms <= 0) {
      return absl::UnavailableError(
          absl::StrCat("the Docker Engine at ", a.ToString(), " did not answer in time"));
    }
    pollfd p{fd, events, 0};
    const int rc = ::poll(&p, 1, static_cast<int>(ms));
    if (rc > 0) return absl::OkStatus();
    if (rc < 0 && errno != EINTR) return Unreachable(a, std::strerror(errno));
  }
}

// Connects `fd` (non-blocking) to `sa`, waiting until `deadline`.
absl::Status ConnectFd(int fd, const sockaddr* sa, socklen_t len, absl::Time deadline,
                       const EngineAddress& a) {
  if (::connect(fd, sa, len) == 0) return absl::OkStatus();
  if (errno != EINPROGRESS && errno != EAGAIN) return Unreachable(a, std::strerror(errno));
  RETURN_IF_ERROR(WaitFor(fd, POLLOUT, deadline, a));
  int err = 0;
  socklen_t err_len = sizeof(err);
  ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &err_len);
  if (err != 0) return Unreachable(a, std::strerror(err));
  return absl::OkStatus();
}

absl::StatusOr<int> NewSocket(int family, const EngineAddress& a) {
  const int fd = ::socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd >= 0) return fd;
  const int err = errno;
  if (IsFdExhaustion(err)) return FdExhaustedError(err, "connecting to the Docker Engine");
  return Unreachable(a, std::strerror(err));
}

}  // namespace

absl::StatusOr<int> ConnectToEngine(const EngineAddress& a, absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  int fd = -1;
  absl::Status connected;
  if (a.scheme == EngineAddress::Scheme::kUnix) {
    sockaddr_un sa{};
    sa.sun_family = AF_UNIX;
    if (a.socket_path.size() >= sizeof(sa.sun_path)) {
      return absl::InvalidArgumentError(
          absl::StrCat("engine socket path is too long: ", a.socket_path));
    }
    std::memcpy(sa.sun_path, a.socket_path.data(), a.socket_path.size());
    ASSIGN_OR_RETURN(fd, NewSocket(AF_UNIX, a));
    connected = ConnectFd(fd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa), deadline, a);
  } else {
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV;
    addrinfo* res = nullptr;
    const std::string port = std::to_string(a.port);
    if (::getaddrinfo(a.host.c_str(), port.c_str(), &hints, &res) != 0 || res == nullptr) {
      return Unreachable(a, absl::StrCat("cannot resolve ", a.host));
    }
    auto made = NewSocket(res->ai_family, a);
    if (!made.ok()) {
      ::freeaddrinfo(res);
      return made.status();
    }
    fd = *made;
    connected = ConnectFd(fd, res->ai_addr, res->ai_addrlen, deadline, a);
    ::freeaddrinfo(res);
  }
  if (!connected.ok()) {
    ::close(fd);
    return connected;
  }
  // Blocking from here on: the new protocol's owner decides how to wait.
  ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) & ~O_NONBLOCK);
  return fd;
}

absl::StatusOr<int> HijackEngineConnection(EngineClient& engine, const EngineRequest& request,
                                           absl::string_view protocol) {
  const EngineAddress& a = engine.address();
  if (a.tls) {
    return absl::FailedPreconditionError(absl::StrCat(
        "the Docker Engine at ", a.ToString(),
        " is reached over TLS; a hijacked connection (BuildKit session) needs a unix socket or "
        "plain tcp engine address"));
  }
  RETURN_IF_ERROR(engine.Negotiate());
  ASSIGN_OR_RETURN(int fd, ConnectToEngine(a, engine.response_timeout()));
  auto fail = [fd](absl::Status s) {
    ::close(fd);
    return s;
  };
  std::string out = absl::StrCat(request.method, " ", engine.RequestTarget(request),
                                 " HTTP/1.1\r\nHost: docker\r\nUser-Agent: dkd\r\n");
  for (const auto& [k, v] : request.headers) absl::StrAppend(&out, k, ": ", v, "\r\n");
  absl::StrAppend(&out, "Content-Length: ", request.body.size(),
                  "\r\nConnection: Upgrade\r\nUpgrade: ", protocol, "\r\n\r\n", request.body);
  const absl::Time deadline = absl::Now() + engine.response_timeout();
  for (size_t sent = 0; sent < out.size();) {
    const ssize_t n = ::send(fd, out.data() + sent, out.size() - sent, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      return fail(Unreachable(a, std::strerror(errno)));
    }
    sent += static_cast<size_t>(n);
  }
  // The head, one byte at a time: what follows it belongs to the new protocol.
  std::string head;
  while (head.size() < 4 || head.compare(head.size() - 4, 4, "\r\n\r\n") != 0) {
    if (head.size() >= kMaxHead) {
      return fail(absl::UnavailableError("the Docker Engine's response head is over 64 KiB"));
    }
    if (absl::Status s = WaitFor(fd, POLLIN, deadline, a); !s.ok()) return fail(s);
    char c = 0;
    const ssize_t n = ::recv(fd, &c, 1, 0);
    if (n == 0) return fail(Unreachable(a, "the connection closed before the engine answered"));
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      return fail(Unreachable(a, std::strerror(errno)));
    }
    head.push_back(c);
  }
  // "HTTP/1.1 101 Switching Protocols"
  std::vector<absl::string_view> first =
      absl::StrSplit(absl::string_view(head).substr(0, head.find("\r\n")), absl::MaxSplits(' ', 2));
  int status = 0;
  if (first.size() < 2 || !absl::SimpleAtoi(first[1], &status)) {
    return fail(absl::UnavailableError("the Docker Engine sent a malformed response head"));
  }
  if (status == 101) return fd;
  // An error: its body is short JSON, read up to its Content-Length (or the
  // connection's end) within the deadline.
  size_t length = kMaxHead;
  const std::string lower = absl::AsciiStrToLower(head);
  if (size_t at = lower.find("\r\ncontent-length:"); at != std::string::npos) {
    size_t parsed = 0;
    const size_t from = at + 17;
    if (absl::SimpleAtoi(absl::StripAsciiWhitespace(absl::string_view(lower).substr(
                             from, lower.find("\r\n", from) - from)),
                         &parsed)) {
      length = std::min(parsed, kMaxHead);
    }
  }
  std::string body;
  char buf[4096];
  while (body.size() < length && WaitFor(fd, POLLIN, deadline, a).ok()) {
    const ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
    if (n <= 0) break;
    body.append(buf, static_cast<size_t>(n));
  }
  const size_t json = body.find('{');
  return fail(StatusFromEngineHttp(status, json == std::string::npos
                                               ? absl::string_view(body)
                                               : absl::string_view(body).substr(json)));
}

}  // namespace dkd::core
