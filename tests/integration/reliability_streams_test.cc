// Open streams cost no thread: 1,000 followed logs and 300 waits against a
// real engine, counted from /proc; a slow reader pauses the engine stream.
#include <arpa/inet.h>
#include <dirent.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "dkd/v1/docker_manager.grpc.pb.h"
#include "tests/integration/reliability_helpers.h"

namespace dkd::testing {
namespace {

using grpc::StatusCode;

// A field of /proc/PID/status ("Threads", "VmRSS"), as a number.
long ProcStatus(pid_t pid, const std::string& field) {
  std::ifstream in(absl::StrCat("/proc/", pid, "/status"));
  for (std::string line; std::getline(in, line);) {
    if (line.rfind(field + ":", 0) == 0) return std::atol(line.c_str() + field.size() + 1);
  }
  return -1;
}

int OpenFds(pid_t pid) {
  DIR* d = opendir(absl::StrCat("/proc/", pid, "/fd").c_str());
  if (d == nullptr) return -1;
  int n = 0;
  while (readdir(d) != nullptr) ++n;
  closedir(d);
  return n - 2;
}

// Many server streams read on one completion queue and one thread.
class AsyncFollowers {
 public:
  struct Stream {
    grpc::ClientContext ctx;
    std::unique_ptr<grpc::ClientAsyncReader<dkd::v1::LogEntry>> reader;
    dkd::v1::LogEntry entry;
    grpc::Status status;
    std::atomic<int> entries{0};
    std::atomic<bool> done{false};
  };

  AsyncFollowers(const std::vector<std::unique_ptr<dkd::v1::DockerManager::Stub>>& stubs,
                 const std::string& id, const std::string& token, int n)
      : streams_(n) {
    for (int i = 0; i < n; ++i) {
      streams_[i] = std::make_unique<Stream>();
      Stream& s = *streams_[i];
      s.ctx.AddMetadata("authorization", "Bearer " + token);
      dkd::v1::ContainerLogsRequest req;
      req.set_id(id);
      req.set_follow(true);
      s.reader = stubs[i % stubs.size()]->PrepareAsyncContainerLogs(&s.ctx, req, &cq_);
      s.reader->StartCall(Tag(i, kStarted));
    }
    thread_ = std::thread([this] { Drive(); });
  }
  ~AsyncFollowers() {
    for (auto& s : streams_) s->ctx.TryCancel();
    thread_.join();
  }

  int WithEntries(int at_least) const {
    int n = 0;
    for (const auto& s : streams_) n += s->entries.load() >= at_least;
    return n;
  }
  int Done() const {
    int n = 0;
    for (const auto& s : streams_) n += s->done.load();
    return n;
  }
  const std::vector<std::unique_ptr<Stream>>& streams() const { return streams_; }

 private:
  enum Op { kStarted = 0, kRead = 1, kFinished = 2 };
  static void* Tag(int i, Op op) {
    return reinterpret_cast<void*>(static_cast<intptr_t>(i * 4 + op));
  }

  void Drive() {
    void* tag;
    bool ok;
    int finished = 0;
    const int n = static_cast<int>(streams_.size());
    while (finished < n && cq_.Next(&tag, &ok)) {
      const intptr_t t = reinterpret_cast<intptr_t>(tag);
      const int i = static_cast<int>(t / 4);
      Stream& s = *streams_[i];
      switch (static_cast<Op>(t % 4)) {
        case kStarted:
        case kRead:
          if (t % 4 == kRead && ok) ++s.entries;
          if (ok) {
            s.reader->Read(&s.entry, Tag(i, kRead));
          } else {
            s.reader->Finish(&s.status, Tag(i, kFinished));
          }
          break;
        case kFinished:
          s.done = true;
          ++finished;
          break;
      }
    }
    cq_.Shutdown();
    while (cq_.Next(&tag, &ok)) {
    }
  }

