// The build queue under load, against a real dkd and the real engine: every
// queued build finishes and its client gets the result, waiting costs no CPU,
// the queue is FIFO, and a build that is cancelled or runs out of time while
// queued leaves the queue consistent and is audited with the right code.
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <iostream>
#include <memory>
#include <mutex>
#include <set>
#include <thread>

#include "nlohmann/json.hpp"
#include "tests/integration/reliability_helpers.h"

namespace dkd::testing {
namespace {

using dkd::v1::DockerManager;
using grpc::StatusCode;

std::string Contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos ? "" : "missing \"" + part + "\" in:\n" + text;
}

std::string Tag(const std::string& what) { return absl::StrCat("dkd-rq-", getpid(), "-", what); }

void RemoveImages(const std::vector<std::string>& tags) {
  std::vector<std::string> argv = {"docker", "-H", TestEngineHost(), "rmi", "-f"};
  for (const auto& t : tags) argv.push_back(t + ":1");
  RunCommand(argv);
}

// Removes the images a test built, however it ends (a failed ASSERT too).
struct ImagesCleanup {
  std::vector<std::string> tags;
  ~ImagesCleanup() { RemoveImages(tags); }
};

struct Outcome {
  grpc::Status status;
  std::vector<dkd::v1::BuildEvent> events;
  int first_position = 0;  // From the first queued event; 0 when never queued.
  bool got_result() const { return !events.empty() && events.back().has_result(); }
};

// Builds `context` as `tag`, with a client deadline of `timeout`.
Outcome BuildWithDeadline(const std::shared_ptr<grpc::Channel>& channel, const std::string& tag,
                          const std::string& context, std::chrono::seconds timeout) {
  auto stub = DockerManager::NewStub(channel);
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + timeout);
  Outcome o;
  o.status = Build(stub.get(), &ctx, tag, context, &o.events);
  for (const auto& e : o.events) {
    if (e.has_queued()) {
      o.first_position = e.queued().position();
      break;
    }
  }
  return o;
}

TEST(BuildQueueReliabilityTest, TwelveConcurrentBuildsOnFourSlotsAllFinishTwentyTimesOver) {
  ASSERT_FALSE(Base().empty()) << "run eval \"$(scripts/fixtures.sh env)\"";
  auto d = StartDaemon({"", {"--max-concurrent-builds", "4"}, ""});
  ASSERT_TRUE(d.ok()) << d.status();
  constexpr int kBuilds = 12;
  std::vector<std::string> tags;
  for (int i = 0; i < kBuilds; ++i) tags.push_back(Tag(absl::StrCat("c", i)));
  ImagesCleanup cleanup{tags};
  int queued_clients = 0;
  for (int round = 0; round < 20; ++round) {
    std::vector<Outcome> outcomes(kBuilds);
    std::vector<std::thread> clients;
    for (int i = 0; i < kBuilds; ++i) {
      clients.emplace_back([&, i] {
        // A channel per client: separate connections, as separate CI jobs.
        grpc::ChannelArguments args;
        args.SetInt("grpc.use_local_subchannel_pool", 1);
        auto channel = grpc::CreateCustomChannel((*d)->unix_target(),
                                                 grpc::InsecureChannelCredentials(), args);
        // Distinct steps, so no build is served whole from the cache.
        outcomes[i] = BuildWithDeadline(
            channel, tags[i], TinyContext(absl::StrCat("echo ", round, "-", i, " > /round")),
            std::chrono::seconds(120));
      });
    }
    for (auto& c : clients) c.join();
    for (int i = 0; i < kBuilds; ++i) {
      const Outcome& o = outcomes[i];
      ASSERT_TRUE(o.status.ok()) << "round " << round << " build " << i << ": "
                                 << o.status.error_message() << "\n"
                                 << (*d)->Log().substr(0, 4000);
      ASSERT_TRUE(o.got_result()) << "round " << round << " build " << i;
      EXPECT_FALSE(o.events.back().result().image_id().empty());
      if (o.first_position > 0) {
        ++queued_clients;
        EXPECT_LE(o.first_position, kBuilds - 4) << "more ahead than can be waiting";
      }
    }
    EXPECT_TRUE(WaitFor([&] {
      return Metric((*d)->http_port(), "dkd_builds_active") == 0 &&
             Metric((*d)->http_port(), "dkd_builds_queued") == 0;
    })) << "round "
        << round;
  }
  // Twelve at once on four slots: builds did queue (and still all finished).
  EXPECT_GT(queued_clients, 0);
}

