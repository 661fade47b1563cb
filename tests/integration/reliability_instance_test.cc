// One dkd per address, and a prompt, honest shutdown, against real dkd
// processes: a second dkd on a held unix socket, TCP port or HTTP port exits
// non-zero naming the holder and leaves the first serving (its socket file
// included); nobody can share dkd's ports through SO_REUSEPORT; a stale
// socket is replaced but a live one never is; /readyz turns 503 as soon as
// shutdown starts; an idle connected client does not delay exit.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <iostream>
#include <thread>

#include "dkd/v1/docker_manager.grpc.pb.h"
#include "tests/integration/reliability_helpers.h"

namespace dkd::testing {
namespace {

using dkd::v1::DockerManager;
using grpc::StatusCode;

// A fresh connection per channel, so no test reuses another's.
std::shared_ptr<grpc::Channel> FreshChannel(const std::string& target) {
  grpc::ChannelArguments args;
  args.SetInt("grpc.use_local_subchannel_pool", 1);
  return grpc::CreateCustomChannel(target, grpc::InsecureChannelCredentials(), args);
}

grpc::Status Ping(const std::shared_ptr<grpc::Channel>& channel, const std::string& token = "") {
  auto stub = DockerManager::NewStub(channel);
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  if (!token.empty()) ctx.AddMetadata("authorization", "Bearer " + token);
  dkd::v1::PingResponse resp;
  return stub->Ping(&ctx, dkd::v1::PingRequest(), &resp);
}

// `first` still answers on its unix socket, its TCP port (with its local
// token) and its HTTP port.
void ExpectServing(const DaemonProcess& first) {
  struct stat st {};
  EXPECT_EQ(lstat((first.dir() + "/dkd.sock").c_str(), &st), 0) << "the socket file is gone";
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  grpc::Status s = Ping(FreshChannel(first.unix_target()));
  EXPECT_TRUE(s.ok()) << "unix: " << s.error_message();
  s = Ping(FreshChannel(first.tcp_target()), first.LocalToken());
  EXPECT_TRUE(s.ok()) << "tcp: " << s.error_message();
  EXPECT_EQ(HttpGet(first.http_port(), "/healthz").first, 200);
}

// Runs a second dkd to completion (bounded) with `unix`, `tcp` and `http`.
CommandResult SecondDkd(const std::string& dir, const std::string& unix_socket,
                        const std::string& tcp, const std::string& http) {
  return RunCommand({"timeout", "30", DKD_BINARY, "--engine", TestEngineHost(), "--unix-socket",
                     unix_socket, "--tcp", tcp, "--http", http, "--port-file", dir + "/port2",
                     "--audit-log", dir + "/audit2.log"});
}

std::string Contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos ? "" : "missing \"" + part + "\" in:\n" + text;
}

class SecondInstanceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto d = DaemonProcess::Start({});
    ASSERT_TRUE(d.ok()) << d.status();
    first_ = *std::move(d);
    dir_ = MakeTempDir();
  }
  void TearDown() override { RunCommand({"rm", "-rf", dir_}); }
  std::string pid_text() const { return absl::StrCat("pid ", first_->pid()); }
  std::unique_ptr<DaemonProcess> first_;
  std::string dir_;
};

TEST_F(SecondInstanceTest, RefusesTheSameUnixSocketAndLeavesTheFirstServing) {
  CommandResult r = SecondDkd(dir_, first_->dir() + "/dkd.sock", "127.0.0.1:0", "127.0.0.1:0");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.exit_code, 124) << "the second dkd kept running";
  const std::string out = r.out + r.err;
  EXPECT_EQ(Contains(out, "listen.unix_socket"), "");
  EXPECT_EQ(Contains(out, first_->dir() + "/dkd.sock"), "");
  EXPECT_EQ(Contains(out, pid_text()), "");
  ExpectServing(*first_);
}

TEST_F(SecondInstanceTest, RefusesOtherSpellingsOfTheSameSocketPath) {
  // Through "unix://", a "." component, and a symbolic link to the directory.
  const std::string link = dir_ + "/link";
  ASSERT_EQ(symlink(first_->dir().c_str(), link.c_str()), 0);
  for (const std::string& spelling : {"unix://" + first_->dir() + "/dkd.sock",
                                      first_->dir() + "/./dkd.sock", link + "/dkd.sock"}) {
    CommandResult r = SecondDkd(dir_, spelling, "127.0.0.1:0", "127.0.0.1:0");
    EXPECT_NE(r.exit_code, 0) << spelling;
    EXPECT_NE(r.exit_code, 124) << spelling;
    EXPECT_EQ(Contains(r.out + r.err, pid_text()), "") << spelling;
  }
  ExpectServing(*first_);
}

