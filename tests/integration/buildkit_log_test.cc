// A BuildKit step's log through a real dkd: what the engine's BuildKit does
// with a big log, and that dkd passes all of it in bounded memory.
//
// The BuildKit in docker.io 20.10 limits each step's log (util/progress/logs):
// past 1 MiB, or faster than 100 KiB/s once a burst of 200 KiB is spent, it
// drops the rest and writes "[output clipped, log limit ... reached]" in its
// place. Only dockerd's environment moves the limits
// (BUILDKIT_STEP_LOG_MAX_SIZE, BUILDKIT_STEP_LOG_MAX_SPEED, in bytes; this
// version takes -1 literally, as a limit of -1 bytes, not as "none"). So:
// - on the shared engine, a 3 MiB log arrives clipped, with the engine's
//   marker, and the build still succeeds;
// - on an engine this test starts with both limits at 1 GiB, a 1 MiB log
//   (five times the default burst) arrives whole, line for line, with dkd's
//   peak RSS bounded. Larger logs cannot be shown on this engine: with the
//   limits raised, a step that logs 3 MiB or more never completes (dkd
//   receives every byte within a second, then the engine sends nothing
//   more; Debian's docker 20.10 CLI against the same engine does not finish
//   either). dkd's own bound on a 100 MiB build log is shown on the classic
//   builder (scripts/bench.sh).
#include <chrono>
#include <fstream>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "dkd/v1/docker_manager.grpc.pb.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/integration/security_helpers.h"
#include "tests/support/daemon_fixture.h"
#include "tests/support/tar_craft.h"
#include "tests/support/test_engine.h"