  grpc::CompletionQueue cq_;
  std::vector<std::unique_ptr<Stream>> streams_;
  std::thread thread_;
};

// Distinct channel arguments give each stub its own connection.
std::vector<std::unique_ptr<dkd::v1::DockerManager::Stub>> Stubs(const std::string& target, int n) {
  std::vector<std::unique_ptr<dkd::v1::DockerManager::Stub>> stubs;
  for (int i = 0; i < n; ++i) {
    grpc::ChannelArguments args;
    args.SetInt("dkd.test.connection", i);
    stubs.push_back(dkd::v1::DockerManager::NewStub(
        grpc::CreateCustomChannel(target, grpc::InsecureChannelCredentials(), args)));
  }
  return stubs;
}

TEST(StreamThreadsTest, ThousandFollowedLogsAndThreeHundredWaitsHoldUnder64Threads) {
  auto d = StartDaemon(
      {"",
       {},
       TokenConfig({{"reader", "read"}}, "follow",
                   R"("limits":{"max_calls_per_identity":2000,"max_streams_per_identity":2000})")});
  ASSERT_TRUE(d.ok()) << d.status();
  const pid_t pid = (*d)->pid();
  const std::string token = TokenFor("reader", "follow");
  const std::string id = Docker({"run", "-d", "--label", absl::StrCat("dkd.test.follow=", getpid()),
                                 Base(), "sh", "-c",
                                 "trap 'exit 0' TERM; i=0; while true; do echo line $i; "
                                 "i=$((i+1)); sleep 1; done"});
  ASSERT_FALSE(id.empty());
  auto stubs = Stubs((*d)->unix_target(), 10);
  ASSERT_TRUE(
      CallByName(PlainChannel((*d)->unix_target()), "/dkd.v1.DockerManager/Ping", token).ok());
  const long threads_before = ProcStatus(pid, "Threads");
  const int fds_before = OpenFds(pid);
  {
    AsyncFollowers follows(stubs, id, token, 1000);
    // Every stream is live: each gets a line printed after it opened.
    ASSERT_TRUE(WaitFor([&] { return follows.WithEntries(1) == 1000; }, std::chrono::seconds(90)))
        << follows.WithEntries(1) << " of 1000 streams got a line; " << follows.Done() << " ended";
    const int first = follows.streams()[0]->entries.load();
    ASSERT_TRUE(
        WaitFor([&] { return follows.WithEntries(first + 2) == 1000; }, std::chrono::seconds(60)))
        << follows.WithEntries(first + 2) << " of 1000 streams kept receiving";
    AsyncWaits waits(stubs[0].get(), id, token, 300);
    ASSERT_TRUE(WaitFor([&] { return WaitsRegistered(**d) >= 300; }, std::chrono::seconds(60)))
        << WaitsRegistered(**d);
    const long threads = ProcStatus(pid, "Threads");
    const int fds = OpenFds(pid);
    const long rss_kib = ProcStatus(pid, "VmRSS");
    ::testing::Test::RecordProperty("dkd_threads_before", static_cast<int>(threads_before));
    ::testing::Test::RecordProperty("dkd_threads_1000_follows_300_waits",
                                    static_cast<int>(threads));
    ::testing::Test::RecordProperty("dkd_fds", fds);
    ::testing::Test::RecordProperty("dkd_rss_kib", static_cast<int>(rss_kib));
    std::printf(
        "dkd: threads %ld -> %ld, fds %d -> %d, VmRSS %ld KiB at 1000 follows + 300 waits\n",
        threads_before, threads, fds_before, fds, rss_kib);
    EXPECT_LT(threads, 64) << "threads before: " << threads_before;
    EXPECT_EQ(follows.Done(), 0);

    // Stopping the container ends every stream cleanly and every wait.
    Docker({"stop", "-t", "10", id});
    ASSERT_TRUE(WaitFor([&] { return follows.Done() == 1000; }, std::chrono::seconds(60)))
        << follows.Done();
    int ok = 0;
    for (const auto& s : follows.streams()) {
      EXPECT_TRUE(s->status.ok()) << s->status.error_code() << " " << s->status.error_message();
      ok += s->status.ok();
    }
    EXPECT_EQ(ok, 1000);
    int exited = 0;
    for (const auto& [status, code] : waits.All()) exited += status.ok() && code == 0;
    EXPECT_EQ(exited, 300);
  }
  // The engine connections are given back.
  EXPECT_TRUE(WaitFor([&] { return OpenFds(pid) <= fds_before + 20; })) << OpenFds(pid);
  Docker({"rm", "-f", id});
}

// A registry that accepts connections and never answers: pulls from it hang
// in the engine.
class SilentRegistry {
 public:
  SilentRegistry() {
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
    EXPECT_EQ(listen(fd_, 1024), 0);
    socklen_t len = sizeof(a);
    getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
  }
  ~SilentRegistry() { close(fd_); }
  int port() const { return port_; }