TEST_F(SecondInstanceTest, RefusesTheSameTcpPortNamingTheHolder) {
  CommandResult r = SecondDkd(dir_, dir_ + "/second.sock", first_->tcp_target(), "127.0.0.1:0");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.exit_code, 124);
  const std::string out = r.out + r.err;
  EXPECT_EQ(Contains(out, "listen.tcp"), "");
  EXPECT_EQ(Contains(out, first_->tcp_target()), "");
  EXPECT_EQ(Contains(out, pid_text() + " (dkd)"), "");
  ExpectServing(*first_);
  // Nor does "localhost" or the wildcard address reach the same port.
  for (const std::string host : {"localhost", "0.0.0.0"}) {
    r = RunCommand({"timeout", "30", DKD_BINARY, "--engine", TestEngineHost(), "--unix-socket",
                    dir_ + "/third.sock", "--tcp",
                    absl::StrCat(host, ":", first_->tcp_target().substr(10)), "--http",
                    "127.0.0.1:0", "--insecure-tcp"});
    EXPECT_NE(r.exit_code, 0) << host;
    EXPECT_NE(r.exit_code, 124) << host;
  }
  ExpectServing(*first_);
}

TEST_F(SecondInstanceTest, RefusesTheSameHttpPortNamingTheHolder) {
  const std::string http = absl::StrCat("127.0.0.1:", first_->http_port());
  CommandResult r = SecondDkd(dir_, dir_ + "/second.sock", "127.0.0.1:0", http);
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.exit_code, 124);
  const std::string out = r.out + r.err;
  EXPECT_EQ(Contains(out, "http.listen"), "");
  EXPECT_EQ(Contains(out, pid_text() + " (dkd)"), "");
  ExpectServing(*first_);
}

TEST_F(SecondInstanceTest, RefusesEveryAddressAtOnceAndTheFirstServesAfterItExits) {
  CommandResult r = SecondDkd(dir_, first_->dir() + "/dkd.sock", first_->tcp_target(),
                              absl::StrCat("127.0.0.1:", first_->http_port()));
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.exit_code, 124);
  // The second has exited (RunCommand waited): the first answers on all of
  // its addresses, many times over, so no connection went to a sharer.
  for (int i = 0; i < 20; ++i) ExpectServing(*first_);
}

// True when this process can bind `port` on 127.0.0.1 with SO_REUSEPORT,
// i.e. the listener there would share its connections with us.
bool CanShare(int port) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  const int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(static_cast<uint16_t>(port));
  const bool bound = bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0;
  close(fd);
  return bound;
}

TEST_F(SecondInstanceTest, NoProcessCanShareItsPortsThroughSoReuseport) {
  EXPECT_FALSE(CanShare(std::atoi(first_->tcp_target().substr(10).c_str()))) << "gRPC port";
  EXPECT_FALSE(CanShare(first_->http_port())) << "HTTP port";
  ExpectServing(*first_);
}

// Binds a unix socket at `path`; listens when `listen_too`. Returns the fd.
int BindUnix(const std::string& path, bool listen_too) {
  const int fd = socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  std::strncpy(a.sun_path, path.c_str(), sizeof(a.sun_path) - 1);
  if (bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) ADD_FAILURE() << "bind " << path;
  if (listen_too) listen(fd, 4);
  return fd;
}

TEST(UnixSocketClaimTest, AStaleSocketIsReplacedButALiveOneNeverIs) {
  const std::string dir = MakeTempDir();
  const std::string path = dir + "/dkd.sock";
  {  // Someone else serves the path without dkd's lock: it is left alone.
    const int live = BindUnix(path, true);
    CommandResult r = SecondDkd(dir, path, "127.0.0.1:0", "127.0.0.1:0");
    EXPECT_NE(r.exit_code, 0);
    EXPECT_NE(r.exit_code, 124);
    EXPECT_EQ(Contains(r.out + r.err, absl::StrCat("pid ", getpid())), "");
    struct stat st {};
    EXPECT_EQ(lstat(path.c_str(), &st), 0) << "the live socket was deleted";
    close(live);
  }
  // Now nothing listens there: a stale file, which dkd replaces and serves.
  CommandResult r = RunCommand(
      {"sh", "-c",
       absl::StrCat("exec timeout 30 ", DKD_BINARY, " --engine ", TestEngineHost(),
                    " --unix-socket ", path, " --tcp '' --http '' --port-file ", dir,
                    "/port & pid=$!; i=0; while [ ! -s ", dir,
                    "/port ] && [ $i -lt 500 ]; do sleep 0.02; i=$((i+1)); done; kill $pid; "
                    "wait $pid")});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  RunCommand({"rm", "-rf", dir});
}

