// What `dkctl build` prints per --progress mode (client/build_output): rawjson
// lines parse back into the events, quiet prints only the image id, plain
// renders BuildKit events as docker does and classic output as it comes, tty
// redraws a compact view in place, also on builds recorded from the engine.
#include "client/build_output.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cctype>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "google/protobuf/util/json_util.h"
#include "google/protobuf/util/message_differencer.h"
#include "nlohmann/json.hpp"
#include "server/buildkit_trace.h"

namespace dkd::client {
namespace {

namespace pb = ::dkd::v1;
using ::testing::HasSubstr;
using ::testing::Not;

google::protobuf::Timestamp At(int64_t ms) {
  google::protobuf::Timestamp t;
  t.set_seconds(1700000000 + ms / 1000);
  t.set_nanos(static_cast<int32_t>(ms % 1000) * 1000000);
  return t;
}

pb::BuildEvent Vertex(const std::string& digest, const std::string& name, int64_t started_ms,
                      int64_t completed_ms, bool cached = false, const std::string& error = "") {
  pb::BuildEvent e;
  pb::BuildVertex* v = e.mutable_vertex();
  v->set_digest(digest);
  v->set_name(name);
  v->set_cached(cached);
  v->set_error(error);
  if (started_ms >= 0) *v->mutable_started() = At(started_ms);
  if (completed_ms >= 0) *v->mutable_completed() = At(completed_ms);
  return e;
}

pb::BuildEvent VertexLog(const std::string& digest, const std::string& data, int64_t ms) {
  pb::BuildEvent e;
  e.mutable_vertex_log()->set_vertex(digest);
  e.mutable_vertex_log()->set_stream(1);
  e.mutable_vertex_log()->set_data(data);
  *e.mutable_vertex_log()->mutable_timestamp() = At(ms);
  return e;
}

pb::BuildEvent Log(const std::string& text) {
  pb::BuildEvent e;
  e.mutable_log()->set_text(text);
  return e;
}

pb::BuildEvent Result(const std::string& id) {
  pb::BuildEvent e;
  e.mutable_result()->set_image_id(id);
  e.mutable_result()->add_tags("app:1");
  return e;
}

// A BuildKit build of two steps, the second printing two lines.
std::vector<pb::BuildEvent> BuildKitBuild() {
  std::vector<pb::BuildEvent> events;
  events.push_back(Vertex("sha256:a", "[1/2] FROM reg/busybox", 0, 10, /*cached=*/true));
  events.push_back(Vertex("sha256:b", "[2/2] RUN make", 20, -1));
  events.push_back(VertexLog("sha256:b", "compiling\nlinking\n", 500));
  events.push_back(Vertex("sha256:b", "[2/2] RUN make", 20, 1220));
  pb::BuildEvent warning;
  warning.mutable_warning()->set_short_("Empty continuation line found in: RUN make");
  events.push_back(warning);
  events.push_back(Result("sha256:feed"));
  return events;
}

struct Printed {
  std::string out, err;
};

Printed Render(ProgressMode mode, const std::vector<pb::BuildEvent>& events, bool ok = true,
               BuildOutput::Options options = {}) {
  std::ostringstream out, err;
  auto output = BuildOutput::Create(mode, out, err, std::move(options));
  const pb::BuildResult* result = nullptr;
  for (const auto& e : events) {
    output->OnEvent(e);
    if (e.has_result()) result = &e.result();
  }
  output->Finish(ok ? result : nullptr);
  return {out.str(), err.str()};
}

TEST(BuildOutputTest, RawJsonPrintsOneLineOfProtobufJsonPerEventThatParsesBack) {
  std::vector<pb::BuildEvent> events = BuildKitBuild();
  events.insert(events.begin(), Log("Step 1/2 : FROM x\n"));
  Printed p = Render(ProgressMode::kRawJson, events);
  EXPECT_EQ(p.err, "");
  std::vector<std::string> lines = absl::StrSplit(p.out, '\n', absl::SkipEmpty());
  ASSERT_EQ(lines.size(), events.size()) << p.out;
  for (size_t i = 0; i < lines.size(); ++i) {
    pb::BuildEvent back;
    ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(lines[i], &back).ok()) << lines[i];
    EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(back, events[i])) << lines[i];
  }
  EXPECT_THAT(lines.back(), HasSubstr("\"imageId\":\"sha256:feed\""));
}

TEST(BuildOutputTest, QuietPrintsOnlyTheImageId) {
  std::vector<pb::BuildEvent> events = BuildKitBuild();
  events.insert(events.begin(), Log("Step 1/2 : FROM x\n"));
  pb::BuildEvent queued;
  queued.mutable_queued()->set_position(2);
  events.insert(events.begin(), queued);
  Printed p = Render(ProgressMode::kQuiet, events);
  EXPECT_EQ(p.out, "sha256:feed\n");
  EXPECT_EQ(p.err, "");
  Printed failed = Render(ProgressMode::kQuiet, events, /*ok=*/false);
  EXPECT_EQ(failed.out, "");
  EXPECT_EQ(failed.err, "");
}