namespace dkd::testing {
namespace {

using v1::BuildEvent;

// Each line the step prints: 63 characters and a newline.
constexpr char kLine[] = "dkd-log-0123456789abcdefghijklmnopqrstuvwxyz-0123456789ABCDEFGH";
static_assert(sizeof(kLine) - 1 == 63);

// What a build's vertex logs added up to.
struct LogTally {
  int64_t bytes = 0;           // Of every vertex log.
  int64_t good_lines = 0;      // Lines equal to kLine.
  int64_t other_lines = 0;     // Any other complete line.
  std::string clipped_marker;  // The engine's clip line, if any.
  std::string partial;         // An unfinished line.
  bool result = false;
};

void Tally(LogTally& t, const std::string& data) {
  t.bytes += static_cast<int64_t>(data.size());
  t.partial += data;
  size_t start = 0;
  for (size_t nl; (nl = t.partial.find('\n', start)) != std::string::npos; start = nl + 1) {
    absl::string_view line(t.partial.data() + start, nl - start);
    if (line == kLine) {
      ++t.good_lines;
    } else {
      if (absl::StrContains(line, "output clipped")) t.clipped_marker = std::string(line);
      ++t.other_lines;
    }
  }
  t.partial.erase(0, start);
}

// Builds, with BuildKit, a step that prints `bytes` of kLine lines.
grpc::Status BuildLog(const DaemonProcess& d, const std::string& base, int64_t bytes,
                      const std::string& tag, LogTally& tally) {
  auto stub = v1::DockerManager::NewStub(PlainChannel(d.unix_target()));
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(120));
  auto stream = stub->BuildImage(&ctx);
  v1::BuildImageRequest first;
  v1::BuildSpec* spec = first.mutable_spec();
  spec->mutable_config()->set_image_name(tag);
  spec->mutable_config()->set_tag("1");
  spec->set_no_pull(true);
  spec->set_no_cache(true);
  spec->set_builder(v1::BuildSpec::BUILDER_BUILDKIT);
  stream->Write(first);
  v1::BuildImageRequest chunk;
  chunk.set_context_chunk(TarFile("Dockerfile", absl::StrCat("FROM ", base, "\nRUN yes ", kLine,
                                                             " | head -c ", bytes, "\n")) +
                          TarEnd());
  stream->Write(chunk);
  stream->WritesDone();
  BuildEvent e;
  while (stream->Read(&e)) {
    if (e.has_vertex_log()) Tally(tally, e.vertex_log().data());
    if (e.has_result()) tally.result = true;
  }
  return stream->Finish();
}

// VmHWM of `pid`, in KiB.
int64_t PeakRssKiB(pid_t pid) {
  std::ifstream in(absl::StrCat("/proc/", pid, "/status"));
  std::string line;
  while (std::getline(in, line)) {
    if (!absl::StartsWith(line, "VmHWM:")) continue;
    int64_t kib = 0;
    std::vector<absl::string_view> parts = absl::StrSplit(
        absl::StripPrefix(line, "VmHWM:"), absl::ByAnyChar(" \t"), absl::SkipEmpty());
    if (!parts.empty() && absl::SimpleAtoi(parts[0], &kib)) return kib;
  }
  return -1;
}

TEST(BuildKitLogTest, TheEnginesDefaultLimitClipsTheLogAndDkdPassesItsMarker) {
  auto d = DaemonProcess::Start({"", {}});
  ASSERT_TRUE(d.ok()) << d.status();
  LogTally tally;
  const int64_t bytes = 3 << 20;
  const std::string tag = absl::StrCat("dkdt-bklog-clip-", getpid());
  grpc::Status s = BuildLog(**d, FixtureEnv("DKD_TEST_BASE_IMAGE"), bytes, tag, tally);
  Docker({"rmi", "-f", tag + ":1"});
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_TRUE(tally.result);
  // What the engine let through (its burst, at least 200 KiB), then its own
  // line saying it clipped the rest; every line before it intact.
  std::cout << "engine passed " << tally.good_lines * 64 << " of " << bytes << " bytes, then \""
            << tally.clipped_marker << "\"\n";
  EXPECT_LT(tally.bytes, bytes);
  EXPECT_GE(tally.good_lines * 64, 200 << 10);
  EXPECT_THAT(tally.clipped_marker,
              ::testing::MatchesRegex("\\[output clipped, log limit [0-9]+[KM]iB(/s)? reached\\]"));
  // The marker, and the line it cut short.
  EXPECT_LE(tally.other_lines, 2);
}

TEST(BuildKitLogTest, WithTheEnginesLimitsLiftedALogPastTheDefaultClipArrivesWhole) {
  TestEngine::Options options;
  options.env = {{"BUILDKIT_STEP_LOG_MAX_SIZE", "1073741824"},
                 {"BUILDKIT_STEP_LOG_MAX_SPEED", "1073741824"}};
  auto engine = TestEngine::Start(options);
  ASSERT_TRUE(engine.ok()) << engine.status();
  auto d = DaemonProcess::Start({(*engine)->host(), {}});
  ASSERT_TRUE(d.ok()) << d.status();
  const int64_t before_kib = PeakRssKiB((*d)->pid());
  LogTally tally;
  const int64_t bytes = int64_t{1} << 20;
  grpc::Status s = BuildLog(**d, "busybox:latest", bytes, "dkdt-bklog-lifted", tally);
  const int64_t peak_kib = PeakRssKiB((*d)->pid());
  ASSERT_TRUE(s.ok()) << s.error_message() << "\n" << (*d)->Log();
  EXPECT_TRUE(tally.result);
  EXPECT_EQ(tally.bytes, bytes);
  EXPECT_EQ(tally.good_lines, bytes / 64);
  EXPECT_EQ(tally.other_lines, 0);
  EXPECT_EQ(tally.clipped_marker, "");
  EXPECT_EQ(tally.partial, "");
  // dkd holds a bounded window of the stream, not the log.
  std::cout << "dkd peak RSS " << before_kib / 1024 << " MiB at start, " << peak_kib / 1024
            << " MiB after a 1 MiB BuildKit log\n";
  EXPECT_GT(peak_kib, 0);
  EXPECT_LT(peak_kib, 64 * 1024);
}

}  // namespace
}  // namespace dkd::testing
