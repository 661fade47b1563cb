// BuildKit progress: the trace adapter (server/buildkit_trace) and dkctl's
// plain rendering (client/build_progress), on build streams recorded from the
// engine (`POST /build?version=2`, Debian's docker.io 20.10) in
// tests/data/buildkit/, plus hostile payloads.
#include "server/buildkit_trace.h"

#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "client/build_progress.h"
#include "gmock/gmock.h"
#include "google/protobuf/stubs/logging.h"
#include "gtest/gtest.h"
#include "moby/buildkit/v1/status.pb.h"
#include "nlohmann/json.hpp"

namespace dkd {
namespace {

using ::testing::Contains;
using ::testing::HasSubstr;
using ::testing::MatchesRegex;
using v1::BuildEvent;

// A recorded build: its trace payloads, their events in order, and the
// other stream lines (the image id or the error).
struct Recorded {
  std::vector<std::string> payloads;
  std::vector<BuildEvent> events;
  std::vector<nlohmann::json> others;
};

Recorded Load(const std::string& name) {
  std::ifstream in(std::string(DKD_TEST_DATA_DIR) + "/buildkit/" + name);
  EXPECT_TRUE(in) << name;
  Recorded r;
  std::string line;
  while (std::getline(in, line)) {
    auto j = nlohmann::json::parse(line);
    if (j.value("id", "") == "moby.buildkit.trace") {
      r.payloads.push_back(j["aux"].get<std::string>());
      absl::Status s = server::AppendBuildKitTraceEvents(r.payloads.back(), &r.events);
      EXPECT_TRUE(s.ok()) << s;
    } else {
      r.others.push_back(j);
    }
  }
  return r;
}

// The last state sent of the vertex whose name contains `name_part`.
const v1::BuildVertex* Last(const Recorded& r, absl::string_view name_part) {
  const v1::BuildVertex* found = nullptr;
  for (const auto& e : r.events) {
    if (e.has_vertex() && absl::StrContains(e.vertex().name(), name_part)) found = &e.vertex();
  }
  return found;
}

std::string Render(const Recorded& r) {
  client::PlainBuildProgress p;
  std::string out;
  for (const auto& e : r.events) out += p.Render(e);
  return out + p.Flush();
}

TEST(BuildKitTraceTest, DecodesVertexesLogsAndStatusesOfARecordedBuild) {
  Recorded r = Load("run.jsonl");
  ASSERT_FALSE(r.events.empty());
  const v1::BuildVertex* run = Last(r, "[2/3] RUN echo hello-from-run");
  ASSERT_NE(run, nullptr);
  EXPECT_THAT(run->digest(), MatchesRegex("sha256:[0-9a-f]{64}"));
  ASSERT_EQ(run->inputs_size(), 1);
  EXPECT_TRUE(run->has_started());
  EXPECT_TRUE(run->has_completed());
  EXPECT_GE(run->duration_ms(), 0);
  EXPECT_FALSE(run->cached());
  EXPECT_TRUE(run->error().empty());
  // The RUN's input is the FROM step.
  const v1::BuildVertex* from = Last(r, "FROM docker.io/library/busybox:latest");
  ASSERT_NE(from, nullptr);
  EXPECT_EQ(run->inputs(0), from->digest());

  std::string out;
  std::string err;
  bool saw_writing_image = false;
  for (const auto& e : r.events) {
    if (e.has_vertex_log()) (e.vertex_log().stream() == 2 ? err : out) += e.vertex_log().data();
    if (e.has_vertex_status() &&
        absl::StartsWith(e.vertex_status().id(), "writing image sha256:")) {
      saw_writing_image = true;
    }
  }
  EXPECT_THAT(out, HasSubstr("hello-from-run-"));
  EXPECT_THAT(err, HasSubstr("to-stderr"));
  EXPECT_TRUE(saw_writing_image);
  ASSERT_FALSE(r.others.empty());
  EXPECT_EQ(r.others.front().value("id", ""), "moby.image.id");
}

TEST(BuildKitTraceTest, ARebuildReportsItsStepsCached) {
  Recorded r = Load("cached.jsonl");
  const v1::BuildVertex* run = Last(r, "[2/3] RUN echo hello-from-run");
  ASSERT_NE(run, nullptr);
  EXPECT_TRUE(run->cached());
  EXPECT_THAT(Render(r), MatchesRegex("(.|\n)*#[0-9]+ \\[2/3\\] RUN echo hello-from-run(.|\n)*"
                                      "#[0-9]+ CACHED\n(.|\n)*"));
}

TEST(BuildKitTraceTest, AFailedRunCarriesTheErrorWithTheExitCode) {
  Recorded r = Load("failed.jsonl");
  const v1::BuildVertex* run = Last(r, "RUN echo before-failure && exit 3");
  ASSERT_NE(run, nullptr);
  EXPECT_THAT(run->error(), HasSubstr("exit code: 3"));
  ASSERT_FALSE(r.others.empty());
  EXPECT_THAT(r.others.back()["errorDetail"]["message"].get<std::string>(),
              HasSubstr("exit code: 3"));
}

TEST(BuildKitTraceTest, MultiStageStepsFormAGraphOfTheirInputs) {
  Recorded r = Load("multistage.jsonl");
  const v1::BuildVertex* copy_a = Last(r, "COPY --from=a /bin/busybox /a-bb");
  const v1::BuildVertex* mount = Last(r, "RUN --mount=type=cache,target=/cache");
  ASSERT_NE(copy_a, nullptr);
  ASSERT_NE(mount, nullptr);
  EXPECT_THAT(copy_a->inputs(), Contains(mount->digest()));
  EXPECT_TRUE(mount->error().empty());
}

TEST(BuildKitTraceTest, StepExitCodeReadsBothBuildersMessages) {
  EXPECT_EQ(server::StepExitCode("executor failed running [/bin/sh -c exit 7]: exit code: 7"), 7);
  EXPECT_EQ(server::StepExitCode(
                "process \"/bin/sh -c false\" did not complete successfully: exit code: 1"),
            1);
  EXPECT_EQ(server::StepExitCode("The command '/bin/sh -c exit 9' returned a non-zero code: 9"), 9);
  EXPECT_EQ(server::StepExitCode("failed to solve: no such image"), -1);
  EXPECT_EQ(server::StepExitCode("exit code: "), -1);
  EXPECT_EQ(server::StepExitCode("exit code: 99999999999999999999"), -1);
  EXPECT_EQ(server::StepExitCode("exit code: 300"), -1);
}

TEST(BuildKitTraceTest, HostilePayloadsAreRefusedAndNeverCrash) {
  // Invalid UTF-8 in a string field is refused too; protobuf says so on
  // stderr, which this test does not need to hear 2,000 times.
  google::protobuf::LogHandler* previous = google::protobuf::SetLogHandler(nullptr);
  std::vector<BuildEvent> events;
  EXPECT_FALSE(server::AppendBuildKitTraceEvents("not base64!", &events).ok());
  // Truncated varint, a length past the end, a group wire type, field 0.
  for (const std::string& bad :
       {std::string("\x0a", 1),
        std::string("\x0a\x05"
                    "ab",
                    4),
        std::string("\x0b", 1), std::string("\x00\x01", 2), std::string("\x0a\x02\x0a\xff", 4)}) {
    EXPECT_FALSE(server::AppendBuildKitTraceEvents(absl::Base64Escape(bad), &events).ok())
        << absl::CEscape(bad);
  }
  EXPECT_THAT(server::UndecodableTraceEvent(absl::InvalidArgumentError("x")).warning().short_(),
              HasSubstr("could not decode a BuildKit progress message"));
  // Every recorded payload, mutated; whatever decodes is also rendered.
  Recorded r = Load("run.jsonl");
  std::mt19937 rng(7);
  client::PlainBuildProgress progress;
  for (int round = 0; round < 2000; ++round) {
    std::string bytes;
    ASSERT_TRUE(absl::Base64Unescape(r.payloads[round % r.payloads.size()], &bytes));
    for (int n = 1 + static_cast<int>(rng() % 6); n > 0 && !bytes.empty(); --n) {
      const size_t at = rng() % bytes.size();
      switch (rng() % 3) {
        case 0:
          bytes[at] = static_cast<char>(rng());
          break;
        case 1:
          bytes.erase(at, 1);
          break;
        default:
          bytes.insert(at, 1, static_cast<char>(rng()));
      }
    }
    std::vector<BuildEvent> out;
    if (server::AppendBuildKitTraceEvents(absl::Base64Escape(bytes), &out).ok()) {
      for (const auto& e : out) (void)progress.Render(e);
    }
  }
  (void)progress.Flush();
  google::protobuf::SetLogHandler(previous);
}

TEST(BuildKitTraceTest, WarningsAreValidUtf8AndCompletedStepsComeLast) {
  moby::buildkit::v1::StatusResponse status;
  auto* done = status.add_vertexes();
  done->set_digest("sha256:done");
  done->mutable_completed()->set_seconds(2);
  auto* running = status.add_vertexes();
  running->set_digest("sha256:running");
  running->mutable_started()->set_seconds(1);
  status.add_logs()->set_vertex("sha256:done");
  auto* w = status.add_warnings();
  w->set_short_(std::string("bad \xff\xc0\x80 byte \xe2\x82\xac", 16));
  w->add_detail(std::string("\xed\xa0\x80", 3));  // A UTF-16 surrogate.
  std::vector<BuildEvent> events;
  ASSERT_TRUE(
      server::AppendBuildKitTraceEvents(absl::Base64Escape(status.SerializeAsString()), &events)
          .ok());
  ASSERT_EQ(events.size(), 4u);
  EXPECT_EQ(events[0].vertex().digest(), "sha256:running");
  EXPECT_TRUE(events[1].has_vertex_log());
  EXPECT_EQ(events[2].vertex().digest(), "sha256:done");
  EXPECT_EQ(events[3].warning().short_(),
            "bad \xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD byte \xe2\x82\xac");
  EXPECT_EQ(events[3].warning().detail(0), "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");
  // Whatever the engine sent, the event serializes and parses back.
  BuildEvent back;
  EXPECT_TRUE(back.ParseFromString(events[3].SerializeAsString()));
}

TEST(PlainBuildProgressTest, RendersAFailedBuildAsDockerPrintsIt) {
  const std::string out = Render(Load("failed.jsonl"));
  // Header, digest, the log line with its offset from the step's start, the
  // error: docker's --progress=plain lines for the same build.
  EXPECT_THAT(out, MatchesRegex("(.|\n)*\n#[0-9]+ \\[2/2\\] RUN echo before-failure && exit 3\n"
                                "#[0-9]+ sha256:[0-9a-f]{64}\n"
                                "#[0-9]+ [0-9]\\.[0-9]{3} before-failure\n"
                                "#[0-9]+ ERROR: executor failed running \\[/bin/sh -c echo "
                                "before-failure && exit 3\\]: exit code: 3\n(.|\n)*"));
  EXPECT_THAT(out, MatchesRegex("(.|\n)*#[0-9]+ \\[1/2\\] FROM docker.io/library/busybox:latest\n"
                                "#[0-9]+ sha256:[0-9a-f]{64}\n#[0-9]+ (CACHED|DONE [0-9.]+s)\n"
                                "(.|\n)*"));
}

TEST(PlainBuildProgressTest, NumbersStepsInFirstSeenOrderAndPrintsStatusLines) {
  const std::string out = Render(Load("run.jsonl"));
  EXPECT_THAT(out, HasSubstr("\n#1 [internal] load remote build context\n"));
  EXPECT_THAT(out, MatchesRegex("(.|\n)*#[0-9]+ writing image sha256:[0-9a-f]{64}( [0-9.]+s)? "
                                "done\n(.|\n)*"));
  EXPECT_THAT(out, MatchesRegex("(.|\n)*#[0-9]+ [0-9]\\.[0-9]{3} to-stderr\n(.|\n)*"));
  // The last step ends after its last status line, once.
  EXPECT_THAT(out, MatchesRegex("(.|\n)*\n#7 exporting to image\n#7 sha256:[0-9a-f]{64}\n"
                                "(#7 [^\n]*\n)*#7 naming to docker.io/library/bktest:run1 done\n"
                                "#7 DONE [0-9]+\\.[0-9]s\n$"));
  EXPECT_EQ(out.find("exporting to image"), out.rfind("exporting to image"));
}

BuildEvent Vertex(const std::string& digest, const std::string& name, int64_t started_ms,
                  int64_t completed_ms) {
  BuildEvent e;
  auto* v = e.mutable_vertex();
  v->set_digest(digest);
  v->set_name(name);
  if (started_ms >= 0) {
    v->mutable_started()->set_seconds(1000 + started_ms / 1000);
    v->mutable_started()->set_nanos(static_cast<int32_t>(started_ms % 1000) * 1000000);
  }
  if (completed_ms >= 0) {
    v->mutable_completed()->set_seconds(1000 + completed_ms / 1000);
    v->mutable_completed()->set_nanos(static_cast<int32_t>(completed_ms % 1000) * 1000000);
  }
  return e;
}

BuildEvent Log(const std::string& digest, int64_t at_ms, const std::string& data) {
  BuildEvent e;
  auto* l = e.mutable_vertex_log();
  l->set_vertex(digest);
  l->set_stream(1);
  l->set_data(data);
  l->mutable_timestamp()->set_seconds(1000 + at_ms / 1000);
  l->mutable_timestamp()->set_nanos(static_cast<int32_t>(at_ms % 1000) * 1000000);
  return e;
}

TEST(PlainBuildProgressTest, SwitchingAwayFromAnUnfinishedStepMarksIt) {
  client::PlainBuildProgress p;
  EXPECT_EQ(p.Render(Vertex("sha256:a", "step a", 0, -1)), "\n#1 step a\n#1 sha256:a\n");
  EXPECT_EQ(p.Render(Log("sha256:a", 250, "partial ")), "");
  EXPECT_EQ(p.Render(Vertex("sha256:b", "step b", 0, 2000)),
            "#1 ...\n\n#2 step b\n#2 sha256:b\n#2 DONE 2.0s\n");
  EXPECT_EQ(p.Render(Log("sha256:a", 1000, "line\nnext")),
            "\n#1 step a\n#1 sha256:a\n#1 0.250 partial line\n");
  EXPECT_EQ(p.Flush(), "#1 1.000 next\n");
  EXPECT_EQ(p.IndexOf("sha256:b"), 2);
  EXPECT_EQ(p.IndexOf("sha256:none"), 0);
  // A step known by name only waits; events of the classic builder print
  // nothing here.
  EXPECT_EQ(p.Render(Vertex("sha256:c", "step c", -1, -1)), "");
  BuildEvent classic;
  classic.mutable_log()->set_text("Step 1/2 : FROM x\n");
  EXPECT_EQ(p.Render(classic), "");
}

TEST(PlainBuildProgressTest, FormatsByteFiguresAsDockerDoes) {
  EXPECT_EQ(client::FormatBuildBytes(91), "91B");
  EXPECT_EQ(client::FormatBuildBytes(2048), "2.05kB");
  EXPECT_EQ(client::FormatBuildBytes(1500000), "1.50MB");
}

}  // namespace
}  // namespace dkd