TEST(BuildQueueReliabilityTest, QueuedBuildsCostNoCpuAndStartInArrivalOrder) {
  ASSERT_FALSE(Base().empty());
  auto d = StartDaemon({"", {"--max-concurrent-builds", "1"}, ""});
  ASSERT_TRUE(d.ok()) << d.status();
  auto channel = PlainChannel((*d)->unix_target());
  const std::string slow_tag = Tag("slow");
  ImagesCleanup cleanup{{slow_tag}};
  for (int i = 0; i < 8; ++i) cleanup.tags.push_back(Tag(absl::StrCat("w", i)));
  Outcome slow;
  std::thread slow_client([&] {
    slow = BuildWithDeadline(channel, slow_tag,
                             TinyContext(absl::StrCat("sleep 6 && echo ", getpid(), " > /s")),
                             std::chrono::seconds(120));
  });
  ASSERT_TRUE(WaitFor([&] { return Metric((*d)->http_port(), "dkd_builds_active") == 1; }));
  constexpr int kWaiting = 8;
  std::vector<std::string> tags;
  std::vector<Outcome> outcomes(kWaiting);
  std::mutex order_mu;
  std::vector<int> finished;  // Client indexes in the order their results came.
  std::vector<std::thread> clients;
  for (int i = 0; i < kWaiting; ++i) {
    tags.push_back(Tag(absl::StrCat("w", i)));
    clients.emplace_back([&, i] {
      outcomes[i] = BuildWithDeadline(channel, tags[i],
                                      TinyContext(absl::StrCat("echo ", getpid(), "-", i, " > /w")),
                                      std::chrono::seconds(120));
      std::lock_guard<std::mutex> lock(order_mu);
      finished.push_back(i);
    });
  }
  ASSERT_TRUE(WaitFor([&] { return Metric((*d)->http_port(), "dkd_builds_queued") == kWaiting; }));
  // Eight builds waiting behind a slow one: dkd is near idle.
  const double before = CpuSecondsOf((*d)->pid());
  const auto t0 = std::chrono::steady_clock::now();
  std::this_thread::sleep_for(std::chrono::seconds(1));
  const double cpu = CpuSecondsOf((*d)->pid()) - before;
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const bool still_queued = Metric((*d)->http_port(), "dkd_builds_queued") == kWaiting;
  std::cout << "dkd CPU with " << kWaiting << " builds queued: " << cpu << " s in " << wall
            << " s\n";
  EXPECT_LT(cpu / wall, 0.05) << "dkd used " << cpu << " s CPU in " << wall << " s while queued";
  slow_client.join();
  for (auto& c : clients) c.join();
  ASSERT_TRUE(slow.status.ok()) << slow.status.error_message();
  EXPECT_TRUE(slow.got_result());
  std::set<int> positions;
  for (int i = 0; i < kWaiting; ++i) {
    ASSERT_TRUE(outcomes[i].status.ok()) << i << ": " << outcomes[i].status.error_message();
    EXPECT_TRUE(outcomes[i].got_result()) << i;
    positions.insert(outcomes[i].first_position);
  }
  if (still_queued) {
    // All eight were queued at once: each was told a distinct place, 1..8,
    // and with one slot they finished in exactly that order.
    EXPECT_EQ(positions.size(), static_cast<size_t>(kWaiting));
    EXPECT_EQ(*positions.begin(), 1);
    EXPECT_EQ(*positions.rbegin(), kWaiting);
    ASSERT_EQ(finished.size(), static_cast<size_t>(kWaiting));
    for (int k = 0; k < kWaiting; ++k) {
      EXPECT_EQ(outcomes[finished[k]].first_position, k + 1) << "finish #" << k;
    }
  }
}

