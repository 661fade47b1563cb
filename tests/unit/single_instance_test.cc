// UnixSocketClaim and CheckTcpPortFree in one process: a held claim refuses
// the next, a stale socket file is replaced, a live one is not, and a taken
// TCP port is named with its holder.
#include "server/single_instance.h"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>

#include "absl/strings/str_cat.h"

namespace dkd::server {
namespace {

std::string TempDir() {
  char tmpl[] = "/tmp/dkdsi.XXXXXX";
  return mkdtemp(tmpl);
}

int BindUnix(const std::string& path, bool listen_too) {
  const int fd = socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  std::strncpy(a.sun_path, path.c_str(), sizeof(a.sun_path) - 1);
  EXPECT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0) << path;
  if (listen_too) listen(fd, 4);
  return fd;
}

bool Exists(const std::string& path) {
  struct stat st {};
  return lstat(path.c_str(), &st) == 0;
}

TEST(UnixSocketClaimTest, RefusesASecondClaimWhileTheFirstIsHeldAndNamesThePid) {
  const std::string dir = TempDir();
  const std::string path = dir + "/dkd.sock";
  auto first = UnixSocketClaim::Claim("listen.unix_socket", path);
  ASSERT_TRUE(first.ok()) << first.status();
  auto second = UnixSocketClaim::Claim("listen.unix_socket", path);
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), absl::StatusCode::kFailedPrecondition);
  const std::string message(second.status().message());
  EXPECT_NE(message.find("listen.unix_socket"), std::string::npos) << message;
  EXPECT_NE(message.find(absl::StrCat("pid ", getpid())), std::string::npos) << message;
  first->reset();  // Released: the next claim succeeds.
  EXPECT_TRUE(UnixSocketClaim::Claim("listen.unix_socket", path).ok());
  std::filesystem::remove_all(dir);
}

TEST(UnixSocketClaimTest, ReplacesAStaleSocketButNeverALiveOne) {
  const std::string dir = TempDir();
  const std::string path = dir + "/dkd.sock";
  const int live = BindUnix(path, true);
  auto refused = UnixSocketClaim::Claim("listen.unix_socket", path);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(std::string(refused.status().message()).find("refusing to replace"), std::string::npos);
  EXPECT_TRUE(Exists(path));
  close(live);  // Bound and closed: the file stays, nobody answers.
  ASSERT_TRUE(Exists(path));
  auto claimed = UnixSocketClaim::Claim("listen.unix_socket", path);
  ASSERT_TRUE(claimed.ok()) << claimed.status();
  EXPECT_FALSE(Exists(path)) << "the stale socket was left for the listener to trip on";
  std::filesystem::remove_all(dir);
}

TEST(UnixSocketClaimTest, RefusesAPathThatIsNotASocket) {
  const std::string dir = TempDir();
  const std::string path = dir + "/dkd.sock";
  {
    FILE* f = fopen(path.c_str(), "w");
    fclose(f);
  }
  auto claim = UnixSocketClaim::Claim("listen.unix_socket", path);
  ASSERT_FALSE(claim.ok());
  EXPECT_NE(std::string(claim.status().message()).find("not a socket"), std::string::npos);
  EXPECT_TRUE(Exists(path));
  std::filesystem::remove_all(dir);
}

TEST(CheckTcpPortFreeTest, NamesTheListenerHoldingThePort) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
  ASSERT_EQ(listen(fd, 4), 0);
  socklen_t len = sizeof(a);
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  const int port = ntohs(a.sin_port);
  absl::Status s = CheckTcpPortFree("listen.tcp", "127.0.0.1", port);
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(std::string(s.message()).find(absl::StrCat("127.0.0.1:", port)), std::string::npos);
  // The probe skips its own process, so the holder is not named here; the
  // integration test checks the name against a real dkd.
  close(fd);
  EXPECT_TRUE(CheckTcpPortFree("listen.tcp", "127.0.0.1", port).ok());
  EXPECT_TRUE(CheckTcpPortFree("listen.tcp", "127.0.0.1", 0).ok());
}

}  // namespace
}  // namespace dkd::server
