// PlainBuildProgress: renders a BuildKit build's events as
// `docker build --progress=plain` does ("#5 [2/3] RUN make",
// "#5 0.447 output", "#5 DONE 1.2s", "#4 CACHED", "#6 ERROR: ...").
//
// Steps are numbered in the order the build first mentions them. When output
// switches from an unfinished step to another, the unfinished one gets
// "#N ..." and the other its header again, as docker prints it. Partial log
// lines are held until their newline (or the step's end). Deterministic: it
// reads the events' own timestamps, never the wall clock. Not thread-safe:
// one per build.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/time/time.h"
#include "dkd/v1/docker_manager.pb.h"

namespace dkd::client {

class PlainBuildProgress {
 public:
  // The text to print for `event` (often empty: events of one engine message
  // come one by one; text appears when a step has something to show). Events
  // that are not BuildKit's (vertex, vertex_log, vertex_status) give "".
  std::string Render(const dkd::v1::BuildEvent& event);
  // Text still held (partial last log lines), for the end of the build.
  std::string Flush();

  // The number shown for the step with `digest` (0 if unknown).
  int IndexOf(const std::string& digest) const;

 private:
  struct Step {
    int index = 0;
    dkd::v1::BuildVertex vertex;
    std::vector<std::string> lines;  // Whole log lines not yet printed.
    std::string partial;             // A log line without its newline yet.
    std::string held;                // Status lines of a step not yet named.
    bool finished_printed = false;
  };
  Step& StepFor(const std::string& digest);
  // Prints what `step` has to show: its header when output switches to it,
  // `status_line` and log lines, and its end once completed.
  void Print(Step& step, const std::string& status_line, std::string& out);

  absl::flat_hash_map<std::string, Step> steps_;
  int next_index_ = 1;
  std::string current_;  // Digest of the step whose output was printed last.
};

// docker's byte figures in progress lines ("91B", "2.05kB", "1.50MB").
std::string FormatBuildBytes(int64_t bytes);

}  // namespace dkd::client
