// One dkd per address (single_instance.h): the unix socket claim, the TCP port
// check, and naming the process that holds an address.
#include "server/single_instance.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace dkd::server {
namespace {

std::string ReadSmallFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// "pid N (comm)" for every process with an fd on one of `inodes`.
std::string ProcessesHolding(const std::set<std::string>& inodes) {
  if (inodes.empty()) return "";
  std::vector<std::string> found;
  DIR* proc = opendir("/proc");
  if (proc == nullptr) return "";
  while (dirent* p = readdir(proc)) {
    int pid = 0;
    if (!absl::SimpleAtoi(p->d_name, &pid) || pid == getpid()) continue;
    const std::string fd_dir = absl::StrCat("/proc/", pid, "/fd");
    DIR* fds = opendir(fd_dir.c_str());
    if (fds == nullptr) continue;
    bool holds = false;
    while (dirent* f = readdir(fds)) {
      char target[64] = {};
      const std::string link = fd_dir + "/" + f->d_name;
      const ssize_t n = readlink(link.c_str(), target, sizeof(target) - 1);
      if (n <= 0) continue;
      absl::string_view t(target, static_cast<size_t>(n));
      if (absl::ConsumePrefix(&t, "socket:[") && absl::ConsumeSuffix(&t, "]") &&
          inodes.count(std::string(t)) > 0) {
        holds = true;
        break;
      }
    }
    closedir(fds);
    if (holds) {
      std::string comm(
          absl::StripTrailingAsciiWhitespace(ReadSmallFile(absl::StrCat("/proc/", pid, "/comm"))));
      found.push_back(absl::StrCat("pid ", pid, " (", comm, ")"));
    }
  }
  closedir(proc);
  return absl::StrJoin(found, ", ");
}

// Inodes of unix sockets bound to `path`, from /proc/net/unix.
std::set<std::string> UnixSocketInodes(const std::string& path) {
  std::set<std::string> inodes;
  std::stringstream ss(ReadSmallFile("/proc/net/unix"));
  std::string line;
  std::getline(ss, line);  // Header.
  while (std::getline(ss, line)) {
    std::vector<absl::string_view> f = absl::StrSplit(line, ' ', absl::SkipEmpty());
    // Num RefCount Protocol Flags Type St Inode Path
    if (f.size() >= 8 && f[7] == path) inodes.insert(std::string(f[6]));
  }
  return inodes;
}

// True when a server accepts connections on the unix socket `path`.
bool SomethingAnswers(const std::string& path) {
  const int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path.c_str(), sizeof(addr.sun_path) - 1);
  const bool connected = connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  const int err = errno;
  close(fd);
  // Refused (or gone): nobody listens. Anything else (a full backlog, no
  // permission) means someone may: not stale.
  return connected || (err != ECONNREFUSED && err != ENOENT);
}

}  // namespace

absl::StatusOr<std::unique_ptr<UnixSocketClaim>> UnixSocketClaim::Claim(
    absl::string_view flag, const std::string& socket_path) {
  const std::string lock_path = socket_path + ".lock";
  const int fd = open(lock_path.c_str(), O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) {
    return absl::FailedPreconditionError(
        absl::StrCat(flag, ": cannot open the lock file ", lock_path, ": ", std::strerror(errno)));
  }
  struct stat lock_st {};
  if (fstat(fd, &lock_st) != 0 || lock_st.st_uid != geteuid()) {
    close(fd);
    return absl::FailedPreconditionError(absl::StrCat(flag, ": the lock file ", lock_path,
                                                      " belongs to uid ", lock_st.st_uid,
                                                      ", not to dkd's user; refusing to use it"));
  }
  if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
    const int err = errno;
    char buf[32] = {};
    const ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
    close(fd);
    if (err != EWOULDBLOCK) {
      return absl::FailedPreconditionError(
          absl::StrCat(flag, ": cannot lock ", lock_path, ": ", std::strerror(err)));
    }
    std::string holder = n > 0 ? std::string(absl::StripAsciiWhitespace(buf)) : "";
    holder = holder.empty() ? "another process" : absl::StrCat("another dkd (pid ", holder, ")");
    return absl::FailedPreconditionError(
        absl::StrCat(flag, ": ", socket_path, " is held by ", holder, ", which holds the lock on ",
                     lock_path, "; stop it first, or give this dkd another socket"));
  }
  const std::string pid = absl::StrCat(getpid(), "\n");
  if (ftruncate(fd, 0) != 0 || pwrite(fd, pid.data(), pid.size(), 0) < 0) {
    // The lock is what counts; the pid is only for the message above.
  }
  struct stat st {};
  if (lstat(socket_path.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode)) {
      close(fd);
      return absl::FailedPreconditionError(absl::StrCat(
          flag, ": ", socket_path, " exists and is not a socket; refusing to replace it"));
    }
    if (SomethingAnswers(socket_path)) {
      const std::string holder = ProcessesHolding(UnixSocketInodes(socket_path));
      close(fd);
      return absl::FailedPreconditionError(absl::StrCat(
          flag, ": ", socket_path, " is served by ", holder.empty() ? "another process" : holder,
          " (without the lock ", lock_path, "); refusing to replace it"));
    }
    unlink(socket_path.c_str());  // Stale: left by a dkd that did not exit cleanly.
  }
  return std::unique_ptr<UnixSocketClaim>(new UnixSocketClaim(fd, lock_path));
}