TEST(UnixSocketClaimTest, ALockFileOwnedBySomeoneElseIsRefused) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root to give the file away";
  const std::string dir = MakeTempDir();
  const std::string path = dir + "/dkd.sock";
  RunCommand({"touch", path + ".lock"});
  RunCommand({"chown", "65534", path + ".lock"});
  CommandResult r = SecondDkd(dir, path, "127.0.0.1:0", "127.0.0.1:0");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_EQ(Contains(r.out + r.err, "belongs to uid 65534"), "");
  // A symbolic link in its place is not followed either.
  RunCommand({"rm", "-f", path + ".lock"});
  RunCommand({"ln", "-s", dir + "/elsewhere", path + ".lock"});
  r = SecondDkd(dir, path, "127.0.0.1:0", "127.0.0.1:0");
  EXPECT_NE(r.exit_code, 0);
  struct stat st {};
  EXPECT_NE(lstat((dir + "/elsewhere").c_str(), &st), 0) << "the link was followed";
  RunCommand({"rm", "-rf", dir});
}

TEST(ShutdownReadinessTest, ReadyzAnswers503AsSoonAsShutdownStarts) {
  ASSERT_FALSE(Base().empty());
  auto d = DaemonProcess::Start({"", {"--shutdown-grace", "4"}});
  ASSERT_TRUE(d.ok()) << d.status();
  ASSERT_TRUE(WaitFor([&] { return HttpGet((*d)->http_port(), "/readyz").first == 200; }));
  // A build keeps dkd in its grace period after SIGTERM.
  const std::string tag = absl::StrCat("dkd-ri-", getpid());
  std::thread build([&] {
    auto stub = DockerManager::NewStub(FreshChannel((*d)->unix_target()));
    grpc::ClientContext ctx;
    std::vector<dkd::v1::BuildEvent> events;
    Build(stub.get(), &ctx, tag, TinyContext(absl::StrCat("sleep 30 && echo ", getpid())), &events);
  });
  ASSERT_TRUE(WaitFor([&] { return Metric((*d)->http_port(), "dkd_builds_active") == 1; }));
  const int port = (*d)->http_port();
  const pid_t pid = (*d)->pid();
  ASSERT_EQ(kill(pid, SIGTERM), 0);
  const auto sent = std::chrono::steady_clock::now();
  std::pair<int, std::string> ready;
  ASSERT_TRUE(WaitFor([&] { return (ready = HttpGet(port, "/readyz")).first == 503; },
                      std::chrono::seconds(5)))
      << ready.first;
  const auto took = std::chrono::steady_clock::now() - sent;
  EXPECT_LT(took, std::chrono::seconds(1));
  EXPECT_EQ(Contains(ready.second, "shutting down"), "");
  EXPECT_EQ(kill(pid, 0), 0) << "dkd had already exited: the check proves nothing";
  EXPECT_EQ(HttpGet(port, "/healthz").first, 200) << "alive during the grace";
  EXPECT_EQ((*d)->Stop(SIGTERM), 0);
  build.join();
  RunCommand({"docker", "-H", TestEngineHost(), "rmi", "-f", tag + ":1"});
}

// Seconds from SIGTERM to exit of a dkd with `idle_clients` connected, idle
// channels (each made one call, then nothing).
double ExitSeconds(int idle_clients) {
  auto d = DaemonProcess::Start({"", {"--shutdown-grace", "10"}});
  if (!d.ok()) {
    ADD_FAILURE() << d.status();
    return -1;
  }
  std::vector<std::shared_ptr<grpc::Channel>> channels;
  for (int i = 0; i < idle_clients; ++i) {
    channels.push_back(FreshChannel(i % 2 == 0 ? (*d)->unix_target() : (*d)->tcp_target()));
    grpc::Status s = Ping(channels.back(), i % 2 == 0 ? "" : (*d)->LocalToken());
    EXPECT_TRUE(s.ok()) << s.error_message();
    EXPECT_EQ(channels.back()->GetState(false), GRPC_CHANNEL_READY);
  }
  const auto start = std::chrono::steady_clock::now();
  const int code = (*d)->Stop(SIGTERM);
  EXPECT_EQ(code, 0);
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

TEST(ShutdownReadinessTest, IdleConnectedClientsDoNotDelayExit) {
  const double alone = ExitSeconds(0);
  const double with_clients = ExitSeconds(4);
  std::cout << "exit after SIGTERM: " << alone << " s alone, " << with_clients
            << " s with 4 idle clients\n";
  EXPECT_LT(alone, 1.5);
  EXPECT_LT(with_clients, 1.5) << "alone: " << alone << " s";
}

}  // namespace
}  // namespace dkd::testing