// The audit line of the BuildImage call for `target`, or null.
nlohmann::json AuditLineFor(const std::string& audit_file, const std::string& target) {
  std::stringstream ss(Slurp(audit_file));
  for (std::string line; std::getline(ss, line);) {
    auto j = nlohmann::json::parse(line, nullptr, false);
    if (j.is_object() && j.value("rpc", "") == "BuildImage" && j.value("target", "") == target) {
      return j;
    }
  }
  return nullptr;
}

TEST(BuildQueueReliabilityTest, CancelledAndExpiredQueuedBuildsLeaveTheQueueAndAreAudited) {
  ASSERT_FALSE(Base().empty());
  const std::string dir = MakeTempDir();
  const std::string audit = dir + "/audit.log";
  auto d = StartDaemon({"", {"--max-concurrent-builds", "1", "--audit-log", audit}, ""});
  ASSERT_TRUE(d.ok()) << d.status();
  auto channel = PlainChannel((*d)->unix_target());
  const std::string slow_tag = Tag("hold"), late_tag = Tag("late"), gone_tag = Tag("gone"),
                    after_tag = Tag("after");
  ImagesCleanup cleanup{{slow_tag, late_tag, gone_tag, after_tag}};
  Outcome slow, after, late;
  std::thread slow_client([&] {
    slow = BuildWithDeadline(channel, slow_tag,
                             TinyContext(absl::StrCat("sleep 5 && echo ", getpid(), " > /h")),
                             std::chrono::seconds(120));
  });
  ASSERT_TRUE(WaitFor([&] { return Metric((*d)->http_port(), "dkd_builds_active") == 1; }));
  // Queued first, with a deadline shorter than the slow build.
  std::thread late_client([&] {
    late = BuildWithDeadline(channel, late_tag, TinyContext("true"), std::chrono::seconds(2));
  });
  ASSERT_TRUE(WaitFor([&] { return Metric((*d)->http_port(), "dkd_builds_queued") == 1; }));
  // Queued second, cancelled by its client once it is told its place and the
  // third build has queued behind it.
  grpc::Status gone_status;
  int gone_position = 0;
  std::atomic<bool> release_gone{false};
  std::thread gone_client([&] {
    auto stub = DockerManager::NewStub(channel);
    grpc::ClientContext ctx;
    auto stream = stub->BuildImage(&ctx);
    dkd::v1::BuildImageRequest first;
    first.mutable_spec()->mutable_config()->set_image_name(gone_tag);
    first.mutable_spec()->mutable_config()->set_tag("1");
    first.mutable_spec()->set_no_pull(true);
    stream->Write(first);
    dkd::v1::BuildImageRequest chunk;
    chunk.set_context_chunk(TinyContext("true"));
    stream->Write(chunk);
    stream->WritesDone();
    dkd::v1::BuildEvent e;
    if (stream->Read(&e) && e.has_queued()) gone_position = e.queued().position();
    WaitFor([&] { return release_gone.load(); });
    ctx.TryCancel();
    while (stream->Read(&e)) {
    }
    gone_status = stream->Finish();
  });
  ASSERT_TRUE(WaitFor([&] { return Metric((*d)->http_port(), "dkd_builds_queued") == 2; }));
  // Queued third: moves up as the two ahead leave, and builds.
  std::thread after_client([&] {
    after = BuildWithDeadline(channel, after_tag, TinyContext(absl::StrCat("echo ", getpid())),
                              std::chrono::seconds(120));
  });
  EXPECT_TRUE(WaitFor([&] { return Metric((*d)->http_port(), "dkd_builds_queued") == 3; }));
  release_gone = true;
  late_client.join();
  gone_client.join();
  EXPECT_EQ(late.status.error_code(), StatusCode::DEADLINE_EXCEEDED);
  EXPECT_EQ(gone_position, 2);
  EXPECT_EQ(gone_status.error_code(), StatusCode::CANCELLED);
  // Both left while the slow build still ran; only the third still waits.
  EXPECT_TRUE(WaitFor([&] { return Metric((*d)->http_port(), "dkd_builds_queued") == 1; }));
  EXPECT_EQ(Metric((*d)->http_port(), "dkd_builds_active"), 1);
  slow_client.join();
  after_client.join();
  ASSERT_TRUE(slow.status.ok()) << slow.status.error_message();
  ASSERT_TRUE(after.status.ok()) << after.status.error_message();
  EXPECT_TRUE(after.got_result());
  EXPECT_EQ(after.first_position, 3);
  // Neither departed build reached the engine.
  for (const auto& t : {late_tag, gone_tag}) {
    EXPECT_NE(
        RunCommand({"docker", "-H", TestEngineHost(), "image", "inspect", t + ":1"}).exit_code, 0)
        << t;
  }
  // The queue is whole again: a new build starts at once.
  Outcome next =
      BuildWithDeadline(channel, after_tag, TinyContext("true"), std::chrono::seconds(60));
  EXPECT_TRUE(next.status.ok()) << next.status.error_message();
  EXPECT_EQ(next.first_position, 0) << "queued behind a lost slot";
  // Audited with why they ended and what they were building.
  ASSERT_TRUE(WaitFor([&] {
    return !AuditLineFor(audit, late_tag + ":1").is_null() &&
           !AuditLineFor(audit, gone_tag + ":1").is_null();
  }));
  const nlohmann::json late_line = AuditLineFor(audit, late_tag + ":1");
  EXPECT_EQ(late_line.value("code", ""), "DEADLINE_EXCEEDED") << late_line.dump();
  EXPECT_EQ(late_line.value("outcome", ""), "failed") << late_line.dump();
  const nlohmann::json gone_line = AuditLineFor(audit, gone_tag + ":1");
  EXPECT_EQ(gone_line.value("code", ""), "CANCELLED") << gone_line.dump();
  EXPECT_EQ(Slurp(audit).find("must carry the BuildSpec"), std::string::npos) << Slurp(audit);
  RunCommand({"rm", "-rf", dir});
}