TEST(BuildOutputTest, PlainRendersBuildKitStepsOnStderrAsDockerDoes) {
  Printed p = Render(ProgressMode::kPlain, BuildKitBuild());
  EXPECT_EQ(p.out, "");
  EXPECT_THAT(p.err, HasSubstr("#1 [1/2] FROM reg/busybox\n"));
  EXPECT_THAT(p.err, HasSubstr("#1 CACHED\n"));
  EXPECT_THAT(p.err, HasSubstr("#2 [2/2] RUN make\n"));
  EXPECT_THAT(p.err, HasSubstr("#2 0.480 compiling\n#2 0.480 linking\n"));
  EXPECT_THAT(p.err, HasSubstr("#2 DONE 1.2s\n"));
  EXPECT_THAT(p.err, HasSubstr("1 warning found:\n - Empty continuation line"));
}

TEST(BuildOutputTest, PlainPrintsClassicOutputAsItComes) {
  pb::BuildEvent pull;
  pull.mutable_pull_progress()->set_id("abc");
  pull.mutable_pull_progress()->set_status("Downloading");
  pull.mutable_pull_progress()->set_current(1500);
  pull.mutable_pull_progress()->set_total(3000);
  pb::BuildEvent queued;
  queued.mutable_queued()->set_position(1);
  Printed p = Render(ProgressMode::kPlain, {queued, pull, Log("Step 1/2 : FROM x\n"),
                                            Log(" ---> 123\n"), Result("sha256:f")});
  EXPECT_EQ(p.out, "abc: Downloading 1.5kB/3kB\nStep 1/2 : FROM x\n ---> 123\n");
  EXPECT_EQ(p.err, "waiting for a build slot (1 ahead)\n");
}

TEST(BuildOutputTest, PlainDrawsTheContextCounterOnlyOnATerminal) {
  for (bool terminal : {false, true}) {
    std::ostringstream out, err;
    BuildOutput::Options options;
    options.err_is_terminal = terminal;
    auto output = BuildOutput::Create(ProgressMode::kPlain, out, err, options);
    core::ContextStats stats;
    stats.tar_bytes = 2048;
    output->OnContext(stats);
    output->OnContextDone();
    output->Finish(nullptr);
    EXPECT_EQ(err.str(), terminal ? "\rSending build context to dkd  2.05kB   \n" : "");
  }
}

// A fake clock for the tty view: each call advances it by `step`.
struct FakeClock {
  absl::Time t = absl::FromUnixSeconds(1700000000);
  absl::Duration step = absl::Milliseconds(250);
  std::function<absl::Time()> Fn() {
    return [this] {
      t += step;
      return t;
    };
  }
};

// What a terminal shows after `text`: cursor-up and erase sequences applied.
std::vector<std::string> Screen(const std::string& text) {
  std::vector<std::string> rows(1);
  size_t row = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '\x1b' && i + 1 < text.size() && text[i + 1] == '[') {
      size_t j = i + 2;
      int n = 0;
      while (j < text.size() && isdigit(static_cast<unsigned char>(text[j])))
        n = n * 10 + (text[j++] - '0');
      const char op = text[j];
      if (op == 'A') row = row >= static_cast<size_t>(n) ? row - n : 0;
      if (op == 'K') rows[row].clear();
      if (op == 'J') {
        rows[row].clear();
        rows.resize(row + 1);
      }
      i = j;
    } else if (c == '\r') {
      continue;  // Every line here is rewritten whole after \x1b[2K.
    } else if (c == '\n') {
      ++row;
      if (rows.size() <= row) rows.resize(row + 1);
    } else {
      rows[row] += c;
    }
  }
  if (!rows.empty() && rows.back().empty()) rows.pop_back();
  return rows;
}

