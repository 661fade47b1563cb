// BuildOutput (build_output.h): the plain, tty, quiet and rawjson renderings
// of a build's events.
#include "client/build_output.h"

#include <algorithm>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/string_view.h"
#include "client/build_progress.h"
#include "client/cli_util.h"
#include "google/protobuf/util/json_util.h"

namespace dkd::client {
namespace {

namespace pb = ::dkd::v1;

// What every human-facing mode prints the same way: the classic builder's
// output, pull and push progress, the queue and the context counter.
// Returns true when `e` was one of those (written to `out` or `err`).
bool PrintClassic(const pb::BuildEvent& e, std::ostream& out, std::ostream& err) {
  if (e.has_log()) {
    out << e.log().text() << std::flush;
  } else if (e.has_pull_progress()) {
    out << ProgressLine(e.pull_progress()) << std::flush;
  } else if (e.has_push_progress()) {
    out << ProgressLine(e.push_progress()) << std::flush;
  } else if (e.has_queued()) {
    err << "waiting for a build slot (" << e.queued().position() << " ahead)\n" << std::flush;
  } else {
    return false;
  }
  return true;
}

std::string WarningsText(const std::vector<pb::BuildWarning>& warnings) {
  if (warnings.empty()) return "";
  std::string text =
      absl::StrCat(warnings.size(), " warning", warnings.size() == 1 ? "" : "s", " found:\n");
  for (const auto& w : warnings) absl::StrAppend(&text, " - ", w.short_(), "\n");
  return text;
}

class PlainOutput : public BuildOutput {
 public:
  PlainOutput(std::ostream& out, std::ostream& err, Options options)
      : out_(out), err_(err), options_(std::move(options)) {}

  void OnEvent(const pb::BuildEvent& e) override {
    std::lock_guard<std::mutex> lock(mu_);
    if (e.has_warning()) {
      warnings_.push_back(e.warning());
      return;
    }
    if (PrintClassic(e, out_, err_)) return;
    const std::string text = progress_.Render(e);
    if (!text.empty()) err_ << text << std::flush;
  }
  void OnContext(const core::ContextStats& s) override {
    if (!options_.err_is_terminal) return;
    std::lock_guard<std::mutex> lock(mu_);
    err_ << "\rSending build context to dkd  " << HumanSize(s.tar_bytes) << "   " << std::flush;
  }
  void OnContextDone() override {
    if (!options_.err_is_terminal) return;
    std::lock_guard<std::mutex> lock(mu_);
    err_ << "\n" << std::flush;
  }
  void Finish(const pb::BuildResult*) override {
    std::lock_guard<std::mutex> lock(mu_);
    err_ << progress_.Flush() << WarningsText(warnings_) << std::flush;
  }

 private:
  std::ostream& out_;
  std::ostream& err_;
  const Options options_;
  std::mutex mu_;
  PlainBuildProgress progress_;
  std::vector<pb::BuildWarning> warnings_;
};

class QuietOutput : public BuildOutput {
 public:
  explicit QuietOutput(std::ostream& out) : out_(out) {}
  void OnEvent(const pb::BuildEvent&) override {}
  void OnContext(const core::ContextStats&) override {}
  void OnContextDone() override {}
  void Finish(const pb::BuildResult* result) override {
    if (result != nullptr) out_ << result->image_id() << "\n" << std::flush;
  }

 private:
  std::ostream& out_;
};

class RawJsonOutput : public BuildOutput {
 public:
  explicit RawJsonOutput(std::ostream& out) : out_(out) {}
  void OnEvent(const pb::BuildEvent& e) override {
    std::string line;
    google::protobuf::util::JsonPrintOptions options;
    options.add_whitespace = false;
    if (!google::protobuf::util::MessageToJsonString(e, &line, options).ok()) return;
    std::lock_guard<std::mutex> lock(mu_);
    out_ << line << "\n" << std::flush;
  }
  void OnContext(const core::ContextStats&) override {}
  void OnContextDone() override {}
  void Finish(const pb::BuildResult*) override {}

 private:
  std::ostream& out_;
  std::mutex mu_;
};

absl::Time ToTime(const google::protobuf::Timestamp& t) {
  return absl::FromUnixSeconds(t.seconds()) + absl::Nanoseconds(t.nanos());
}

// Replaces control characters (which would move the cursor) with spaces and
// cuts `s` to `width` columns, counting UTF-8 sequences as one column.
std::string FitLine(absl::string_view s, int width) {
  std::string out;
  int columns = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if ((c & 0xC0) == 0x80) {  // A continuation byte: same column.
      if (!out.empty()) out += s[i];
      continue;
    }
    if (columns >= width) break;
    ++columns;
    out += (c < 0x20 || c == 0x7F) ? ' ' : s[i];
  }
  return out;
}

// A view of the build's steps redrawn in place on the terminal:
//   [+] Building 3.2s (4/6)
//    => CACHED [1/3] FROM reg/busybox                 0.0s
//    => [2/3] RUN make                                1.2s
//    => => # the running step's last log lines
class TtyOutput : public BuildOutput {
 public:
  TtyOutput(std::ostream& out, std::ostream& err, Options options)
      : out_(out), err_(err), options_(std::move(options)), start_(options_.now()) {}

