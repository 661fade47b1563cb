// PlainBuildProgress (build_progress.h): numbering, switching and formatting.
#include "client/build_progress.h"

#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace dkd::client {
namespace {

absl::Time ToTime(const google::protobuf::Timestamp& t) {
  return absl::FromUnixSeconds(t.seconds()) + absl::Nanoseconds(t.nanos());
}

// Seconds from a step's start to `t`, with docker's precision: 3 digits
// under 10 s, 2 under 100 s, else 1.
std::string LogOffset(const dkd::v1::BuildVertex& v, const google::protobuf::Timestamp& t) {
  const double sec = v.has_started() ? absl::ToDoubleSeconds(ToTime(t) - ToTime(v.started())) : 0;
  const int precision = sec < 10 ? 3 : sec < 100 ? 2 : 1;
  return absl::StrFormat("%.*f", precision, sec);
}

bool EndsWith(const std::string& s, absl::string_view suffix) {
  return s.size() >= suffix.size() &&
         absl::string_view(s).substr(s.size() - suffix.size()) == suffix;
}

std::string StatusLine(int index, const dkd::v1::BuildVertexStatus& s) {
  std::string figures;
  if (s.total() != 0) {
    figures = absl::StrCat(" ", FormatBuildBytes(s.current()), " / ", FormatBuildBytes(s.total()));
  } else if (s.current() != 0) {
    figures = absl::StrCat(" ", FormatBuildBytes(s.current()));
  }
  std::string tm;
  if (s.has_started()) {
    const absl::Time end = s.has_completed() ? ToTime(s.completed()) : ToTime(s.timestamp());
    const double diff = absl::ToDoubleSeconds(end - ToTime(s.started()));
    if (diff > 0.01) tm = absl::StrFormat(" %.1fs", diff);
  }
  if (s.has_completed()) tm += " done";
  return absl::StrCat("#", index, " ", s.id(), figures, tm, "\n");
}

}  // namespace

std::string FormatBuildBytes(int64_t bytes) {
  if (bytes < 1000) return absl::StrCat(bytes, "B");
  static constexpr const char* kUnits[] = {"kB", "MB", "GB", "TB", "PB", "EB"};
  double value = static_cast<double>(bytes) / 1000;
  size_t unit = 0;
  while (value >= 1000 && unit + 1 < sizeof(kUnits) / sizeof(kUnits[0])) {
    value /= 1000;
    ++unit;
  }
  return absl::StrFormat("%.2f%s", value, kUnits[unit]);
}

PlainBuildProgress::Step& PlainBuildProgress::StepFor(const std::string& digest) {
  auto [it, inserted] = steps_.try_emplace(digest);
  if (inserted) {
    it->second.index = next_index_++;
    it->second.vertex.set_digest(digest);
  }
  return it->second;
}

int PlainBuildProgress::IndexOf(const std::string& digest) const {
  auto it = steps_.find(digest);
  return it == steps_.end() ? 0 : it->second.index;
}

void PlainBuildProgress::Print(Step& step, const std::string& status_line, std::string& out) {
  const std::string& digest = step.vertex.digest();
  if (step.vertex.name().empty() && !step.vertex.has_completed()) {
    // Output of a step whose vertex has not arrived yet: wait for its name.
    step.held += status_line;
    return;
  }
  if (digest != current_) {
    if (!current_.empty()) {
      auto old = steps_.find(current_);
      if (old != steps_.end() && !old->second.finished_printed) {
        absl::StrAppend(&out, "#", old->second.index, " ...\n");
      }
    }
    absl::StrAppend(&out, "\n#", step.index, " ", step.vertex.name(), "\n#", step.index, " ",
                    digest, "\n");
  }
  out += step.held;
  step.held.clear();
  out += status_line;
  for (const std::string& line : step.lines) absl::StrAppend(&out, line, "\n");
  step.lines.clear();
  current_ = digest;
  const dkd::v1::BuildVertex& v = step.vertex;
  if (v.has_completed() && !step.finished_printed) {
    if (!step.partial.empty()) {
      absl::StrAppend(&out, step.partial, "\n");
      step.partial.clear();
    }
    current_.clear();
    step.finished_printed = true;
    if (!v.error().empty()) {
      if (EndsWith(v.error(), "context canceled")) {
        absl::StrAppend(&out, "#", step.index, " CANCELED\n");
      } else {
        absl::StrAppend(&out, "#", step.index, " ERROR: ", v.error(), "\n");
      }
    } else if (v.cached()) {
      absl::StrAppend(&out, "#", step.index, " CACHED\n");
    } else {
      const double took =
          v.has_started() ? absl::ToDoubleSeconds(ToTime(v.completed()) - ToTime(v.started())) : 0;
      absl::StrAppend(&out, "#", step.index, " DONE ", absl::StrFormat("%.1f", took), "s\n");
    }
  }
}

std::string PlainBuildProgress::Render(const dkd::v1::BuildEvent& event) {
  std::string out;
  switch (event.event_case()) {
    case dkd::v1::BuildEvent::kVertex: {
      const dkd::v1::BuildVertex& v = event.vertex();
      Step& step = StepFor(v.digest());
      // A later message for a step says everything about it; keep the start
      // time of an earlier one if this one lacks it.
      std::optional<google::protobuf::Timestamp> started;
      if (step.vertex.has_started()) started = step.vertex.started();
      step.vertex = v;
      if (!step.vertex.has_started() && started) *step.vertex.mutable_started() = *started;
      // A step known only by name (not started, nothing to show) waits; a
      // finished one is printed once.
      if ((v.has_started() || v.has_completed()) && !step.finished_printed) Print(step, "", out);
      break;
    }
    case dkd::v1::BuildEvent::kVertexStatus: {
      Step& step = StepFor(event.vertex_status().vertex());
      Print(step, StatusLine(step.index, event.vertex_status()), out);
      break;
    }
    case dkd::v1::BuildEvent::kVertexLog: {
      const dkd::v1::BuildVertexLog& l = event.vertex_log();
      Step& step = StepFor(l.vertex());
      absl::string_view data = l.data();
      while (!data.empty()) {
        const size_t nl = data.find('\n');
        absl::string_view piece = data.substr(0, nl);
        if (step.partial.empty()) {
          step.partial =
              absl::StrCat("#", step.index, " ", LogOffset(step.vertex, l.timestamp()), " ");
        }
        step.partial.append(piece.data(), piece.size());
        if (nl == absl::string_view::npos) break;
        step.lines.push_back(std::move(step.partial));
        step.partial.clear();
        data.remove_prefix(nl + 1);
      }
      if (!step.lines.empty()) Print(step, "", out);
      break;
    }
    default:
      break;
  }
  return out;
}

std::string PlainBuildProgress::Flush() {
  std::string out;
  for (auto& [digest, step] : steps_) {
    if (!step.partial.empty()) {
      absl::StrAppend(&out, step.partial, "\n");
      step.partial.clear();
    }
  }
  return out;
}

}  // namespace dkd::client
