// BuildLeftovers (build_leftovers.h): the record of running builds' step
// containers, kept on disk, and their removal after an engine restart.
#include "core/docker/build_leftovers.h"

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "core/engine/http_docker_engine.h"
#include "nlohmann/json.hpp"
#include "spdlog/spdlog.h"

namespace dkd::core {
namespace {

// Most ids kept; beyond that the oldest pending ones are dropped.
constexpr size_t kMaxEntries = 4096;
// Sweeps that may find a pending container running before it is dropped:
// after an engine restart a genuine step container is never running.
constexpr int kMaxRunningChecks = 5;
// Clock tolerance between dkd and the engine when checking Created.
constexpr absl::Duration kSlack = absl::Seconds(5);

bool IsContainerId(absl::string_view s) {
  if (s.size() < 12 || s.size() > 64) return false;
  for (char c : s) {
    if (!absl::ascii_isdigit(static_cast<unsigned char>(c)) && (c < 'a' || c > 'f')) return false;
  }
  return true;
}

std::string IdAfter(absl::string_view line, std::initializer_list<absl::string_view> prefixes) {
  absl::string_view t = absl::StripAsciiWhitespace(line);
  for (absl::string_view prefix : prefixes) {
    absl::string_view rest = t;
    if (absl::ConsumePrefix(&rest, prefix) && IsContainerId(rest)) return std::string(rest);
  }
  return "";
}

double UnixSeconds(absl::Time t) { return absl::ToDoubleSeconds(t - absl::UnixEpoch()); }
absl::Time FromUnixSeconds(double s) { return absl::UnixEpoch() + absl::Seconds(s); }

}  // namespace

std::string StepContainerStarted(absl::string_view line) {
  return IdAfter(line, {"---> Running in "});
}

std::string StepContainerRemoved(absl::string_view line) {
  return IdAfter(line,
                 {"---> Removed intermediate container ", "Removing intermediate container "});
}

BuildLeftovers::BuildLeftovers(std::shared_ptr<DockerEngine> engine, std::string state_file)
    : engine_(std::move(engine)), state_file_(std::move(state_file)) {}

BuildLeftovers::BuildLeftovers(std::shared_ptr<EngineClient> engine, std::string state_file)
    : BuildLeftovers(std::make_shared<HttpDockerEngine>(std::move(engine)), std::move(state_file)) {
}

BuildLeftovers::~BuildLeftovers() = default;

std::shared_ptr<BuildLeftovers> BuildLeftovers::Open(std::shared_ptr<DockerEngine> engine,
                                                     const std::string& state_dir) {
  if (!state_dir.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(state_dir, ec);
  }
  auto out = std::make_shared<BuildLeftovers>(
      std::move(engine), state_dir.empty() ? "" : state_dir + "/build-steps.json");
  if (absl::Status s = out->Load(); !s.ok()) spdlog::warn("{}", std::string(s.message()));
  return out;
}

absl::Status BuildLeftovers::Load() {
  if (state_file_.empty()) return absl::OkStatus();
  std::ifstream in(state_file_);
  if (!in) return absl::OkStatus();
  std::stringstream ss;
  ss << in.rdbuf();
  auto doc = nlohmann::json::parse(ss.str(), nullptr, /*allow_exceptions=*/false);
  absl::MutexLock lock(&mu_);
  if (doc.is_discarded() || !doc.is_object() || !doc.contains("step_containers") ||
      !doc["step_containers"].is_array()) {
    spdlog::warn("{}: not a dkd build state file; ignoring it", state_file_);
    Persist();
    return absl::OkStatus();
  }
  for (const auto& e : doc["step_containers"]) {
    if (!e.is_object()) continue;
    const std::string id = e.value("id", "");
    if (!IsContainerId(id) || entries_.size() >= kMaxEntries) continue;
    Entry entry;
    entry.build_started = FromUnixSeconds(e.value("build_started", 0.0));
    entry.seen = FromUnixSeconds(e.value("seen", 0.0));
    entries_[id] = entry;  // build 0: pending, that process's builds are over.
  }
  if (!entries_.empty()) {
    spdlog::info(
        "{} step container(s) of builds interrupted before this start will be removed "
        "once the engine answers",
        entries_.size());
  }
  Persist();
  return absl::OkStatus();
}

BuildLeftovers::Build::~Build() {
  if (!ended_) End(absl::OkStatus());
}

void BuildLeftovers::Build::Observe(absl::string_view text) {
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    if (std::string id = StepContainerStarted(line); !id.empty()) {
      owner_->Saw(build_id_, id);
    } else if (std::string gone = StepContainerRemoved(line); !gone.empty()) {
      owner_->Removed(build_id_, gone);
    }
  }
}

void BuildLeftovers::Build::End(const absl::Status& status) {
  if (ended_) return;
  ended_ = true;
  owner_->Ended(build_id_, status.code() == absl::StatusCode::kUnavailable);
}

std::unique_ptr<BuildLeftovers::Build> BuildLeftovers::Begin() {
  absl::MutexLock lock(&mu_);
  const uint64_t id = next_build_++;
  builds_[id] = absl::Now();
  return std::unique_ptr<Build>(new Build(this, id));
}

