// Tests of BuildKit progress decoding and docker-style plain rendering, on
// build streams recorded from the engine (`POST /build?version=2`, Debian's
// docker.io 20.10) in tests/data/buildkit/.
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "core/buildkit/plain_progress.h"
#include "core/buildkit/proto_wire.h"
#include "core/buildkit/solve_status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace dkd::core::buildkit {
namespace {

using ::testing::HasSubstr;
using ::testing::MatchesRegex;

// The decoded trace messages of a recorded build, in order, and the last
// non-trace line (the image id or the error).
struct Recorded {
  std::vector<SolveStatus> updates;
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
      auto s = DecodeTraceAux(j["aux"].get<std::string>());
      EXPECT_TRUE(s.ok()) << s.status();
      if (s.ok()) r.updates.push_back(*std::move(s));
    } else {
      r.others.push_back(j);
    }
  }
  return r;
}

const Vertex* Last(const Recorded& r, absl::string_view name_part) {
  const Vertex* found = nullptr;
  for (const auto& u : r.updates) {
    for (const auto& v : u.vertexes) {
      if (absl::StrContains(v.name, name_part)) found = &v;
    }
  }
  return found;
}

std::string Render(const Recorded& r) {
  PlainProgress p;
  std::string out;
  for (const auto& u : r.updates) out += p.Render(u);
  return out + p.Flush();
}

TEST(SolveStatusTest, DecodesVertexesLogsAndStatusesOfARecordedBuild) {
  Recorded r = Load("run.jsonl");
  ASSERT_FALSE(r.updates.empty());
  const Vertex* run = Last(r, "[2/3] RUN echo hello-from-run");
  ASSERT_NE(run, nullptr);
  EXPECT_THAT(run->digest, MatchesRegex("sha256:[0-9a-f]{64}"));
  ASSERT_EQ(run->inputs.size(), 1u);
  EXPECT_TRUE(run->started.has_value());
  EXPECT_TRUE(run->completed.has_value());
  EXPECT_LE(*run->started, *run->completed);
  EXPECT_FALSE(run->cached);
  EXPECT_TRUE(run->error.empty());
  // The RUN's input is the FROM step.
  const Vertex* from = Last(r, "FROM docker.io/library/busybox:latest");
  ASSERT_NE(from, nullptr);
  EXPECT_EQ(run->inputs[0], from->digest);

  std::string stdout_text;
  std::string stderr_text;
  for (const auto& u : r.updates) {
    for (const auto& l : u.logs) (l.stream == 2 ? stderr_text : stdout_text) += l.data;
  }
  EXPECT_THAT(stdout_text, HasSubstr("hello-from-run-"));
  EXPECT_THAT(stderr_text, HasSubstr("to-stderr"));

  bool saw_writing_image = false;
  for (const auto& u : r.updates) {
    for (const auto& s : u.statuses) {
      if (absl::StartsWith(s.id, "writing image sha256:")) saw_writing_image = true;
    }
  }
  EXPECT_TRUE(saw_writing_image);
  ASSERT_FALSE(r.others.empty());
  EXPECT_EQ(r.others.front().value("id", ""), "moby.image.id");
}

TEST(SolveStatusTest, ARebuildReportsItsStepsCached) {
  Recorded r = Load("cached.jsonl");
  const Vertex* run = Last(r, "[2/3] RUN echo hello-from-run");
  ASSERT_NE(run, nullptr);
  EXPECT_TRUE(run->cached);
  EXPECT_THAT(Render(r), MatchesRegex("(.|\n)*#[0-9]+ \\[2/3\\] RUN echo hello-from-run(.|\n)*"
                                      "#[0-9]+ CACHED\n(.|\n)*"));
}

TEST(SolveStatusTest, AFailedRunCarriesTheErrorWithTheExitCode) {
  Recorded r = Load("failed.jsonl");
  const Vertex* run = Last(r, "RUN echo before-failure && exit 3");
  ASSERT_NE(run, nullptr);
  EXPECT_THAT(run->error, HasSubstr("exit code: 3"));
  ASSERT_FALSE(r.others.empty());
  EXPECT_THAT(r.others.back()["errorDetail"]["message"].get<std::string>(),
              HasSubstr("exit code: 3"));
}

TEST(SolveStatusTest, MultiStageStepsFormAGraphOfTheirInputs) {
  Recorded r = Load("multistage.jsonl");
  const Vertex* copy_a = Last(r, "COPY --from=a /bin/busybox /a-bb");
  const Vertex* mount = Last(r, "RUN --mount=type=cache,target=/cache");
  ASSERT_NE(copy_a, nullptr);
  ASSERT_NE(mount, nullptr);
  EXPECT_THAT(copy_a->inputs, ::testing::Contains(mount->digest));
  EXPECT_TRUE(mount->error.empty());
}

