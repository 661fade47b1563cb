// Loopback TCP gives no local user more than the unix socket would: anonymous
// calls are refused, the local token (mode 0640, the socket's group) gives
// the socket's role, and a user outside that group gets nothing — checked by
// running dkctl and file reads as `nobody` against a real dkd and engine.
#include <fcntl.h>
#include <grp.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>

#include "dkd/v1/docker_manager.grpc.pb.h"
#include "tests/integration/security_helpers.h"

namespace dkd::testing {
namespace {

using grpc::StatusCode;

constexpr char kRun[] = "/dkd.v1.DockerManager/RunContainer";
constexpr char kList[] = "/dkd.v1.DockerManager/ListContainers";
constexpr char kPing[] = "/dkd.v1.DockerManager/Ping";
constexpr char kSocketGroup[] = "daemon";  // Exists on every Debian system.
constexpr uid_t kNobody = 65534;

gid_t SocketGid() {
  struct group* g = getgrnam(kSocketGroup);
  return g == nullptr ? static_cast<gid_t>(-1) : g->gr_gid;
}

// Runs argv as uid/gid nobody, with `groups` ("" = none) as supplementary groups.
CommandResult AsNobody(const std::vector<std::string>& argv, const std::string& groups,
                       const std::map<std::string, std::string>& env = {}) {
  std::vector<std::string> full = {"setpriv", "--reuid=nobody", "--regid=nogroup"};
  full.push_back(groups.empty() ? "--clear-groups" : "--groups=" + groups);
  full.insert(full.end(), argv.begin(), argv.end());
  return RunCommand(full, env);
}

// errno of open(path) in a child that dropped to nobody (0 when it opened).
int OpenErrnoAsNobody(const std::string& path) {
  pid_t pid = fork();
  if (pid == 0) {
    if (setgroups(0, nullptr) != 0 || setgid(kNobody) != 0 || setuid(kNobody) != 0) _exit(255);
    int fd = open(path.c_str(), O_RDONLY);
    _exit(fd >= 0 ? 0 : errno);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 254;
}

class LocalTokenTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    ASSERT_NE(SocketGid(), static_cast<gid_t>(-1));
    auto d = StartDaemon({"", {"--unix-socket-group", kSocketGroup}, ""});
    ASSERT_TRUE(d.ok()) << d.status();
    daemon_ = d->release();
    // Let other users reach the files, so that their own modes are what is tested.
    ASSERT_EQ(chmod(daemon_->dir().c_str(), 0711), 0);
  }
  static void TearDownTestSuite() { delete daemon_; }
  static DaemonProcess* daemon_;
};
DaemonProcess* LocalTokenTest::daemon_ = nullptr;

TEST_F(LocalTokenTest, TokenFileIsReadableOnlyByRootAndTheSocketGroup) {
  struct stat token {
  }, socket{};
  ASSERT_EQ(lstat(daemon_->local_token_file().c_str(), &token), 0) << daemon_->Log();
  ASSERT_EQ(stat((daemon_->dir() + "/dkd.sock").c_str(), &socket), 0);
  EXPECT_TRUE(S_ISREG(token.st_mode));
  EXPECT_EQ(token.st_mode & 07777, 0640u);
  EXPECT_EQ(token.st_uid, geteuid());
  EXPECT_EQ(token.st_gid, SocketGid());
  EXPECT_EQ(socket.st_gid, SocketGid()) << "token and socket share one group";
  EXPECT_EQ(daemon_->LocalToken().size(), 64u);
  EXPECT_EQ(OpenErrnoAsNobody(daemon_->local_token_file()), EACCES);
  // The same user cannot reach the socket either: the token adds no way in.
  CommandResult r = AsNobody({DKCTL_BINARY, "--host", daemon_->unix_host(), "ps"}, "");
  EXPECT_EQ(r.exit_code, 1) << r.out;
}

TEST_F(LocalTokenTest, AnonymousLoopbackCallsAreUnauthenticatedAndSayHowToAuthenticate) {
  auto tcp = PlainChannel(daemon_->tcp_target());
  for (const char* method : {kRun, kList, kPing}) {
    grpc::Status s = CallByName(tcp, method);
    EXPECT_EQ(s.error_code(), StatusCode::UNAUTHENTICATED) << method;
    EXPECT_NE(s.error_message().find(daemon_->local_token_file()), std::string::npos)
        << s.error_message();
  }
  // Near misses of the token, and its hash as stored nowhere but derivable.
  const std::string token = daemon_->LocalToken();
  std::string upper = token;
  for (char& c : upper) c = static_cast<char>(toupper(c));
  for (const std::string& bad : {token.substr(1), token + "0", upper, server::Sha256Hex(token),
                                 std::string("0000000000000000")}) {
    grpc::Status s = CallByName(tcp, kRun, bad);
    EXPECT_EQ(s.error_code(), StatusCode::UNAUTHENTICATED) << bad;
    EXPECT_EQ(s.error_message().find(token), std::string::npos) << "the token is never echoed";
  }
  // The token gives the socket's role (admin): past authorization, the empty
  // request fails validation.
  EXPECT_EQ(CallByName(tcp, kRun, token).error_code(), StatusCode::INVALID_ARGUMENT);
  EXPECT_TRUE(CallByName(tcp, kPing, token).ok());
}

TEST_F(LocalTokenTest, NobodyGetsNothingOverTcpWhileTheSocketGroupKeepsDkctlWorking) {
  const std::string base = FixtureEnv("DKD_TEST_BASE_IMAGE");
  ASSERT_FALSE(base.empty());
  const std::map<std::string, std::string> env = {{"DKD_TOKEN_FILE", daemon_->local_token_file()}};
  const std::string label = "dkd.test.local-token=" + std::to_string(getpid());
  // The attack of the issue: a local user runs a root container over loopback TCP.
  CommandResult r = AsNobody({DKCTL_BINARY, "--host", daemon_->tcp_host(), "run", "--rm", "--label",
                              label, base, "whoami"},
                             "", env);
  EXPECT_EQ(r.exit_code, 125) << r.err;  // docker's code for a run that failed.
  EXPECT_EQ(r.out.find("root"), std::string::npos) << r.out;
  EXPECT_NE(r.err.find("credentials required"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("Permission denied"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find(daemon_->local_token_file()), std::string::npos) << r.err;
  CommandResult ps =
      RunCommand({"docker", "-H", TestEngineHost(), "ps", "-aq", "--filter", "label=" + label});
  EXPECT_EQ(ps.out, "") << "a refused run creates no container";

  // The same user in the socket's group: dkctl finds the token by itself.
  r = AsNobody({DKCTL_BINARY, "--host", daemon_->tcp_host(), "ps"}, kSocketGroup, env);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  // "localhost" is loopback too.
  r = AsNobody(
      {DKCTL_BINARY, "--host", "tcp://localhost:" + daemon_->tcp_target().substr(10), "ps"},
      kSocketGroup, env);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  // Root (the owner) runs as before, as it would on the socket.
  r = Dkctl(daemon_->tcp_host(), {"run", "--rm", "--label", label, base, "whoami"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "root\n");
}

// A gRPC server, run as nobody, that records the metadata of every call it
// gets: what a local user squatting a loopback port would see.
constexpr char kSquatter[] = R"(
import sys, grpc
from concurrent import futures
class Record(grpc.GenericRpcHandler):
    def service(self, details):
        with open(sys.argv[1] + "/seen", "a") as f:
            f.write(repr(details.invocation_metadata) + "\n")
        return None
server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
server.add_generic_rpc_handlers((Record(),))
port = server.add_insecure_port("127.0.0.1:0")
server.start()
with open(sys.argv[1] + "/port.tmp", "w") as f:
    f.write(str(port))
import os
os.rename(sys.argv[1] + "/port.tmp", sys.argv[1] + "/port")
server.wait_for_termination()
)";

TEST_F(LocalTokenTest, DkctlNeverHandsTheTokenToAPortSquatter) {
  const std::string dir = MakeTempDir();
  ASSERT_EQ(chmod(dir.c_str(), 0777), 0);
  std::ofstream(dir + "/squatter.py") << kSquatter;
  pid_t pid = fork();
  if (pid == 0) {
    if (setgroups(0, nullptr) != 0 || setgid(kNobody) != 0 || setuid(kNobody) != 0) _exit(255);
    execlp("python3", "python3", (dir + "/squatter.py").c_str(), dir.c_str(), nullptr);
    _exit(127);
  }
  std::string port;
  for (int i = 0; i < 400 && (port = Slurp(dir + "/port")).empty(); ++i) usleep(25 * 1000);
  ASSERT_FALSE(port.empty()) << "the squatter did not start";
  // A socket-group member (root here) points dkctl at the squatter's port.
  CommandResult r = RunCommand({DKCTL_BINARY, "--host", "tcp://127.0.0.1:" + port, "ps"},
                               {{"DKD_TOKEN_FILE", daemon_->local_token_file()}});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("did not send it the local token"), std::string::npos) << r.err;
  const std::string seen = Slurp(dir + "/seen");
  EXPECT_NE(seen.find("user-agent"), std::string::npos) << "the call reached the squatter";
  EXPECT_EQ(seen.find(daemon_->LocalToken()), std::string::npos) << seen;
  EXPECT_EQ(seen.find("authorization"), std::string::npos) << seen;
  kill(pid, SIGKILL);
  waitpid(pid, nullptr, 0);
  RunCommand({"rm", "-rf", dir});
}

TEST(LocalTokenFileTest, ForeignSymlinkedOrMalformedTokenFilesStopDkd) {
  const std::string dir = MakeTempDir();
  const std::string planted = dir + "/planted";
  // A file someone else made, with a token they know.
  std::ofstream(planted) << std::string(64, 'a') << "\n";
  ASSERT_EQ(chown(planted.c_str(), kNobody, kNobody), 0);
  ASSERT_EQ(chmod(planted.c_str(), 0640), 0);
  auto d = StartDaemon({"", {"--local-token-file", planted}, ""});
  ASSERT_FALSE(d.ok());
  EXPECT_NE(std::string(d.status().message()).find("auth.local_token_file"), std::string::npos)
      << d.status();
  EXPECT_NE(std::string(d.status().message()).find("owned by uid"), std::string::npos);

  // A symlink to a file of the right owner.
  const std::string real = dir + "/real", link = dir + "/link";
  std::ofstream(real) << std::string(64, 'b') << "\n";
  ASSERT_EQ(chmod(real.c_str(), 0640), 0);
  ASSERT_EQ(symlink(real.c_str(), link.c_str()), 0);
  d = StartDaemon({"", {"--local-token-file", link}, ""});
  ASSERT_FALSE(d.ok());
  EXPECT_NE(std::string(d.status().message()).find("symbolic link"), std::string::npos)
      << d.status();

  const std::string junk = dir + "/junk";
  std::ofstream(junk) << "guessable\n";
  ASSERT_EQ(chmod(junk.c_str(), 0600), 0);
  d = StartDaemon({"", {"--local-token-file", junk}, ""});
  ASSERT_FALSE(d.ok());
  EXPECT_NE(std::string(d.status().message()).find("does not hold"), std::string::npos);
  RunCommand({"rm", "-rf", dir});
}

TEST(LocalTokenFileTest, TokenSurvivesRestartsButNotAModeThatExposedIt) {
  const std::string dir = MakeTempDir();
  const std::string file = dir + "/token";
  std::string first;
  {
    auto d = StartDaemon({"", {"--local-token-file", file}, ""});
    ASSERT_TRUE(d.ok()) << d.status();
    first = Slurp(file);
    ASSERT_EQ(first.size(), 65u);
  }
  {
    auto d = StartDaemon({"", {"--local-token-file", file}, ""});
    ASSERT_TRUE(d.ok()) << d.status();
    EXPECT_EQ(Slurp(file), first) << "a restart keeps the token";
  }
  ASSERT_EQ(chmod(file.c_str(), 0644), 0);  // Every local user could have read it.
  auto d = StartDaemon({"", {"--local-token-file", file}, ""});
  ASSERT_TRUE(d.ok()) << d.status();
  const std::string second = Slurp(file);
  EXPECT_NE(second, first);
  struct stat st {};
  ASSERT_EQ(stat(file.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0640u);
  auto tcp = PlainChannel((*d)->tcp_target());
  EXPECT_EQ(CallByName(tcp, kPing, first.substr(0, 64)).error_code(), StatusCode::UNAUTHENTICATED);
  EXPECT_TRUE(CallByName(tcp, kPing, second.substr(0, 64)).ok());
  // A reload (SIGHUP) keeps the token dkd started with.
  ASSERT_EQ(kill((*d)->pid(), SIGHUP), 0);
  for (int i = 0; i < 400 && (*d)->Log().find("configuration reloaded") == std::string::npos; ++i) {
    usleep(25 * 1000);
  }
  ASSERT_NE((*d)->Log().find("configuration reloaded"), std::string::npos) << (*d)->Log();
  EXPECT_TRUE(CallByName(tcp, kPing, second.substr(0, 64)).ok());
  EXPECT_EQ(CallByName(tcp, kPing).error_code(), StatusCode::UNAUTHENTICATED);
  RunCommand({"rm", "-rf", dir});
}

TEST(AnonymousLoopbackTest, OptingInIsExplicitAndLoud) {
  auto d = StartDaemon({"", {}, R"({"auth": {"anonymous_role": "read"}})"});
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_NE((*d)->Log().find("INSECURE: auth.anonymous_role is read"), std::string::npos)
      << (*d)->Log();
  auto tcp = PlainChannel((*d)->tcp_target());
  EXPECT_TRUE(CallByName(tcp, kPing).ok());
  EXPECT_EQ(CallByName(tcp, kRun).error_code(), StatusCode::PERMISSION_DENIED);
}

}  // namespace
}  // namespace dkd::testing