TEST(BuildQueueReliabilityTest, DkdsOwnDeadlinePassingWhileQueuedIsAuditedWithTheTarget) {
  ASSERT_FALSE(Base().empty());
  const std::string dir = MakeTempDir();
  const std::string audit = dir + "/audit.log";
  // dkd's default deadline applies to calls that bring none of their own.
  auto d = StartDaemon({"",
                        {"--max-concurrent-builds", "1", "--audit-log", audit},
                        R"({"limits": {"deadlines": {"BuildImage": 2}}})"});
  ASSERT_TRUE(d.ok()) << d.status();
  auto channel = PlainChannel((*d)->unix_target());
  const std::string slow_tag = Tag("own-hold"), late_tag = Tag("own-late");
  ImagesCleanup cleanup{{slow_tag, late_tag}};
  Outcome slow;
  std::thread slow_client([&] {
    slow = BuildWithDeadline(channel, slow_tag,
                             TinyContext(absl::StrCat("sleep 5 && echo ", getpid(), " > /o")),
                             std::chrono::seconds(120));
  });
  ASSERT_TRUE(WaitFor([&] { return Metric((*d)->http_port(), "dkd_builds_active") == 1; }));
  auto stub = DockerManager::NewStub(channel);
  grpc::ClientContext ctx;  // No deadline of its own.
  std::vector<dkd::v1::BuildEvent> events;
  const auto started = std::chrono::steady_clock::now();
  grpc::Status s = Build(stub.get(), &ctx, late_tag, TinyContext("true"), &events);
  const auto took = std::chrono::steady_clock::now() - started;
  EXPECT_EQ(s.error_code(), StatusCode::DEADLINE_EXCEEDED) << s.error_message();
  EXPECT_EQ(Contains(s.error_message(), "limits.deadlines.BuildImage"), "");
  EXPECT_LT(took, std::chrono::seconds(4)) << "ended by the slow build, not by the deadline";
  ASSERT_FALSE(events.empty());
  EXPECT_TRUE(events.front().has_queued());
  slow_client.join();
  EXPECT_TRUE(slow.status.ok()) << slow.status.error_message();
  ASSERT_TRUE(WaitFor([&] { return !AuditLineFor(audit, late_tag + ":1").is_null(); }));
  const nlohmann::json line = AuditLineFor(audit, late_tag + ":1");
  EXPECT_EQ(line.value("code", ""), "DEADLINE_EXCEEDED") << line.dump();
  EXPECT_EQ(Metric((*d)->http_port(), "dkd_builds_queued"), 0);
  RunCommand({"rm", "-rf", dir});
}

}  // namespace
}  // namespace dkd::testing