TEST(PlainProgressTest, RendersAFailedBuildAsDockerPrintsIt) {
  const std::string out = Render(Load("failed.jsonl"));
  // Header, digest, the log line with its offset from the step's start, the
  // error: docker's --progress=plain lines for the same build.
  EXPECT_THAT(out, MatchesRegex("(.|\n)*\n#[0-9]+ \\[2/2\\] RUN echo before-failure && exit 3\n"
                                "#[0-9]+ sha256:[0-9a-f]{64}\n"
                                "#[0-9]+ [0-9]\\.[0-9]{3} before-failure\n"
                                "#[0-9]+ ERROR: executor failed running \\[/bin/sh -c echo "
                                "before-failure && exit 3\\]: exit code: 3\n(.|\n)*"));
  EXPECT_THAT(out,
              MatchesRegex("(.|\n)*#[0-9]+ \\[1/2\\] FROM docker.io/library/busybox:latest\n"
                           "#[0-9]+ sha256:[0-9a-f]{64}\n#[0-9]+ (CACHED|DONE [0-9.]+s)\n(.|\n)*"));
}

TEST(PlainProgressTest, NumbersStepsInFirstSeenOrderAndPrintsStatusLines) {
  const std::string out = Render(Load("run.jsonl"));
  EXPECT_THAT(out, HasSubstr("\n#1 [internal] load remote build context\n"));
  EXPECT_THAT(out, MatchesRegex("(.|\n)*#[0-9]+ writing image sha256:[0-9a-f]{64}( [0-9.]+s)? "
                                "done\n(.|\n)*"));
  EXPECT_THAT(out, MatchesRegex("(.|\n)*#[0-9]+ [0-9]\\.[0-9]{3} to-stderr\n(.|\n)*"));
  EXPECT_THAT(out, MatchesRegex("(.|\n)*#[0-9]+ exporting to image\n(.|\n)*#[0-9]+ DONE "
                                "[0-9]+\\.[0-9]s\n$"));
}

TEST(PlainProgressTest, SwitchingAwayFromAnUnfinishedStepMarksIt) {
  PlainProgress p;
  const absl::Time t0 = absl::FromUnixSeconds(1000);
  SolveStatus a;
  a.vertexes.push_back({"sha256:a", {}, "step a", false, t0, std::nullopt, ""});
  a.logs.push_back({"sha256:a", t0 + absl::Milliseconds(250), 1, "partial "});
  EXPECT_EQ(p.Render(a), "\n#1 step a\n#1 sha256:a\n");
  SolveStatus b;
  b.vertexes.push_back({"sha256:b", {}, "step b", false, t0, t0 + absl::Seconds(2), ""});
  EXPECT_EQ(p.Render(b), "#1 ...\n\n#2 step b\n#2 sha256:b\n#2 DONE 2.0s\n");
  SolveStatus a2;
  a2.logs.push_back({"sha256:a", t0 + absl::Seconds(1), 1, "line\nnext"});
  EXPECT_EQ(p.Render(a2), "\n#1 step a\n#1 sha256:a\n#1 0.250 partial line\n");
  EXPECT_EQ(p.Flush(), "#1 1.000 next\n");
  EXPECT_EQ(p.IndexOf("sha256:b"), 2);
  EXPECT_EQ(p.IndexOf("sha256:none"), 0);
}

TEST(PlainProgressTest, FormatsByteFiguresAsDockerDoes) {
  EXPECT_EQ(FormatBytes(91), "91B");
  EXPECT_EQ(FormatBytes(2048), "2.05kB");
  EXPECT_EQ(FormatBytes(1500000), "1.50MB");
}

TEST(ProtoWireTest, HostileBytesAreRefusedNotReadPastTheEnd) {
  // Truncated varint, a length past the end, a group wire type, field 0.
  for (const std::string& bad :
       {std::string("\x0a", 1),
        std::string("\x0a\x05"
                    "ab",
                    4),
        std::string("\x0b", 1), std::string("\x00\x01", 2), std::string("\x0a\x02\x0a\xff", 4),
        std::string("\x08\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff", 11)}) {
    EXPECT_FALSE(DecodeSolveStatus(bad).ok()) << absl::CEscape(bad);
  }
  EXPECT_FALSE(DecodeTraceAux("not base64!").ok());
  // Unknown fields are skipped, an empty message is an empty update.
  auto empty = DecodeSolveStatus(std::string("\x28\x01", 2));
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->vertexes.empty());
}

}  // namespace
}  // namespace dkd::core::buildkit