TEST(BuildOutputTest, TtyRedrawsACompactViewInPlace) {
  FakeClock clock;
  BuildOutput::Options options;
  options.columns = 60;
  options.rows = 20;
  options.now = clock.Fn();
  std::ostringstream out, err;
  auto output = BuildOutput::Create(ProgressMode::kTty, out, err, options);
  output->OnEvent(Vertex("sha256:a", "[1/2] FROM reg/busybox", 0, 10, true));
  output->OnEvent(Vertex("sha256:b", "[2/2] RUN make", 20, -1));
  output->OnEvent(VertexLog("sha256:b", "compiling\nlinking\n", 500));
  // While it runs: the steps, then the running step's last lines.
  std::vector<std::string> screen = Screen(err.str());
  ASSERT_EQ(screen.size(), 5u) << err.str();
  EXPECT_THAT(screen[0], HasSubstr("[+] Building"));
  EXPECT_THAT(screen[0], HasSubstr("(1/2)"));
  EXPECT_THAT(screen[1], HasSubstr(" => CACHED [1/2] FROM reg/busybox"));
  EXPECT_THAT(screen[2], HasSubstr(" => [2/2] RUN make"));
  EXPECT_EQ(screen[3], " => => # compiling");
  EXPECT_EQ(screen[4], " => => # linking");
  for (const auto& row : screen) EXPECT_LE(row.size(), 59u) << row;

  output->OnEvent(Vertex("sha256:b", "[2/2] RUN make", 20, 1220));
  const pb::BuildEvent result = Result("sha256:feed");
  output->OnEvent(result);
  output->Finish(&result.result());
  screen = Screen(err.str());
  ASSERT_EQ(screen.size(), 3u) << err.str();
  EXPECT_THAT(screen[0], HasSubstr("(2/2) FINISHED"));
  EXPECT_THAT(screen[1], HasSubstr("0.0s"));
  EXPECT_THAT(screen[2], HasSubstr(" => [2/2] RUN make"));
  EXPECT_THAT(screen[2], HasSubstr("1.2s"));
  EXPECT_EQ(out.str(), "");
}

TEST(BuildOutputTest, TtyReportsTheFailedStepsLastLines) {
  FakeClock clock;
  BuildOutput::Options options;
  options.now = clock.Fn();
  Printed p =
      Render(ProgressMode::kTty,
             {Vertex("sha256:b", "[2/2] RUN false", 0, -1), VertexLog("sha256:b", "boom\n", 5),
              Vertex("sha256:b", "[2/2] RUN false", 0, 100, false, "exit code: 1")},
             /*ok=*/false, options);
  std::vector<std::string> screen = Screen(p.err);
  ASSERT_GE(screen.size(), 5u) << p.err;
  EXPECT_THAT(screen[0], HasSubstr("ERROR"));
  EXPECT_THAT(screen[1], HasSubstr(" => ERROR [2/2] RUN false"));
  EXPECT_EQ(screen[2], "------");
  EXPECT_EQ(screen[3], " > [2/2] RUN false:");
  EXPECT_EQ(screen[4], "boom");
}

TEST(BuildOutputTest, TtyPrintsClassicOutputAsPlainDoes) {
  FakeClock clock;
  BuildOutput::Options options;
  options.now = clock.Fn();
  Printed p =
      Render(ProgressMode::kTty, {Log("Step 1/1 : FROM x\n"), Result("sha256:f")}, true, options);
  EXPECT_EQ(p.out, "Step 1/1 : FROM x\n");
  EXPECT_EQ(p.err, "");
}

// The events of a build recorded from the engine (tests/data/buildkit).
std::vector<pb::BuildEvent> Recorded(const std::string& name) {
  std::ifstream in(std::string(DKD_TEST_DATA_DIR) + "/buildkit/" + name);
  EXPECT_TRUE(in) << name;
  std::vector<pb::BuildEvent> events;
  std::string line;
  while (std::getline(in, line)) {
    auto j = nlohmann::json::parse(line, nullptr, false);
    if (j.is_object() && j.value("id", "") == "moby.buildkit.trace") {
      EXPECT_TRUE(server::AppendBuildKitTraceEvents(j["aux"].get<std::string>(), &events).ok());
    }
  }
  return events;
}

TEST(BuildOutputTest, TtyViewOfARecordedBuildFitsAndEndsWithEveryStep) {
  for (const char* name : {"run.jsonl", "multistage.jsonl", "cached.jsonl", "failed.jsonl"}) {
    FakeClock clock;
    BuildOutput::Options options;
    options.columns = 72;
    options.rows = 12;
    options.now = clock.Fn();
    const bool failed = std::string(name) == "failed.jsonl";
    std::vector<pb::BuildEvent> events = Recorded(name);
    if (!failed) events.push_back(Result("sha256:feed"));
    Printed p = Render(ProgressMode::kTty, events, !failed, options);
    std::vector<std::string> screen = Screen(p.err);
    ASSERT_FALSE(screen.empty()) << name;
    EXPECT_THAT(screen[0], HasSubstr(failed ? "ERROR" : "FINISHED")) << name;
    int steps = 0;
    for (const std::string& row : screen) {
      EXPECT_LE(row.size(), 71u) << name << ": " << row;
      if (absl::StartsWith(row, " => ") && !absl::StartsWith(row, " => => ")) ++steps;
    }
    EXPECT_GE(steps, 2) << name << "\n" << absl::StrJoin(screen, "\n");
    if (failed) {
      EXPECT_THAT(p.err, HasSubstr(" => ERROR ")) << name;
    }
  }
}

}  // namespace
}  // namespace dkd::client