UnixSocketClaim::~UnixSocketClaim() { close(fd_); }

std::string TcpPortHolder(int port) {
  std::set<std::string> inodes;
  for (const char* table : {"/proc/net/tcp", "/proc/net/tcp6"}) {
    std::stringstream ss(ReadSmallFile(table));
    std::string line;
    std::getline(ss, line);  // Header.
    while (std::getline(ss, line)) {
      std::vector<absl::string_view> f = absl::StrSplit(line, ' ', absl::SkipEmpty());
      // sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode
      if (f.size() < 10 || f[3] != "0A") continue;  // 0A: LISTEN.
      const size_t colon = f[1].rfind(':');
      int p = 0;
      if (colon == absl::string_view::npos || !absl::SimpleHexAtoi(f[1].substr(colon + 1), &p) ||
          p != port) {
        continue;
      }
      inodes.insert(std::string(f[9]));
    }
  }
  return ProcessesHolding(inodes);
}

absl::Status CheckTcpPortFree(absl::string_view flag, const std::string& host, int port) {
  if (port == 0) return absl::OkStatus();
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV | AI_PASSIVE;
  addrinfo* res = nullptr;
  const std::string service = std::to_string(port);
  if (getaddrinfo(host.c_str(), service.c_str(), &hints, &res) != 0 || res == nullptr) {
    return absl::OkStatus();  // The listener reports a bad host itself.
  }
  bool in_use = false;
  for (addrinfo* a = res; a != nullptr && !in_use; a = a->ai_next) {
    const int fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
    if (fd < 0) continue;
    const int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(fd, a->ai_addr, a->ai_addrlen) != 0 && errno == EADDRINUSE) in_use = true;
    close(fd);
  }
  freeaddrinfo(res);
  if (!in_use) return absl::OkStatus();
  const std::string holder = TcpPortHolder(port);
  return absl::FailedPreconditionError(absl::StrCat(
      flag, ": ", host, ":", port, " is in use", holder.empty() ? "" : absl::StrCat(" by ", holder),
      "; stop it first, or give this dkd another address"));
}

absl::Status ClaimListenAddresses(const std::vector<ListenAddress>& listeners,
                                  const std::string& http_listen,
                                  std::unique_ptr<UnixSocketClaim>* unix_claim) {
  for (const auto& l : listeners) {
    if (l.is_unix) {
      std::error_code ec;
      std::filesystem::create_directories(std::filesystem::path(l.path).parent_path(), ec);
      auto claim = UnixSocketClaim::Claim("listen.unix_socket", l.path);
      if (!claim.ok()) return claim.status();
      *unix_claim = *std::move(claim);
    } else if (absl::Status s = CheckTcpPortFree("listen.tcp", l.host, l.port); !s.ok()) {
      return s;
    }
  }
  if (http_listen.empty()) return absl::OkStatus();
  auto http = ParseListenAddress("http.listen", http_listen);
  if (!http.ok() || http->is_unix) return absl::OkStatus();  // HttpEndpoints says why.
  return CheckTcpPortFree("http.listen", http->host, http->port);
}

}  // namespace dkd::server