  void OnEvent(const pb::BuildEvent& e) override {
    std::lock_guard<std::mutex> lock(mu_);
    bool force = false;
    switch (e.event_case()) {
      case pb::BuildEvent::kVertex: {
        Step& step = StepFor(e.vertex().digest());
        const bool was_started = step.vertex.has_started();
        const bool was_completed = step.vertex.has_completed();
        std::optional<google::protobuf::Timestamp> started;
        if (step.vertex.has_started()) started = step.vertex.started();
        step.vertex = e.vertex();
        if (!step.vertex.has_started() && started) *step.vertex.mutable_started() = *started;
        if (step.vertex.has_started() && !was_started) step.seen_started = options_.now();
        force = was_started != step.vertex.has_started() ||
                was_completed != step.vertex.has_completed();
        break;
      }
      case pb::BuildEvent::kVertexLog: {
        Step& step = StepFor(e.vertex_log().vertex());
        AppendLog(step, e.vertex_log().data());
        break;
      }
      case pb::BuildEvent::kVertexStatus:
        break;  // Progress of a step's part: the step's own duration shows it runs.
      case pb::BuildEvent::kWarning:
        warnings_.push_back(e.warning());
        return;
      case pb::BuildEvent::kResult:
      case pb::BuildEvent::kFailure:  // The status after it says the same in words.
        return;
      default:
        // Classic output: printed above the view, which is drawn again below it.
        Clear();
        PrintClassic(e, out_, err_);
        force = true;
        break;
    }
    const absl::Time now = options_.now();
    if (force || now - last_draw_ >= absl::Milliseconds(100)) Draw(now, /*final=*/false);
  }

  void OnContext(const core::ContextStats& s) override {
    std::lock_guard<std::mutex> lock(mu_);
    context_ = absl::StrCat("Sending build context to dkd  ", HumanSize(s.tar_bytes));
    const absl::Time now = options_.now();
    if (now - last_draw_ >= absl::Milliseconds(100)) Draw(now, false);
  }
  void OnContextDone() override {
    std::lock_guard<std::mutex> lock(mu_);
    if (context_.empty()) return;
    if (order_.empty()) {
      // Nothing below it yet: the counter line stays, as docker leaves it.
      Draw(options_.now(), false);
      lines_drawn_ = 0;
      context_.clear();
      return;
    }
    context_.clear();
    Draw(options_.now(), false);
  }

  void Finish(const pb::BuildResult* result) override {
    std::lock_guard<std::mutex> lock(mu_);
    failed_ = result == nullptr;
    Draw(options_.now(), /*final=*/true);
    lines_drawn_ = 0;  // The final view stays.
    std::string tail;
    for (const Step* step : order_) {
      if (step->vertex.error().empty()) continue;
      absl::StrAppend(&tail, "------\n > ", step->vertex.name(), ":\n");
      for (const std::string& line : step->logs) absl::StrAppend(&tail, line, "\n");
      if (!step->partial.empty()) absl::StrAppend(&tail, step->partial, "\n");
      absl::StrAppend(&tail, "------\n");
    }
    err_ << tail << WarningsText(warnings_) << std::flush;
  }

 private:
  static constexpr size_t kTailLines = 6;    // Log lines shown under a running step.
  static constexpr size_t kErrorLines = 10;  // Log lines kept for a failed step's report.

  struct Step {
    pb::BuildVertex vertex;
    absl::Time seen_started = absl::InfinitePast();
    std::deque<std::string> logs;  // Last whole lines.
    std::string partial;
  };

  Step& StepFor(const std::string& digest) {
    auto it = steps_.find(digest);
    if (it == steps_.end()) {
      it = steps_.emplace(digest, std::make_unique<Step>()).first;
      it->second->vertex.set_digest(digest);
      order_.push_back(it->second.get());
    }
    return *it->second;
  }

  static void AppendLog(Step& step, absl::string_view data) {
    while (!data.empty()) {
      const size_t nl = data.find('\n');
      absl::string_view piece = data.substr(0, nl);
      step.partial.append(piece.data(), piece.size());
      if (nl == absl::string_view::npos) break;
      if (!step.partial.empty() && step.partial.back() == '\r') step.partial.pop_back();
      step.logs.push_back(std::move(step.partial));
      step.partial.clear();
      if (step.logs.size() > kErrorLines) step.logs.pop_front();
      data.remove_prefix(nl + 1);
    }
  }