 private:
  int fd_ = -1;
  int port_ = 0;
};

TEST(StreamThreadsTest, TwoHundredPullsInFlightHoldNoThreadAndCancelCleanly) {
  auto d = StartDaemon(
      {"",
       {},
       TokenConfig({{"puller", "build"}}, "pull",
                   R"("limits":{"max_calls_per_identity":1000,"max_streams_per_identity":1000})")});
  ASSERT_TRUE(d.ok()) << d.status();
  const pid_t pid = (*d)->pid();
  SilentRegistry registry;
  auto stub = dkd::v1::DockerManager::NewStub(PlainChannel((*d)->unix_target()));
  ASSERT_TRUE(CallByName(PlainChannel((*d)->unix_target()), "/dkd.v1.DockerManager/Ping",
                         TokenFor("puller", "pull"))
                  .ok());
  const long threads_before = ProcStatus(pid, "Threads");
  constexpr int kPulls = 200;
  struct Pull {
    grpc::ClientContext ctx;
    std::unique_ptr<grpc::ClientReader<dkd::v1::ProgressEvent>> reader;
  };
  std::vector<std::unique_ptr<Pull>> pulls;
  for (int i = 0; i < kPulls; ++i) {
    auto p = std::make_unique<Pull>();
    p->ctx.AddMetadata("authorization", "Bearer " + TokenFor("puller", "pull"));
    dkd::v1::PullImageRequest req;
    req.set_image(absl::StrCat("127.0.0.1:", registry.port(), "/hang", i, ":1"));
    p->reader = stub->PullImage(&p->ctx, req);
    pulls.push_back(std::move(p));
  }
  // Every pull reaches the engine (each holds one engine connection).
  ASSERT_TRUE(WaitFor([&] { return OpenFds(pid) >= kPulls; }, std::chrono::seconds(30)))
      << OpenFds(pid);
  const long threads = ProcStatus(pid, "Threads");
  std::printf("dkd: threads %ld -> %ld with %d pulls in flight, %d fds\n", threads_before, threads,
              kPulls, OpenFds(pid));
  ::testing::Test::RecordProperty("dkd_threads_200_pulls", static_cast<int>(threads));
  EXPECT_LT(threads, 64);
  for (auto& p : pulls) p->ctx.TryCancel();
  int cancelled = 0;
  for (auto& p : pulls) {
    dkd::v1::ProgressEvent e;
    while (p->reader->Read(&e)) {
    }
    cancelled += p->reader->Finish().error_code() == StatusCode::CANCELLED;
  }
  EXPECT_EQ(cancelled, kPulls);
  EXPECT_TRUE(WaitFor([&] { return OpenFds(pid) < 50; })) << OpenFds(pid);
}

TEST(StreamThreadsTest, AHundredQueuedBuildsHoldNoThreadAndLeaveTheQueueWhenCancelled) {
  auto d = StartDaemon({"", {"--max-concurrent-builds", "1"}, ""});
  ASSERT_TRUE(d.ok()) << d.status();
  const pid_t pid = (*d)->pid();
  auto stub = dkd::v1::DockerManager::NewStub(PlainChannel((*d)->unix_target()));
  const std::string tag = absl::StrCat("dkd-queued-", getpid());
  // The one slot is held by a slow build (unique, so never a cached step).
  grpc::ClientContext first_ctx;
  grpc::Status first_status;
  std::thread first([&] {
    std::vector<dkd::v1::BuildEvent> events;
    first_status = Build(stub.get(), &first_ctx, tag + "-slow",
                         TinyContext(absl::StrCat("echo ", tag, " && sleep 60")), &events);
  });
  ASSERT_TRUE(WaitFor([&] { return Metric((*d)->http_port(), "dkd_builds_active") == 1; }));
  const long threads_before = ProcStatus(pid, "Threads");

  constexpr int kQueued = 100;
  std::vector<std::unique_ptr<grpc::ClientContext>> contexts;
  std::vector<grpc::Status> statuses(kQueued);
  std::vector<std::vector<dkd::v1::BuildEvent>> events(kQueued);
  std::vector<std::thread> clients;
  for (int i = 0; i < kQueued; ++i) contexts.push_back(std::make_unique<grpc::ClientContext>());
  for (int i = 0; i < kQueued; ++i) {
    clients.emplace_back([&, i] {
      statuses[i] = Build(stub.get(), contexts[i].get(), absl::StrCat(tag, "-", i),
                          TinyContext(absl::StrCat("echo ", tag, "-", i)), &events[i]);
    });
  }
  ASSERT_TRUE(WaitFor([&] { return Metric((*d)->http_port(), "dkd_builds_queued") == kQueued; }))
      << Metric((*d)->http_port(), "dkd_builds_queued");
  const long threads = ProcStatus(pid, "Threads");
  std::printf("dkd: threads %ld with one build running -> %ld with %d more queued\n",
              threads_before, threads, kQueued);
  ::testing::Test::RecordProperty("dkd_threads_100_queued_builds", static_cast<int>(threads));
  EXPECT_LT(threads, 64);
  EXPECT_LE(threads, threads_before + 8);

  for (auto& c : contexts) c->TryCancel();
  for (auto& t : clients) t.join();
  for (int i = 0; i < kQueued; ++i) {
    EXPECT_EQ(statuses[i].error_code(), StatusCode::CANCELLED) << statuses[i].error_message();
    // Each was told its place while it waited, and never started.
    ASSERT_FALSE(events[i].empty()) << i;
    EXPECT_TRUE(events[i].front().has_queued()) << i;
    for (const auto& e : events[i]) EXPECT_FALSE(e.has_result()) << i;
  }
  EXPECT_TRUE(WaitFor([&] { return Metric((*d)->http_port(), "dkd_builds_queued") == 0; }));
  EXPECT_EQ(Metric((*d)->http_port(), "dkd_builds_active"), 1);
  first_ctx.TryCancel();
  first.join();
  EXPECT_EQ(first_status.error_code(), StatusCode::CANCELLED) << first_status.error_message();
  EXPECT_TRUE(WaitFor([&] { return Metric((*d)->http_port(), "dkd_builds_active") == 0; }));
}

TEST(StreamThreadsTest, ASlowReaderPausesTheEngineStreamAndDkdMemoryStaysFlat) {
  auto d = StartDaemon({"", {}, TokenConfig({{"reader", "read"}}, "slow")});
  ASSERT_TRUE(d.ok()) << d.status();
  const pid_t pid = (*d)->pid();
  // About 100 MB a second of output: far more than any buffer on the way.
  const std::string id = Docker({"run", "-d", "--label", absl::StrCat("dkd.test.slow=", getpid()),
                                 Base(), "sh", "-c", "yes 0123456789abcdef0123456789abcdef"});
  ASSERT_FALSE(id.empty());
  auto stub = dkd::v1::DockerManager::NewStub(PlainChannel((*d)->unix_target()));
  grpc::ClientContext ctx;
  ctx.AddMetadata("authorization", "Bearer " + TokenFor("reader", "slow"));
  dkd::v1::ContainerLogsRequest req;
  req.set_id(id);
  req.set_follow(true);
  req.mutable_tail()->set_value(0);
  auto reader = stub->ContainerLogs(&ctx, req);
  dkd::v1::LogEntry e;
  ASSERT_TRUE(reader->Read(&e));
  const long rss_start = ProcStatus(pid, "VmRSS");
  // The reader stops reading for 4 s while the container keeps printing.
  std::this_thread::sleep_for(std::chrono::seconds(4));
  const long rss_paused = ProcStatus(pid, "VmRSS");
  // It reads again and the stream is still whole, line by line.
  int lines = 0;
  while (lines < 2000 && reader->Read(&e)) {
    EXPECT_EQ(e.data(), "0123456789abcdef0123456789abcdef\n");
    ++lines;
  }
  EXPECT_EQ(lines, 2000);
  const long rss_after = ProcStatus(pid, "VmRSS");
  std::printf("dkd VmRSS: %ld KiB at start, %ld KiB after 4 s unread, %ld KiB reading again\n",
              rss_start, rss_paused, rss_after);
  ::testing::Test::RecordProperty("dkd_rss_growth_kib", static_cast<int>(rss_paused - rss_start));
  EXPECT_LT(rss_paused - rss_start, 32 * 1024);
  ctx.TryCancel();
  grpc::Status s = reader->Finish();
  EXPECT_EQ(s.error_code(), StatusCode::CANCELLED) << s.error_message();
  Docker({"rm", "-f", id});
}

}  // namespace
}  // namespace dkd::testing