void BuildLeftovers::Saw(uint64_t build, const std::string& id) {
  absl::MutexLock lock(&mu_);
  auto b = builds_.find(build);
  if (b == builds_.end() || entries_.count(id) != 0) return;
  if (entries_.size() >= kMaxEntries) {
    // Drop the oldest pending entry; never one of a running build.
    auto oldest = entries_.end();
    for (auto it = entries_.begin(); it != entries_.end(); ++it) {
      if (it->second.build == 0 &&
          (oldest == entries_.end() || it->second.seen < oldest->second.seen)) {
        oldest = it;
      }
    }
    if (oldest == entries_.end()) return;
    entries_.erase(oldest);
  }
  Entry e;
  e.build = build;
  e.build_started = b->second;
  e.seen = absl::Now();
  entries_[id] = e;
  Persist();
}

void BuildLeftovers::Removed(uint64_t build, const std::string& id) {
  absl::MutexLock lock(&mu_);
  auto it = entries_.find(id);
  if (it == entries_.end() || it->second.build != build) return;
  entries_.erase(it);
  Persist();
}

void BuildLeftovers::Ended(uint64_t build, bool keep) {
  absl::MutexLock lock(&mu_);
  builds_.erase(build);
  bool changed = false;
  for (auto it = entries_.begin(); it != entries_.end();) {
    if (it->second.build != build) {
      ++it;
      continue;
    }
    changed = true;
    if (keep) {
      spdlog::warn(
          "the engine connection broke under a build; its step container {} will be "
          "removed once the engine answers",
          it->first);
      it->second.build = 0;
      ++it;
    } else {
      it = entries_.erase(it);
    }
  }
  if (changed) Persist();
}

bool BuildLeftovers::HasPending() const {
  absl::MutexLock lock(&mu_);
  for (const auto& [id, e] : entries_) {
    if (e.build == 0) return true;
  }
  return false;
}

std::vector<std::string> BuildLeftovers::Pending() const {
  absl::MutexLock lock(&mu_);
  std::vector<std::string> out;
  for (const auto& [id, e] : entries_) {
    if (e.build == 0) out.push_back(id);
  }
  return out;
}

BuildLeftovers::SweepOutcome BuildLeftovers::SweepOne(const std::string& id, const Entry& entry) {
  auto info = engine_->InspectContainer(id);
  if (info.status().code() == absl::StatusCode::kNotFound) return SweepOutcome::kGone;
  if (!info.ok()) return SweepOutcome::kRetry;
  const std::string& full_id = info->id;
  if (full_id.rfind(id, 0) != 0) return SweepOutcome::kGone;  // Matched something else.
  if (info->state.has_value() &&
      (info->state->running || info->state->restarting || info->state->paused)) {
    return SweepOutcome::kRunning;
  }
  absl::Time created;
  std::string err;
  const bool created_ok = absl::ParseTime(absl::RFC3339_full, info->created, &created, &err);
  const bool from_image_id = absl::StartsWith(info->image, "sha256:");
  if (!created_ok || !from_image_id || created < entry.build_started - kSlack ||
      created > entry.seen + kSlack) {
    spdlog::warn(
        "not removing container {}: the build output named it as a step container, but "
        "it was not created by that build's step",
        id);
    return SweepOutcome::kGone;
  }
  absl::Status s = engine_->RemoveContainer(full_id, /*force=*/true, /*volumes=*/true);
  if (s.ok()) {
    spdlog::info("removed step container {} of a build the engine did not finish", full_id);
    return SweepOutcome::kRemoved;
  }
  if (s.code() == absl::StatusCode::kNotFound) return SweepOutcome::kGone;
  spdlog::warn("could not remove step container {} yet: {}", full_id, std::string(s.message()));
  return SweepOutcome::kRetry;
}

int BuildLeftovers::Sweep() {
  absl::MutexLock sweep_lock(&sweep_mu_);
  std::vector<std::pair<std::string, Entry>> todo;
  {
    absl::MutexLock lock(&mu_);
    for (const auto& [id, e] : entries_) {
      if (e.build == 0) todo.emplace_back(id, e);
    }
  }
  int removed_count = 0;
  std::vector<std::string> done;
  std::vector<std::string> still_running;
  for (const auto& [id, e] : todo) {
    switch (SweepOne(id, e)) {
      case SweepOutcome::kRemoved:
        ++removed_count;
        done.push_back(id);
        break;
      case SweepOutcome::kGone:
        done.push_back(id);
        break;
      case SweepOutcome::kRunning:
        still_running.push_back(id);
        break;
      case SweepOutcome::kRetry:
        break;
    }
  }
  absl::MutexLock lock(&mu_);
  for (const auto& id : done) entries_.erase(id);
  for (const auto& id : still_running) {
    auto it = entries_.find(id);
    if (it != entries_.end() && ++it->second.running_checks >= kMaxRunningChecks) {
      entries_.erase(it);
    }
  }
  if (!done.empty() || !still_running.empty()) Persist();
  return removed_count;
}

void BuildLeftovers::Persist() {
  if (state_file_.empty()) return;
  nlohmann::json list = nlohmann::json::array();
  for (const auto& [id, e] : entries_) {
    list.push_back({{"id", id},
                    {"build_started", UnixSeconds(e.build_started)},
                    {"seen", UnixSeconds(e.seen)}});
  }
  const std::string tmp = state_file_ + ".tmp";
  bool ok = false;
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << nlohmann::json{{"step_containers", list}}.dump() << "\n";
    ok = static_cast<bool>(out);
  }
  ok = ok && std::rename(tmp.c_str(), state_file_.c_str()) == 0;
  if (!ok && !persist_warned_) {
    persist_warned_ = true;
    spdlog::warn(
        "cannot write the build state file {}; step containers of builds interrupted "
        "by a dkd restart will not be removed",
        state_file_);
  }
}

}  // namespace dkd::core