  // "=> [2/3] RUN make" padded to the width, then the step's duration.
  std::string StepLine(const Step& step, absl::Time now) const {
    const pb::BuildVertex& v = step.vertex;
    std::string state;
    if (!v.error().empty()) {
      state = "ERROR ";
    } else if (v.cached()) {
      state = "CACHED ";
    }
    std::string duration;
    if (v.has_completed()) {
      const double took =
          v.has_started() ? absl::ToDoubleSeconds(ToTime(v.completed()) - ToTime(v.started())) : 0;
      duration = absl::StrFormat("%.1fs", took < 0 ? 0 : took);
    } else if (step.seen_started != absl::InfinitePast()) {
      duration = absl::StrFormat("%.1fs", absl::ToDoubleSeconds(now - step.seen_started));
    }
    const int width = options_.columns - 1;
    const int room = width - 1 - std::max<int>(static_cast<int>(duration.size()), 6);
    std::string left = FitLine(absl::StrCat(" => ", state, v.name()), room);
    int columns = 0;
    for (unsigned char c : left) columns += (c & 0xC0) != 0x80;
    if (columns + 1 + static_cast<int>(duration.size()) < width) {
      left.append(width - columns - duration.size(), ' ');
    } else {
      left += ' ';
    }
    return left + duration;
  }

  void Draw(absl::Time now, bool final) {
    std::vector<std::string> lines;
    if (!context_.empty() && !final) lines.push_back(FitLine(context_, options_.columns - 1));
    std::vector<std::string> step_lines;
    int done = 0;
    for (const Step* step : order_) {
      const pb::BuildVertex& v = step->vertex;
      if (v.has_completed()) ++done;
      if (!v.has_started() && !v.has_completed()) continue;
      step_lines.push_back(StepLine(*step, now));
      if (final || v.has_completed()) continue;
      size_t first = step->logs.size() > kTailLines ? step->logs.size() - kTailLines : 0;
      for (size_t i = first; i < step->logs.size(); ++i) {
        step_lines.push_back(
            FitLine(absl::StrCat(" => => # ", step->logs[i]), options_.columns - 1));
      }
    }
    if (order_.empty() && lines.empty()) return;  // A classic build: nothing to draw.
    std::string header =
        absl::StrFormat("[+] Building %.1fs (%d/%d)", absl::ToDoubleSeconds(now - start_), done,
                        static_cast<int>(order_.size()));
    if (final) header += failed_ ? " ERROR" : " FINISHED";
    if (!order_.empty()) lines.push_back(header);
    // More lines than the terminal holds would scroll and break the redraw:
    // keep the latest ones.
    const size_t room = options_.rows > 3 ? static_cast<size_t>(options_.rows - 2) : 1;
    const size_t keep = room > lines.size() ? room - lines.size() : 0;
    if (!final && step_lines.size() > keep) {
      step_lines.erase(step_lines.begin(), step_lines.end() - keep);
    }
    lines.insert(lines.end(), step_lines.begin(), step_lines.end());
    std::string text;
    if (lines_drawn_ > 0) absl::StrAppend(&text, "\x1b[", lines_drawn_, "A\r");
    for (const std::string& line : lines) absl::StrAppend(&text, "\x1b[2K", line, "\n");
    absl::StrAppend(&text, "\x1b[J");
    err_ << text << std::flush;
    lines_drawn_ = lines.size();
    last_draw_ = now;
  }

  // Erases the view, so classic output can take its place.
  void Clear() {
    if (lines_drawn_ == 0) return;
    err_ << "\x1b[" << lines_drawn_ << "A\r\x1b[J" << std::flush;
    lines_drawn_ = 0;
  }

  std::ostream& out_;
  std::ostream& err_;
  const Options options_;
  const absl::Time start_;
  std::mutex mu_;
  std::map<std::string, std::unique_ptr<Step>> steps_;
  std::vector<const Step*> order_;  // First-seen order.
  std::vector<pb::BuildWarning> warnings_;
  std::string context_;
  size_t lines_drawn_ = 0;
  absl::Time last_draw_ = absl::InfinitePast();
  bool failed_ = false;
};

}  // namespace

std::unique_ptr<BuildOutput> BuildOutput::Create(ProgressMode mode, std::ostream& out,
                                                 std::ostream& err, Options options) {
  switch (mode) {
    case ProgressMode::kQuiet:
      return std::make_unique<QuietOutput>(out);
    case ProgressMode::kRawJson:
      return std::make_unique<RawJsonOutput>(out);
    case ProgressMode::kTty:
      return std::make_unique<TtyOutput>(out, err, std::move(options));
    case ProgressMode::kAuto:
    case ProgressMode::kPlain:
      break;
  }
  return std::make_unique<PlainOutput>(out, err, std::move(options));
}

}  // namespace dkd::client
