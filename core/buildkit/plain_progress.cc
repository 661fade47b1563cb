// PlainProgress (plain_progress.h): step numbering, switching and formatting.
#include "core/buildkit/plain_progress.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace dkd::core::buildkit {

std::string FormatSeconds(double seconds, int precision) {
  return absl::StrFormat("%.*f", precision, seconds);
}

std::string FormatBytes(int64_t bytes) {
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

PlainProgress::Step& PlainProgress::StepFor(const std::string& digest) {
  auto [it, inserted] = steps_.try_emplace(digest);
  if (inserted) {
    it->second.index = next_index_++;
    it->second.vertex.digest = digest;
  }
  return it->second;
}

int PlainProgress::IndexOf(const std::string& digest) const {
  auto it = steps_.find(digest);
  return it == steps_.end() ? 0 : it->second.index;
}

namespace {

// Seconds from a step's start to `t`, with docker's precision: 3 digits
// under 10 s, 2 under 100 s, else 1.
std::string LogOffset(const Vertex& v, absl::Time t) {
  const double sec = v.started ? absl::ToDoubleSeconds(t - *v.started) : 0.0;
  const int precision = sec < 10 ? 3 : sec < 100 ? 2 : 1;
  return FormatSeconds(sec, precision);
}

bool EndsWith(const std::string& s, absl::string_view suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix.data(), suffix.size()) == 0;
}

}  // namespace

void PlainProgress::Print(Step& step, std::string& out) {
  const std::string& digest = step.vertex.digest;
  if (digest != current_) {
    if (!current_.empty()) {
      auto old = steps_.find(current_);
      if (old != steps_.end() && !old->second.finished_printed) {
        absl::StrAppend(&out, "#", old->second.index, " ...\n");
      }
    }
    absl::StrAppend(&out, "\n#", step.index, " ", step.vertex.name, "\n#", step.index, " ", digest,
                    "\n");
  }
  for (const std::string& id : step.changed_statuses) {
    const VertexStatus& s = step.statuses[id];
    std::string figures;
    if (s.total != 0) {
      figures = absl::StrCat(" ", FormatBytes(s.current), " / ", FormatBytes(s.total));
    } else if (s.current != 0) {
      figures = absl::StrCat(" ", FormatBytes(s.current));
    }
    std::string tm;
    if (s.started) {
      const absl::Time end = s.completed ? *s.completed : s.timestamp;
      const double diff = absl::ToDoubleSeconds(end - *s.started);
      if (diff > 0.01) tm = absl::StrCat(" ", FormatSeconds(diff, 1), "s");
    }
    if (s.completed) tm += " done";
    absl::StrAppend(&out, "#", step.index, " ", s.id, figures, tm, "\n");
  }
  step.changed_statuses.clear();
  for (const std::string& line : step.lines) absl::StrAppend(&out, line, "\n");
  step.lines.clear();
  current_ = digest;
  const Vertex& v = step.vertex;
  if (v.completed && !step.finished_printed) {
    if (!step.partial.empty()) {
      absl::StrAppend(&out, step.partial, "\n");
      step.partial.clear();
    }
    current_.clear();
    step.finished_printed = true;
    if (!v.error.empty()) {
      if (EndsWith(v.error, "context canceled")) {
        absl::StrAppend(&out, "#", step.index, " CANCELED\n");
      } else {
        absl::StrAppend(&out, "#", step.index, " ERROR: ", v.error, "\n");
      }
    } else if (v.cached) {
      absl::StrAppend(&out, "#", step.index, " CACHED\n");
    } else {
      const double took = v.started ? absl::ToDoubleSeconds(*v.completed - *v.started) : 0.0;
      absl::StrAppend(&out, "#", step.index, " DONE ", FormatSeconds(took, 1), "s\n");
    }
  }
}

std::string PlainProgress::Render(const SolveStatus& update) {
  std::vector<std::string> changed;
  auto touch = [&](const std::string& digest) {
    if (std::find(changed.begin(), changed.end(), digest) == changed.end()) {
      changed.push_back(digest);
    }
  };
  for (const Vertex& v : update.vertexes) {
    Step& step = StepFor(v.digest);
    // A later message for a step says everything about it; keep the start
    // time of an earlier one if this one lacks it.
    std::optional<absl::Time> started = step.vertex.started;
    step.vertex = v;
    if (!step.vertex.started) step.vertex.started = started;
    touch(v.digest);
  }
  for (const VertexStatus& s : update.statuses) {
    Step& step = StepFor(s.vertex);
    if (step.statuses.find(s.id) == step.statuses.end()) step.status_order.push_back(s.id);
    step.statuses[s.id] = s;
    if (std::find(step.changed_statuses.begin(), step.changed_statuses.end(), s.id) ==
        step.changed_statuses.end()) {
      step.changed_statuses.push_back(s.id);
    }
    touch(s.vertex);
  }
  for (const VertexLog& l : update.logs) {
    Step& step = StepFor(l.vertex);
    absl::string_view data = l.data;
    while (!data.empty()) {
      const size_t nl = data.find('\n');
      absl::string_view piece = data.substr(0, nl);
      if (step.partial.empty()) {
        step.partial = absl::StrCat("#", step.index, " ", LogOffset(step.vertex, l.timestamp), " ");
      }
      step.partial.append(piece.data(), piece.size());
      if (nl == absl::string_view::npos) break;
      step.lines.push_back(std::move(step.partial));
      step.partial.clear();
      data.remove_prefix(nl + 1);
    }
    touch(l.vertex);
  }

  std::string out;
  // Steps that completed in this update first (by completion time), the
  // current one before the others, then the rest in the update's order.
  std::vector<std::string> completed;
  std::vector<std::string> rest;
  for (const std::string& d : changed) {
    const Step& s = steps_[d];
    (s.vertex.completed && !s.finished_printed ? completed : rest).push_back(d);
  }
  std::stable_sort(completed.begin(), completed.end(), [&](const auto& a, const auto& b) {
    const Vertex& va = steps_[a].vertex;
    const Vertex& vb = steps_[b].vertex;
    if ((a == current_) != (b == current_)) return a == current_;
    return *va.completed < *vb.completed;
  });
  for (const std::string& d : completed) Print(steps_[d], out);
  std::stable_partition(rest.begin(), rest.end(), [&](const auto& d) { return d == current_; });
  for (const std::string& d : rest) {
    Step& s = steps_[d];
    // A step known only by name (not started, nothing to show) waits.
    const bool has_output = !s.changed_statuses.empty() || !s.lines.empty();
    if (s.finished_printed && !has_output) continue;
    if (!s.vertex.started && !has_output) continue;
    Print(s, out);
  }
  return out;
}

std::string PlainProgress::Flush() {
  std::string out;
  for (auto& [digest, step] : steps_) {
    if (!step.partial.empty()) {
      absl::StrAppend(&out, step.partial, "\n");
      step.partial.clear();
    }
  }
  return out;
}

}  // namespace dkd::core::buildkit
