// The local token (local_token.h): creating or loading the token file (mode
// 0640), and the unix socket's group.
#include "server/local_token.h"

#include <fcntl.h>
#include <grp.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace dkd::server {
namespace {

constexpr char kKey[] = "config key auth.local_token_file: ";
constexpr size_t kTokenHexChars = 64;

std::string Errno() { return std::strerror(errno); }

bool ValidToken(absl::string_view t) {
  return t.size() == kTokenHexChars &&
         t.find_first_not_of("0123456789abcdef") == absl::string_view::npos;
}

absl::StatusOr<std::string> NewToken() {
  unsigned char bytes[kTokenHexChars / 2];
  if (RAND_bytes(bytes, sizeof(bytes)) != 1) {
    return absl::InternalError("no random bytes for the local token");
  }
  static const char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : bytes) {
    out.push_back(kHex[c >> 4]);
    out.push_back(kHex[c & 15]);
  }
  OPENSSL_cleanse(bytes, sizeof(bytes));
  return out;
}

// Writes a fresh token to a new file beside `path` and renames it over
// `path`, so the file never exists with another owner, group or mode.
absl::StatusOr<std::string> CreateTokenFile(const std::string& path, gid_t gid) {
  std::error_code ec;
  const std::filesystem::path parent = std::filesystem::path(path).parent_path();
  if (!parent.empty()) std::filesystem::create_directories(parent, ec);
  auto token = NewToken();
  if (!token.ok()) return token.status();
  const std::string tmp = absl::StrCat(path, ".new.", getpid());
  int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) {
    return absl::FailedPreconditionError(absl::StrCat(kKey, "cannot create ", tmp, ": ", Errno()));
  }
  absl::Status status;
  const std::string content = *token + "\n";
  if (fchown(fd, static_cast<uid_t>(-1), gid) != 0) {
    status = absl::FailedPreconditionError(
        absl::StrCat(kKey, "cannot give ", tmp, " to gid ", gid, ": ", Errno()));
  } else if (fchmod(fd, 0640) != 0 ||
             write(fd, content.data(), content.size()) != static_cast<ssize_t>(content.size()) ||
             fsync(fd) != 0) {
    status = absl::FailedPreconditionError(absl::StrCat(kKey, "cannot write ", tmp, ": ", Errno()));
  }
  close(fd);
  if (status.ok() && rename(tmp.c_str(), path.c_str()) != 0) {
    status = absl::FailedPreconditionError(
        absl::StrCat(kKey, "cannot rename ", tmp, " to ", path, ": ", Errno()));
  }
  if (!status.ok()) {
    unlink(tmp.c_str());
    return status;
  }
  return token;
}

}  // namespace

absl::StatusOr<gid_t> ResolveSocketGroup(const std::string& group) {
  if (group.empty()) return getegid();
  unsigned numeric = 0;
  if (absl::SimpleAtoi(group, &numeric)) return static_cast<gid_t>(numeric);
  struct group* g = getgrnam(group.c_str());
  if (g == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("config key listen.unix_socket_group: no group \"", group, "\""));
  }
  return g->gr_gid;
}

absl::Status SetSocketGroup(const std::string& path, const std::string& group) {
  if (group.empty()) return absl::OkStatus();
  auto gid = ResolveSocketGroup(group);
  if (!gid.ok()) return gid.status();
  if (chown(path.c_str(), static_cast<uid_t>(-1), *gid) != 0) {
    return absl::FailedPreconditionError(absl::StrCat("listen.unix_socket_group: cannot give ",
                                                      path, " to group ", group, ": ", Errno()));
  }
  return absl::OkStatus();
}

std::string DefaultLocalTokenFile(absl::string_view unix_socket) {
  if (unix_socket.empty()) return "/run/dkd/local-token";
  const std::string parent = std::filesystem::path(std::string(unix_socket)).parent_path();
  return (parent.empty() ? std::string(".") : parent) + "/local-token";
}

absl::StatusOr<std::string> LoadOrCreateLocalToken(const std::string& path, gid_t gid) {
  int fd = open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return CreateTokenFile(path, gid);
    if (errno == ELOOP) {
      return absl::FailedPreconditionError(
          absl::StrCat(kKey, path, " is a symbolic link; refusing to use it"));
    }
    return absl::FailedPreconditionError(absl::StrCat(kKey, "cannot open ", path, ": ", Errno()));
  }
  struct stat st {};
  std::string content(256, '\0');
  ssize_t n = -1;
  if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) n = read(fd, content.data(), content.size());
  // The checks and the chown below act on this descriptor, not the name, so
  // a rename in the directory cannot redirect them.
  struct Closer {
    int fd;
    ~Closer() { close(fd); }
  } closer{fd};
  if (!S_ISREG(st.st_mode)) {
    return absl::FailedPreconditionError(
        absl::StrCat(kKey, path, " is not a regular file; refusing to use it"));
  }
  if (st.st_uid != geteuid()) {
    return absl::FailedPreconditionError(
        absl::StrCat(kKey, path, " is owned by uid ", st.st_uid, ", not dkd's uid ", geteuid(),
                     "; someone else may know it. Remove it and dkd creates a new one"));
  }
  content.resize(n < 0 ? 0 : static_cast<size_t>(n));
  const std::string token(absl::StripAsciiWhitespace(content));
  OPENSSL_cleanse(content.data(), content.size());
  if (!ValidToken(token)) {
    return absl::FailedPreconditionError(absl::StrCat(
        kKey, path, " does not hold a dkd local token; remove it and dkd creates a new one"));
  }
  // Anything beyond rw-r----- (other users, group write) may have exposed
  // the token: start over with a new one.
  if ((st.st_mode & 07777 & ~0640) != 0) return CreateTokenFile(path, gid);
  if (st.st_gid != gid && fchown(fd, static_cast<uid_t>(-1), gid) != 0) {
    return absl::FailedPreconditionError(
        absl::StrCat(kKey, "cannot give ", path, " to gid ", gid, ": ", Errno()));
  }
  return token;
}

}  // namespace dkd::server
